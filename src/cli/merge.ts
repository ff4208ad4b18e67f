// lco merge: fold LoRA adapters into their base model and write a full model
// folder (config.json, model.safetensors, the base's tokenizer files). Runs on
// the CPU in float64, one weight at a time; no GPU. Several adapters combine
// by `linear` (weighted sum of task vectors, default the mean) or `ties`
// (TIES-Merging); src/model/merge.ts states the math. Exit codes: 0 done,
// 1 a missing or mismatched file or a failure while writing (nothing is left
// at --out), 2 a usage error.
//
// --adapter repeats, which parseArgs does not keep (a repeated flag keeps its
// last value), so every --adapter is taken out of the arguments first.
import { formatHelp, parseArgs, UsageError, type FlagSpecs } from './args.ts';
import { MERGE_DTYPES, MERGE_METHODS, MergeError, resolveMergeOptions, writeMergedModel, type MergeDType, type MergeMethod } from '../model/merge.ts';

const FLAGS = {
  model: { type: 'string', required: true, value: 'DIR', help: 'base model folder: config.json, model.safetensors (or shards), tokenizer.json' },
  adapter: { type: 'string', value: 'DIR', help: 'a PEFT LoRA adapter folder for this base; repeat for several (at least one)' },
  out: { type: 'string', required: true, value: 'DIR', help: 'the model folder to write; must not exist or be empty' },
  weights: { type: 'string', value: 'W1,W2,..', help: 'one weight per adapter, in --adapter order (default 1/n each)' },
  method: { type: 'string', default: 'linear', value: 'linear|ties', help: 'linear: W + sum_i w_i s_i B_i A_i; ties: TIES-Merging of the task vectors' },
  density: { type: 'number', value: 'D', help: 'ties: fraction of each task vector kept by magnitude, in (0, 1] (default 0.2)' },
  dtype: { type: 'string', value: 'F32|BF16|F16', help: "stored dtype of the output (default: each tensor keeps the base's)" },
} as const satisfies FlagSpecs;

const HELP = formatHelp(
  `usage: lco merge --model BASE --adapter DIR [--adapter DIR ...] --out DIR [options]

Folds LoRA adapters into BASE and writes a full model folder at --out:
config.json, model.safetensors and BASE's tokenizer files. Each adapted
linear becomes W + sum_i w_i s_i B_i A_i (s_i = alpha/r, rsLoRA alpha/sqrt(r));
with --method ties each adapter's task vector s_i B_i A_i is trimmed to its
top --density by magnitude, a sign is elected per entry, and only the agreeing
entries are averaged. Computed on the CPU in float64, one weight at a time.
The output is always a full model: no adapter is written (a combined or
trimmed delta is not low-rank). Written into a temporary folder and renamed,
so a failure leaves nothing at --out.`,
  FLAGS,
);

/** Takes every `--adapter DIR` / `--adapter=DIR` out of argv (up to `--`). */
export function takeAdapters(argv: readonly string[]): { adapters: string[]; rest: string[] } {
  const adapters: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg === '--adapter') {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError('--adapter needs a value (DIR)');
      adapters.push(next);
      i++;
    } else if (arg.startsWith('--adapter=')) {
      const v = arg.slice('--adapter='.length);
      if (v === '') throw new UsageError('--adapter needs a value (DIR)');
      adapters.push(v);
    } else {
      rest.push(arg);
    }
  }
  return { adapters, rest };
}

/** "0.5,0.5" -> [0.5, 0.5]. */
function parseWeights(text: string): number[] {
  return text.split(',').map((part, i) => {
    const v = part.trim() === '' ? NaN : Number(part);
    if (!Number.isFinite(v)) throw new UsageError(`--weights: entry ${i + 1} "${part}" is not a number (expected W1,W2,..)`);
    return v;
  });
}

export async function run(args: string[]): Promise<number> {
  const err = (s: string) => process.stderr.write(`${s}\n`);
  let job;
  try {
    const { adapters, rest } = takeAdapters(args);
    const parsed = parseArgs(FLAGS, rest);
    if (parsed.positional.length > 0) throw new UsageError(`unexpected argument "${parsed.positional[0]}"`);
    if (parsed.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const f = parsed.flags;
    if (adapters.length === 0) throw new UsageError('--adapter is required (repeat it to merge several)');
    if (!(MERGE_METHODS as readonly string[]).includes(f.method)) throw new UsageError(`--method must be one of ${MERGE_METHODS.join(', ')}, got "${f.method}"`);
    if (f.dtype !== undefined && !(MERGE_DTYPES as readonly string[]).includes(f.dtype)) throw new UsageError(`--dtype must be one of ${MERGE_DTYPES.join(', ')}, got "${f.dtype}"`);
    const options = { weights: f.weights === undefined ? undefined : parseWeights(f.weights), method: f.method as MergeMethod, density: f.density };
    try {
      resolveMergeOptions(adapters.length, options);
    } catch (e) {
      if (e instanceof MergeError) throw new UsageError(e.message);
      throw e;
    }
    job = { model: f.model, out: f.out, adapters, options: { ...options, dtype: f.dtype as MergeDType | undefined } };
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`lco merge: ${e.message}\n\n${HELP}`);
    return 2;
  }

  const t0 = performance.now();
  try {
    const s = await writeMergedModel(job.model, job.adapters, job.out, job.options);
    const seconds = (performance.now() - t0) / 1000;
    const o = s.options;
    const how = `${o.method}${o.density !== null ? `, density ${o.density}` : ''}, weights ${o.weights.map((w) => +w.toPrecision(6)).join(',')}`;
    err(`lco merge: ${job.adapters.length} adapter${job.adapters.length === 1 ? '' : 's'} (${how}) into ${s.adapted} of ${s.tensors} tensors; wrote ${job.out} (${s.files.join(', ')}; ${(s.bytes / 1e6).toFixed(2)} MB${job.options.dtype ? `, ${job.options.dtype}` : ''}) in ${seconds.toFixed(2)} s`);
    return 0;
  } catch (e) {
    err(`lco merge: ${(e as Error).message}`);
    return 1;
  }
}
