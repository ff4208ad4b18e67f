// Folding LoRA adapters into their base model, and combining several of them
// (model merging): the CPU side of `lco merge`. No GPU: float64 on the CPU,
// one adapted weight at a time. Base weights are read through WeightFolder and
// the output file is streamed tensor by tensor, so memory holds one base
// tensor, its adapters' deltas and the result, never a second model.
//
// Fold: adapter i on a linear with base weight W [out, in]:
//   delta_i = s_i * B_i A_i     [out, in];  A_i [r_i, in], B_i [out, r_i]
//   s_i = alpha_i / r_i         (rsLoRA: alpha_i / sqrt(r_i))
// Adapters may differ in rank and targets; an adapter that does not adapt a
// linear contributes delta_i = 0 to it (and still counts in sum_i w_i below).
//
// Combine n adapters with weights w_1..w_n (default 1/n each), per adapted
// matrix, elementwise (j is a flat index into [out, in]):
//   linear  W'[j] = W[j] + sum_i w_i delta_i[j]
//           default weights: the mean task vector; 1,1,..: their sum (task
//           arithmetic); a negative weight subtracts an adapter.
//   ties    TIES-Merging (Yadav et al. 2023). Weights must be > 0.
//           1. trim:  tau_i = delta_i with all but its k largest |entries| set
//                     to 0, k = max(1, round(density * out * in)); entries tied
//                     at the k-th magnitude are kept lowest flat index first,
//                     so exactly k survive.
//           2. elect: gamma[j] = sgn(sum_i w_i tau_i[j])
//           3. disjoint mean over the agreeing adapters
//                     S_j = { i : tau_i[j] != 0 and sgn(tau_i[j]) = gamma[j] }
//                     m[j] = sum_{i in S_j} w_i tau_i[j] / sum_{i in S_j} w_i,
//                     m[j] = 0 when S_j is empty (gamma[j] = 0 included)
//           W'[j] = W[j] + (sum_i w_i) * m[j]
//           With the default equal weights (sum 1) m is the paper's disjoint
//           mean and lambda = 1; unequal weights tilt the mean, and their sum
//           plays the paper's lambda. One adapter at density 1 is the fold.
//
// Rounding: W' is formed in float64 and rounded once to float32; a BF16 / F16
// output then rounds that float32 (fromFloat32, nearest-even), a double
// rounding that can differ from a direct float64 rounding by one unit in the
// last place on rare near-ties.
import { FLOAT_DTYPES, fromFloat32, DTYPE_BYTES, type StorageDType } from '../io/dtypes.ts';
import { SafetensorsFile } from '../io/safetensors.ts';
import { SINGLE_FILE, WeightFolder } from '../io/weights.ts';
import { loraScale } from '../ops/lora.ts';
import { parseConfig, type DecoderConfig } from './config.ts';
import {
  ADAPTER_WEIGHTS, AdapterError, LORA_TARGETS, PEFT_PREFIX, readAdapterConfig, targetShape, type LoraConfig, type LoraTarget,
} from './lora.ts';
import { modulePath } from '../../reference/decoder.ts';

export class MergeError extends Error {
  override name = 'MergeError';
}

export const MERGE_METHODS = ['linear', 'ties'] as const;
export type MergeMethod = (typeof MERGE_METHODS)[number];
/** The stored dtypes `--dtype` may ask for. */
export const MERGE_DTYPES = ['F32', 'BF16', 'F16'] as const;
export type MergeDType = (typeof MERGE_DTYPES)[number];
export const DEFAULT_DENSITY = 0.2;

export interface MergeOptions {
  /** One per adapter, in order; default 1/n each. */
  weights?: readonly number[];
  /** Default 'linear'. */
  method?: MergeMethod;
  /** ties only: fraction of each task vector kept, in (0, 1]; default 0.2. */
  density?: number;
}

export interface ResolvedMergeOptions {
  weights: number[];
  method: MergeMethod;
  /** null for linear. */
  density: number | null;
}

/** Fills in the defaults for n adapters and checks every option; throws MergeError. */
export function resolveMergeOptions(n: number, opts: MergeOptions = {}): ResolvedMergeOptions {
  if (!Number.isSafeInteger(n) || n < 1) throw new MergeError(`merge needs at least one adapter, got ${n}`);
  const method = opts.method ?? 'linear';
  if (!MERGE_METHODS.includes(method)) throw new MergeError(`method "${method}" is not one of ${MERGE_METHODS.join(', ')}`);
  const weights = opts.weights ? [...opts.weights] : new Array<number>(n).fill(1 / n);
  if (weights.length !== n) throw new MergeError(`${weights.length} weight${weights.length === 1 ? '' : 's'} given for ${n} adapter${n === 1 ? '' : 's'} (one per adapter, in order)`);
  weights.forEach((w, i) => {
    if (!Number.isFinite(w)) throw new MergeError(`weight ${i + 1} is ${w}; weights must be finite numbers`);
    if (method === 'ties' && w <= 0) throw new MergeError(`weight ${i + 1} is ${w}; ties needs positive weights (they weight a mean)`);
  });
  if (method === 'linear') {
    if (opts.density !== undefined) throw new MergeError('density applies to method ties only');
    return { weights, method, density: null };
  }
  const density = opts.density ?? DEFAULT_DENSITY;
  if (!Number.isFinite(density) || density <= 0 || density > 1) throw new MergeError(`density ${density} must be in (0, 1]`);
  return { weights, method, density };
}

// ------------------------------------------------------------ the math

/**
 * out[o, i] += coeff * sum_k B[o, k] A[k, i], in float64.
 * A [r, inF], B [outF, r], out [outF, inF] (row-major, flat).
 */
export function addLoraDelta(out: Float64Array, A: ArrayLike<number>, B: ArrayLike<number>, r: number, outF: number, inF: number, coeff: number): void {
  if (A.length !== r * inF || B.length !== outF * r || out.length !== outF * inF) {
    throw new MergeError(`addLoraDelta: A has ${A.length} values (expected r*in = ${r * inF}), B ${B.length} (out*r = ${outF * r}), out ${out.length} (out*in = ${outF * inF})`);
  }
  for (let o = 0; o < outF; o++) {
    const row = o * inF;
    for (let k = 0; k < r; k++) {
      // Row o of the delta gains (coeff B[o, k]) times row k of A: the inner loop runs contiguously.
      const b = coeff * B[o * r + k];
      const a = k * inF;
      for (let i = 0; i < inF; i++) out[row + i] += b * A[a + i];
    }
  }
}

/** How many entries TIES keeps: max(1, round(density * n)), at most n. */
export function keptCount(n: number, density: number): number {
  return Math.min(n, Math.max(1, Math.round(density * n)));
}

/**
 * The k-th largest value of `a` (1 <= k <= a.length). Reorders `a`.
 * Hoare-partition selection (Wirth): expected O(n), no sort of the whole array.
 */
export function kthLargest(a: Float64Array, k: number): number {
  const n = a.length;
  if (!Number.isSafeInteger(k) || k < 1 || k > n) throw new MergeError(`kthLargest: k = ${k} is outside [1, ${n}]`);
  const target = n - k; // index of the answer in ascending order
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (pivot < a[j]) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    // Now a[lo..j] <= pivot <= a[i..hi], and everything between equals pivot.
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target];
  }
  return a[target];
}

/**
 * TIES step 1, in place: keeps the k = keptCount(n, density) entries of
 * largest magnitude and zeroes the rest; entries tied at the k-th magnitude
 * are kept lowest index first. Values must be finite.
 */
export function trimToDensity(x: Float64Array, density: number): void {
  const n = x.length;
  const k = keptCount(n, density);
  if (k === n) return;
  const mag = new Float64Array(n);
  for (let j = 0; j < n; j++) mag[j] = Math.abs(x[j]);
  const t = kthLargest(mag, k);
  let above = 0;
  for (let j = 0; j < n; j++) if (Math.abs(x[j]) > t) above++;
  let ties = k - above; // entries equal to t still to keep
  for (let j = 0; j < n; j++) {
    const m = Math.abs(x[j]);
    if (m > t) continue;
    if (m === t && ties > 0) ties--;
    else x[j] = 0;
  }
}

/**
 * The combined delta sum_i w_i delta_i. deltas[i] is null where adapter i
 * does not adapt this matrix (a zero task vector).
 */
export function combineLinear(deltas: readonly (Float64Array | null)[], weights: readonly number[], n: number): Float64Array {
  const out = new Float64Array(n);
  deltas.forEach((d, i) => {
    if (!d) return;
    const w = weights[i];
    for (let j = 0; j < n; j++) out[j] += w * d[j];
  });
  return out;
}

/**
 * The TIES combined delta (sum_i w_i) * m (header, steps 1-3). Trims the
 * given deltas in place; null is a zero task vector. Weights must be > 0.
 */
export function combineTies(deltas: readonly (Float64Array | null)[], weights: readonly number[], density: number, n: number): Float64Array {
  const present = deltas.flatMap((d, i) => (d ? [{ d, w: weights[i] }] : []));
  for (const { d } of present) trimToDensity(d, density);
  const total = weights.reduce((a, b) => a + b, 0);
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let sum = 0;
    for (const { d, w } of present) sum += w * d[j];
    if (sum === 0) continue; // no elected sign: nothing agrees
    let num = 0;
    let den = 0;
    for (const { d, w } of present) {
      const v = d[j];
      if (v !== 0 && (v > 0) === (sum > 0)) {
        num += w * v;
        den += w;
      }
    }
    out[j] = (total * num) / den;
  }
  return out;
}

// ------------------------------------------------------------ adapters on the CPU

/** One adapter folder as the merge sees it. */
export interface AdapterInfo {
  dir: string;
  config: LoraConfig;
  /** s = alpha / r (rsLoRA: alpha / sqrt(r)). */
  scale: number;
  /** The raw adapter_config.json (for the output's metadata). */
  raw: Record<string, unknown>;
}

interface OpenAdapter extends AdapterInfo {
  file: SafetensorsFile;
}

/**
 * Opens an adapter and checks its tensors against the base config: every
 * layer's A [r, in] and B [out, r] for each target, no other tensors, float
 * dtypes. Errors name the tensor and the expected shape.
 */
async function openAdapter(dir: string, cfg: DecoderConfig, baseDir: string): Promise<OpenAdapter> {
  const { join } = await import('node:path');
  const { config, raw } = await readAdapterConfig(dir);
  const file = await SafetensorsFile.open(join(dir, ADAPTER_WEIGHTS));
  try {
    const expected = new Map<string, number[]>();
    for (let l = 0; l < cfg.layers; l++) {
      for (const t of config.targets) {
        const [out, inF] = targetShape(cfg, t);
        expected.set(`${PEFT_PREFIX}${modulePath(l, t)}.lora_A.weight`, [config.r, inF]);
        expected.set(`${PEFT_PREFIX}${modulePath(l, t)}.lora_B.weight`, [out, config.r]);
      }
    }
    for (const name of file.names()) {
      if (!expected.has(name)) {
        throw new AdapterError(`${file.path}: tensor "${name}" matches no adapted linear of ${baseDir} (${cfg.layers} layers; target_modules ${config.targets.join(', ')}): an adapter for another model?`);
      }
    }
    for (const [name, shape] of expected) {
      if (!file.header.tensors.has(name)) {
        throw new AdapterError(`${file.path}: tensor "${name}" is missing (target_modules lists it and ${baseDir} has ${cfg.layers} layers)`);
      }
      const e = file.entry(name);
      if (e.shape.length !== 2 || e.shape[0] !== shape[0] || e.shape[1] !== shape[1]) {
        throw new AdapterError(`${file.path}: tensor "${name}" has shape [${e.shape.join(', ')}], expected [${shape.join(', ')}] (r ${config.r}, from ${join(baseDir, 'config.json')}): an adapter for another model?`);
      }
      if (!FLOAT_DTYPES.includes(e.dtype)) throw new AdapterError(`${file.path}: tensor "${name}" is ${e.dtype}, expected a float dtype`);
    }
  } catch (err) {
    await file.close();
    throw err;
  }
  return { dir, config, raw, scale: loraScale(config.alpha, config.r, config.rslora), file };
}

/** One adapter tensor as float32, refusing NaN / Inf (they would poison the merged weight). */
async function readFinite(file: SafetensorsFile, name: string): Promise<Float32Array> {
  const x = await file.float32(name);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new AdapterError(`${file.path}: tensor "${name}" element ${i} is ${x[i]}; adapter weights must be finite`);
  }
  return x;
}

// ------------------------------------------------------------ the plan

export interface AdaptedTensor {
  /** The base weight's HF name, e.g. model.layers.0.self_attn.q_proj.weight. */
  name: string;
  /** [out, in]. */
  shape: [number, number];
  layer: number;
  target: LoraTarget;
}

/** The checked inputs of a merge; deltas are computed on request, one matrix at a time. */
export interface MergePlan {
  config: DecoderConfig;
  options: ResolvedMergeOptions;
  adapters: AdapterInfo[];
  /** The base weights (open until close()). */
  base: WeightFolder;
  /** Every base weight some adapter adapts, in model order. */
  tensors: AdaptedTensor[];
  /** The combined delta [out * in] (float64) to add to one adapted weight. */
  delta(name: string): Promise<Float64Array>;
  close(): Promise<void>;
}

/**
 * Opens BASE and the adapters and checks everything that can be checked
 * before any output: options, configs, every adapter tensor's name and shape,
 * and the base weights' shapes. The per-tensor deltas come from plan.delta.
 */
export async function mergeAdapters(baseDir: string, adapterDirs: readonly string[], opts: MergeOptions = {}): Promise<MergePlan> {
  const { join } = await import('node:path');
  const options = resolveMergeOptions(adapterDirs.length, opts);
  const { readFile } = await import('node:fs/promises');
  const configPath = join(baseDir, 'config.json');
  let configText: string;
  try {
    configText = await readFile(configPath, 'utf8');
  } catch (err) {
    throw new MergeError(`${configPath}: cannot read (${(err as Error).message})`);
  }
  const config = parseConfig(configText, configPath);

  const base = await WeightFolder.open(baseDir);
  const adapters: OpenAdapter[] = [];
  const closeAll = () => Promise.all([base.close(), ...adapters.map((a) => a.file.close())]).then(() => undefined);
  const tensors: AdaptedTensor[] = [];
  try {
    for (const dir of adapterDirs) adapters.push(await openAdapter(dir, config, baseDir));
    for (let l = 0; l < config.layers; l++) {
      for (const t of LORA_TARGETS) {
        if (!adapters.some((a) => a.config.targets.includes(t))) continue;
        const name = `${modulePath(l, t)}.weight`;
        const shape = targetShape(config, t);
        const e = base.entry(name);
        if (e.shape.length !== 2 || e.shape[0] !== shape[0] || e.shape[1] !== shape[1]) {
          throw new MergeError(`${baseDir}: tensor "${name}" has shape [${e.shape.join(', ')}], expected [${shape.join(', ')}] from config.json`);
        }
        tensors.push({ name, shape, layer: l, target: t });
      }
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));

  const delta = async (name: string): Promise<Float64Array> => {
    const t = byName.get(name);
    if (!t) throw new MergeError(`${baseDir}: no adapter adapts "${name}"`);
    const [outF, inF] = t.shape;
    const n = outF * inF;
    const prefix = `${PEFT_PREFIX}${modulePath(t.layer, t.target)}`;
    const one = async (a: OpenAdapter, coeff: number, into: Float64Array) => {
      const A = await readFinite(a.file, `${prefix}.lora_A.weight`);
      const B = await readFinite(a.file, `${prefix}.lora_B.weight`);
      addLoraDelta(into, A, B, a.config.r, outF, inF, coeff);
    };
    if (options.method === 'linear') {
      // sum_i w_i s_i B_i A_i, accumulated in place: one [out, in] buffer.
      const out = new Float64Array(n);
      for (let i = 0; i < adapters.length; i++) {
        const a = adapters[i];
        if (a.config.targets.includes(t.target)) await one(a, options.weights[i] * a.scale, out);
      }
      return out;
    }
    const deltas: (Float64Array | null)[] = [];
    for (const a of adapters) {
      if (!a.config.targets.includes(t.target)) {
        deltas.push(null);
        continue;
      }
      const d = new Float64Array(n);
      await one(a, a.scale, d);
      deltas.push(d);
    }
    return combineTies(deltas, options.weights, options.density!, n);
  };

  return {
    config,
    options,
    adapters: adapters.map(({ dir, config: c, scale, raw }) => ({ dir, config: c, scale, raw })),
    base,
    tensors,
    delta,
    close: closeAll,
  };
}

// ------------------------------------------------------------ the output folder

/** Side files of BASE copied into the output when present. */
export const COPIED_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'vocab.json', 'merges.txt'];

const TORCH_DTYPE: Record<MergeDType, string> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };

export interface WriteMergedOptions extends MergeOptions {
  /** Stored dtype of every output tensor; default each tensor keeps the base's (F64 becomes F32). */
  dtype?: MergeDType;
}

export interface MergeSummary {
  options: ResolvedMergeOptions;
  /** Tensors written, and how many of them carry a delta. */
  tensors: number;
  adapted: number;
  /** Size of the written model.safetensors. */
  bytes: number;
  /** The files written into the output folder. */
  files: string[];
}

/**
 * Writes a full model folder at outDir: model.safetensors (every base tensor,
 * adapted ones as W + delta), config.json (the base's; torch_dtype updated
 * when dtype is given) and the COPIED_FILES BASE has. Atomic: everything goes
 * into a temporary sibling folder that is renamed to outDir at the end; on
 * any failure the temporary folder is removed and outDir is untouched.
 * outDir must not exist or be an empty folder; its parents are created.
 */
export async function writeMergedModel(baseDir: string, adapterDirs: readonly string[], outDir: string, opts: WriteMergedOptions = {}): Promise<MergeSummary> {
  const { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } = await import('node:fs/promises');
  const { basename, dirname, join } = await import('node:path');
  if (opts.dtype !== undefined && !MERGE_DTYPES.includes(opts.dtype)) throw new MergeError(`dtype "${opts.dtype}" is not one of ${MERGE_DTYPES.join(', ')}`);
  const occupied = async (): Promise<string | null> => {
    try {
      const s = await stat(outDir);
      if (!s.isDirectory()) return 'exists and is not a folder';
      return (await readdir(outDir)).length > 0 ? 'exists and is not empty' : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  };
  const why = await occupied();
  if (why) throw new MergeError(`${outDir} ${why}; merge writes a new model folder`);

  const plan = await mergeAdapters(baseDir, adapterDirs, opts);
  const tmp = join(dirname(outDir), `.${basename(outDir)}.tmp-${process.pid}-${Date.now()}`);
  try {
    // Every output tensor's dtype, checked before anything is written.
    const adapted = new Set(plan.tensors.map((t) => t.name));
    const names = plan.base.names().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const entries = names.map((name) => {
      const e = plan.base.entry(name);
      if (!FLOAT_DTYPES.includes(e.dtype)) throw new MergeError(`${baseDir}: tensor "${name}" is ${e.dtype}; merge writes float tensors only`);
      const dtype: MergeDType = opts.dtype ?? (e.dtype === 'F64' ? 'F32' : (e.dtype as MergeDType));
      return { name, shape: e.shape, dtype };
    });

    await mkdir(tmp, { recursive: true });
    const metadata = {
      format: 'pt',
      lco_merge: JSON.stringify({
        method: plan.options.method,
        weights: plan.options.weights,
        ...(plan.options.density !== null ? { density: plan.options.density } : {}),
        adapters: plan.adapters.map((a) => ({
          r: a.config.r, lora_alpha: a.config.alpha, use_rslora: a.config.rslora, target_modules: a.config.targets,
          base_model_name_or_path: a.raw.base_model_name_or_path ?? null,
        })),
      }),
    };
    const bytes = await writeSafetensorsStreaming(join(tmp, SINGLE_FILE), entries, metadata, async ({ name, dtype }) => {
      const W = await plan.base.float32(name);
      if (!adapted.has(name)) return fromFloat32(dtype, W);
      const d = await plan.delta(name);
      const merged = new Float32Array(W.length);
      for (let j = 0; j < W.length; j++) merged[j] = W[j] + d[j]; // float64 sum, one rounding to float32
      return fromFloat32(dtype, merged);
    });

    const files = [SINGLE_FILE, 'config.json'];
    const configText = await readFile(join(baseDir, 'config.json'), 'utf8');
    if (opts.dtype) {
      const raw = JSON.parse(configText) as Record<string, unknown>;
      raw.torch_dtype = TORCH_DTYPE[opts.dtype];
      if ('dtype' in raw) raw.dtype = TORCH_DTYPE[opts.dtype]; // transformers >= 5 spells it dtype
      await writeFile(join(tmp, 'config.json'), JSON.stringify(raw, null, 2) + '\n');
    } else {
      await writeFile(join(tmp, 'config.json'), configText);
    }
    for (const f of COPIED_FILES) {
      try {
        await copyFile(join(baseDir, f), join(tmp, f));
        files.push(f);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }

    // The rename is the commit point: outDir appears complete or not at all.
    // An empty outDir is replaced (rename over an empty folder); re-check it
    // in case someone wrote into it meanwhile.
    const late = await occupied();
    if (late) throw new MergeError(`${outDir} ${late} (it changed while merging); merge writes a new model folder`);
    await rename(tmp, outDir);
    return { options: plan.options, tensors: entries.length, adapted: adapted.size, bytes, files };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    await plan.close();
  }
}

/**
 * Writes a safetensors file whose tensors arrive one at a time: the header
 * (from names, shapes, dtypes) first, then each tensor's bytes in `entries`
 * order, which must be sorted by name (the layout serializeSafetensors
 * writes). Returns the file size.
 */
async function writeSafetensorsStreaming(
  path: string,
  entries: { name: string; shape: number[]; dtype: StorageDType }[],
  metadata: Record<string, string>,
  data: (e: { name: string; shape: number[]; dtype: StorageDType }) => Promise<Uint8Array>,
): Promise<number> {
  const { open } = await import('node:fs/promises');
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const e of entries) {
    const size = e.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype];
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (new TextEncoder().encode(json).byteLength % 8)) % 8); // data 8-byte aligned
  const jsonBytes = new TextEncoder().encode(json);
  const head = new Uint8Array(8 + jsonBytes.byteLength);
  new DataView(head.buffer).setUint32(0, jsonBytes.byteLength, true); // u64 LE; the high word stays 0
  head.set(jsonBytes, 8);

  const handle = await open(path, 'w');
  try {
    await handle.write(head);
    for (const e of entries) {
      const bytes = await data(e);
      const [begin, end] = (header[e.name] as { data_offsets: [number, number] }).data_offsets;
      if (bytes.byteLength !== end - begin) throw new MergeError(`${path}: tensor "${e.name}" produced ${bytes.byteLength} bytes, expected ${end - begin}`);
      let done = 0;
      while (done < bytes.byteLength) done += (await handle.write(bytes, done, bytes.byteLength - done)).bytesWritten;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return head.byteLength + offset;
}
