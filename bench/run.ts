// npm run bench [-- --suite kernels,model,embed,memory] [--filter REGEX] [--time MS]
//                  [--no-peers] [--no-write] [--quick] [--mini-batch N]
//
// The one benchmark command. Suites (bench/suites/, each file's header says
// what it measures and how it is timed):
//   kernels  every kernel version: ms, GFLOP/s or GB/s, % of the adapter's
//            measured peak (bench/peak.ts); peers tfjs-backend-webgpu (matmul,
//            softmax) and PyTorch CPU (matmul)
//   model    decoder forward / forward+loss / LoRA and full training steps,
//            tokens/s and peak pool bytes, tiny and SmolLM2-135M shapes; peers
//            PyTorch CPU (every step) and tfjs-backend-webgpu (the forward)
//   embed    embedding texts/s and LoRA contrastive triplets/s on WordNet text;
//            peer PyTorch CPU on the identical token id batches
//   memory   one GradCache LoRA contrastive step of the SmolLM2-135M shape at
//            32 triplets x 128 tokens: peak bytes against 4 GiB (slow: only
//            when asked)
//   serve    `lco serve` under load on loopback (only when asked)
//   runtimes the built package in Node, Deno, Bun and Chromium: matmul
//            GFLOP/s, embedding texts/s, startup ms (only when asked)
// Default: kernels,model,embed.
//
// Flags:
//   --suite LIST    comma-separated suites
//   --filter REGEX  only cases whose name matches (case-insensitive)
//   --time MS       minimum timed milliseconds per case (default per suite:
//                   kernels 400, model 3000, embed 5000)
//   --no-peers      no tfjs, no PyTorch
//   --no-write      print only; by default a run without --filter and --quick
//                   rewrites each suite's block of bench/RESULTS.md (machine,
//                   adapter, date, table); the text around the blocks stays
//   --quick         small workloads and short timing, to check that suites
//                   work (never writes)
//   --mini-batch N  the memory suite's GradCache mini-batch (default 8)
//   --results PATH  write the blocks to another file (a GPU machine's results:
//                   bench/RESULTS-gpu.md, see scripts/gpu-bench.sh)
//
// Order: every suite's prepare() first, which runs the PyTorch peer, then
// one Dawn instance (also navigator.gpu, so tfjs shares the adapter) and one
// Gpu for every suite's run(). A live Dawn instance slowed the PyTorch peer
// up to 7x (bench/NOTES.md), so no peer runs while it exists. All waits on
// the GPU, ours and tfjs's, go through quietWait (src/gpu/quiet-wait.ts).
import { Gpu } from '../src/gpu/gpu.ts';
import { atLeast, formatHelp, parseArgs, UsageError, type FlagSpecs } from '../src/cli/args.ts';
import { loadTfjs, type TfjsPeer } from './peers/tfjs.ts';
import { shareDawnOnNavigator } from './peers/tfjs-decoder.ts';
import { findTorch } from './peers/torch.ts';
import { blockBody, machine, RESULTS_PATH, updateResults } from './results.ts';
import { embedSuite } from './suites/embed.ts';
import { kernelsSuite } from './suites/kernels.ts';
import { memorySuite } from './suites/memory.ts';
import { modelSuite } from './suites/model.ts';
import { serveSuite } from './suites/serve.ts';
import { runtimesSuite } from './suites/runtimes.ts';
import type { BenchOptions, Suite, SuiteContext, SuiteEnv, SuiteReport } from './suites/suite.ts';

const SUITES: Record<string, (ctx: SuiteContext) => Suite> = { kernels: kernelsSuite, model: modelSuite, embed: embedSuite, memory: memorySuite, serve: serveSuite, runtimes: runtimesSuite };
const DEFAULT_SUITES = ['kernels', 'model', 'embed'];
/** Suites that can run the PyTorch peer. */
const TORCH_SUITES = new Set(['kernels', 'model', 'embed']);

const FLAGS = {
  suite: { type: 'string', value: 'LIST', help: `comma-separated suites (default ${DEFAULT_SUITES.join(',')})` },
  filter: { type: 'string', value: 'REGEX', help: 'only cases whose name matches (case-insensitive)' },
  time: { type: 'number', value: 'MS', help: 'minimum timed milliseconds per case' },
  'no-peers': { type: 'boolean', help: 'no tfjs, no PyTorch' },
  'no-write': { type: 'boolean', help: 'print only' },
  quick: { type: 'boolean', help: 'small workloads and short timing (never writes)' },
  'mini-batch': { type: 'number', integer: true, value: 'N', help: "the memory suite's GradCache mini-batch" },
  results: { type: 'string', value: 'PATH', help: 'write the blocks to this file instead of bench/RESULTS.md' },
} as const satisfies FlagSpecs;

function benchArgs(argv: string[]): { suites: string[]; options: BenchOptions; write: boolean; results?: string } {
  const { flags: f, positional, help } = parseArgs(FLAGS, argv);
  if (help) {
    console.log(formatHelp('usage: npm run bench [-- --suite LIST] [options]  (suites: ' + Object.keys(SUITES).join(', ') + '; see bench/run.ts)', FLAGS));
    process.exit(0);
  }
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]} (see the header of bench/run.ts)`);
  atLeast('time', f.time, 0);
  atLeast('mini-batch', f['mini-batch'], 1);
  const suites = f.suite === undefined ? DEFAULT_SUITES : f.suite.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = suites.filter((s) => !(s in SUITES));
  if (unknown.length > 0 || suites.length === 0) throw new UsageError(`--suite ${f.suite}: unknown suite ${unknown.join(', ') || '(none)'} (known: ${Object.keys(SUITES).join(', ')})`);
  let re: RegExp;
  try {
    re = new RegExp(f.filter ?? '.', 'i');
  } catch (err) {
    throw new UsageError(`--filter ${f.filter}: ${(err as Error).message}`);
  }
  return {
    suites: [...new Set(suites)],
    options: { filter: re, filtered: f.filter !== undefined, time: f.time, quick: f.quick ?? false, peers: !f['no-peers'], miniBatch: f['mini-batch'] },
    write: !f['no-write'] && f.filter === undefined && !f.quick,
    results: f.results,
  };
}

async function main(): Promise<void> {
  const { suites: names, options, write, results } = benchArgs(process.argv.slice(2));
  const torchWanted = names.some((n) => TORCH_SUITES.has(n));
  const torch = !options.peers ? 'peers disabled (--no-peers)' : torchWanted ? findTorch() : 'not used by these suites';
  if (typeof torch === 'string' && torchWanted && options.peers) console.log(`PyTorch peer skipped: ${torch}`);
  const suites = names.map((n) => SUITES[n]({ options, torch }));

  // 1. CPU phase: workloads and the PyTorch peer, before Dawn exists.
  const ready: Suite[] = [];
  for (const s of suites) {
    try {
      await s.prepare();
      ready.push(s);
    } catch (err) {
      console.log(`suite ${s.name}: FAILED while preparing: ${(err as Error).message}`);
    }
  }

  // 2. One Dawn instance, one Gpu, every suite.
  await shareDawnOnNavigator(); // navigator.gpu: Gpu.create() and tfjs take the same instance
  const gpu = await Gpu.create();
  let tfjs: Promise<TfjsPeer | string> | null = null;
  const env: SuiteEnv = { gpu, tfjs: () => (tfjs ??= loadTfjs()) };
  console.log(`\nDate: ${new Date().toISOString().slice(0, 10)}\nMachine: ${machine()}\nAdapter: ${gpu.adapterName}\nSuites: ${ready.map((s) => s.name).join(', ')}\n`);

  const reports: { suite: Suite; report: SuiteReport }[] = [];
  for (const s of ready) {
    console.log(`--- suite ${s.name}`);
    try {
      reports.push({ suite: s, report: await s.run(env) });
    } catch (err) {
      console.log(`suite ${s.name}: FAILED ${(err as Error).stack ?? (err as Error).message}`);
    }
    console.log('');
  }

  for (const { suite, report } of reports) {
    console.log(`## ${suite.name}\n${blockBody(gpu.adapterName, report.header, report.table)}\n`);
  }
  const blocks = reports.filter((r) => r.report.table.length > 0)
    .map(({ suite, report }) => ({ name: suite.block, suite: suite.name, body: blockBody(gpu.adapterName, report.header, report.table), section: suite.section }));
  if (write && blocks.length > 0) {
    await updateResults(blocks, results ?? RESULTS_PATH);
    console.log(`wrote ${results ?? 'bench/RESULTS.md'} (${blocks.map((b) => b.suite).join(', ')})`);
  }
  gpu.destroy();
  process.exit(0); // tfjs's device and the Dawn instance keep the event loop alive
}

try {
  await main();
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`npm run bench: ${err.message}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1); // a live Dawn instance would keep the process alive
}
