// npm run bench [-- --filter REGEX] [--time MS] [--no-peers] [--no-write]
//
// Runs every kernel benchmark case (bench/kernels/*.ts) with tinybench, and the
// peer (tfjs-backend-webgpu on the same Dawn adapter) at the same shapes in the
// same run. Prints a table; a full run (no --filter) also rewrites the
// generated part of bench/RESULTS.md with the machine, adapter and date.
//
// Timing: one tinybench iteration records `batch` calls, submits them and waits
// for the queue (no read-back); `batch` is chosen so an iteration lasts >= 20 ms,
// so submit latency does not dominate small kernels. ms/call = mean / batch.
import os from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { Bench } from 'tinybench';
import { Gpu } from '../src/gpu/gpu.ts';
import type { BenchCase } from './case.ts';
import { DECODER, SQUARE, type MatmulShape } from './kernels/matmul.ts';
import { loadTfjs, type PeerCase, type TfjsPeer } from './peers/tfjs.ts';

const families = ['matmul', 'elementwise', 'softmax', 'cross_entropy', 'rmsnorm', 'l2norm', 'pooling', 'rope', 'embedding', 'adamw', 'attention', 'lora', 'contrastive'];

interface Row {
  name: string;
  kernel: string;
  ms: number;
  gflops: number | null;
  gbs: number | null;
  peer?: { name: string; ms: number; gflops: number | null };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const filter = new RegExp(arg('--filter') ?? '.', 'i');
const minTime = Number(arg('--time') ?? 400);
const withPeers = !process.argv.includes('--no-peers');
const write = !process.argv.includes('--no-write') && arg('--filter') === undefined;

async function measure(run: () => void, sync: () => Promise<void>): Promise<number> {
  run(); // warm-up: compiles pipelines, fills the pool
  await sync();
  const t0 = performance.now();
  run();
  await sync();
  const once = performance.now() - t0;
  const batch = Math.max(1, Math.min(64, Math.ceil(20 / Math.max(once, 1e-3))));
  const bench = new Bench({ time: minTime, iterations: 3, warmup: false });
  bench.add('case', async () => {
    for (let i = 0; i < batch; i++) run();
    await sync();
  });
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`benchmark ${r.state}: ${'error' in r ? String(r.error) : ''}`);
  return r.latency.mean / batch;
}

function peerFor(c: BenchCase, tfjs: TfjsPeer): PeerCase | null {
  if (c.kernel === 'matmul') {
    const shapes: MatmulShape[] = [...SQUARE, ...DECODER];
    const s = shapes.find((x) => c.name.endsWith(` ${x.name}`));
    // One peer row per shape: beside our default (auto) for the decoder shapes and regblock for squares.
    if (s && (c.name.startsWith('matmul auto') || (c.name.startsWith('matmul regblock ') && SQUARE.includes(s)))) return tfjs.matmul(s);
  }
  const m = /^softmax scores \[(\d+)\*(\d+), (\d+)\]$/.exec(c.name);
  if (m) return tfjs.softmax(Number(m[1]) * Number(m[2]), Number(m[3]));
  return null;
}

async function main(): Promise<void> {
  // One Dawn instance for us and the peer, so both run on the same adapter.
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator?.gpu) {
    const { create, globals } = (await import('webgpu')) as { create: (o: string[]) => GPU; globals: object };
    Object.assign(globalThis, globals);
    Object.defineProperty(globalThis, 'navigator', { value: { ...(g.navigator ?? {}), gpu: create([]) }, configurable: true });
  }
  const gpu = await Gpu.create();
  const tfjs = withPeers ? await loadTfjs() : 'peers disabled (--no-peers)';
  if (typeof tfjs === 'string') console.log(`peer skipped: ${tfjs}`);

  const cases: BenchCase[] = [];
  for (const f of families) cases.push(...((await import(`./kernels/${f}.ts`)) as { cases: BenchCase[] }).cases);
  const rows: Row[] = [];
  console.log(`adapter: ${gpu.adapterName}\n`);
  for (const c of cases.filter((x) => filter.test(x.name))) {
    let h: { run(): void; dispose(): void } | null = null;
    try {
      h = c.setup(gpu);
      await gpu.sync();
      const ms = await measure(h.run, () => gpu.sync());
      const flops = c.flops ?? null;
      const row: Row = {
        name: c.name, kernel: c.kernel, ms,
        gflops: flops ? flops / ms / 1e6 : null,
        gbs: c.bytes ? c.bytes / ms / 1e6 : null,
      };
      const peer = typeof tfjs === 'string' ? null : peerFor(c, tfjs);
      if (peer && typeof tfjs !== 'string') {
        const p = peer.setup();
        const pms = await measure(p.run, () => tfjs.sync());
        p.dispose();
        row.peer = { name: peer.name, ms: pms, gflops: flops ? flops / pms / 1e6 : null };
      }
      rows.push(row);
      console.log(fmtRow(row));
    } catch (err) {
      console.log(`${c.name}: FAILED ${(err as Error).message}`);
    } finally {
      h?.dispose();
    }
  }
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, Node ${process.versions.node}`;
  const md = renderMarkdown(rows, machine, gpu.adapterName, typeof tfjs === 'string' ? tfjs : `tfjs-backend-webgpu ${tfjs.version}`);
  if (write && rows.length > 0) {
    await updateResults(md);
    console.log('\nwrote bench/RESULTS.md');
  }
  gpu.destroy();
  process.exit(0); // the peer's Dawn device keeps the event loop alive
}

function fmt(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined ? '' : x.toFixed(digits);
}

function fmtRow(r: Row): string {
  const perf = r.gflops !== null ? `${fmt(r.gflops)} GFLOP/s` : `${fmt(r.gbs)} GB/s`;
  const peer = r.peer ? `  | ${r.peer.name}: ${fmt(r.peer.ms, 1)} ms${r.peer.gflops ? `, ${fmt(r.peer.gflops)} GFLOP/s` : ''}, ours ${fmt(r.peer.ms / r.ms)}x` : '';
  return `${r.name}: ${fmt(r.ms, 2)} ms, ${perf}${peer}`;
}

function renderMarkdown(rows: Row[], machine: string, adapter: string, peer: string): string {
  const lines = [
    `Date: ${new Date().toISOString().slice(0, 10)}`,
    `Machine: ${machine}`,
    `Adapter: ${adapter}`,
    `Peer: ${peer}, same Dawn adapter, same run`,
    '',
    '| case | ms/call | GFLOP/s | GB/s | peer ms/call | peer GFLOP/s | ours vs peer |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) =>
      `| ${r.name} | ${fmt(r.ms)} | ${fmt(r.gflops)} | ${fmt(r.gbs)} | ${fmt(r.peer?.ms)} | ${fmt(r.peer?.gflops)} | ${r.peer ? `${fmt(r.peer.ms / r.ms)}x` : ''} |`),
  ];
  return lines.join('\n');
}

const BEGIN = '<!-- bench:begin (generated by npm run bench) -->';
const END = '<!-- bench:end -->';

async function updateResults(md: string): Promise<void> {
  const path = new URL('./RESULTS.md', import.meta.url);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    text = `# Benchmark results\n\n${BEGIN}\n${END}\n`;
  }
  const i = text.indexOf(BEGIN);
  const j = text.indexOf(END);
  const block = `${BEGIN}\n${md}\n${END}`;
  text = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + END.length) : `${text}\n${block}\n`;
  await writeFile(path, text);
}

await main();
