// Suite "kernels": every kernel version at fixed shapes (the cases in
// bench/kernels/*.ts), against the adapter's measured peaks (bench/peak.ts),
// with tfjs-backend-webgpu on the same Dawn adapter in the same run as the
// peer (matmul at every square and decoder shape, softmax at the attention
// shape), and PyTorch's CPU matmul (bench/peers/torch_matmul.py, run before
// Dawn starts) at every matmul shape, beside our default ("auto") row.
//
// Timing (bench/timing.ts timeBatched): one iteration records a batch of calls,
// submits once and waits for the queue (no read-back), for us and for the
// peer alike; ms/call = mean iteration / batch.
//   GFLOP/s = the case's flops (2MNK for a matmul) / time
//   GB/s    = the bytes one call must read and write / time
//   % peak  = the roofline's side: a case whose flops per byte exceed the
//             adapter's balance (peak GFLOP/s / peak GB/s) is compute-bound and
//             is measured against the FMA peak ("fma"); any other case against
//             the copy bandwidth ("copy").
import type { BenchCase } from '../case.ts';
import { DECODER, SKINNY, SQUARE, type MatmulShape } from '../kernels/matmul.ts';
import { runTorchMatmul, type PeerRun } from '../peers/torch.ts';
import { measurePeaks, type Peaks } from '../peak.ts';
import type { PeerCase, TfjsPeer } from '../peers/tfjs.ts';
import { timeBatched } from '../timing.ts';
import { fmt, type Suite, type SuiteContext, type SuiteEnv, type SuiteReport } from './suite.ts';

const FAMILIES = ['matmul', 'elementwise', 'softmax', 'cross_entropy', 'rmsnorm', 'l2norm', 'pooling', 'rope', 'embedding', 'adamw', 'attention', 'lora', 'contrastive'];

interface Row {
  name: string;
  ms: number;
  gflops: number | null;
  gbs: number | null;
  /** Percent of the peak on the case's side of the roofline, and which peak. */
  peak: { percent: number; of: 'fma' | 'copy' } | null;
  peer?: { name: string; ms: number; gflops: number | null };
  /** PyTorch's CPU matmul at the same shape. */
  torch?: { ms: number; gflops: number };
}

/** The tfjs case beside ours, or null: one per matmul shape (beside our default, auto, with f32 operands), and softmax. */
function peerFor(c: BenchCase, tfjs: TfjsPeer): PeerCase | null {
  if (c.kernel === 'matmul') {
    const shapes: MatmulShape[] = [...SQUARE, ...DECODER];
    const s = shapes.find((x) => c.name.endsWith(` ${x.name}`));
    if (s && c.name === `matmul auto ${s.name}`) return tfjs.matmul(s);
  }
  const m = /^softmax scores \[(\d+)\*(\d+), (\d+)\]$/.exec(c.name);
  if (m) return tfjs.softmax(Number(m[1]) * Number(m[2]), Number(m[3]));
  return null;
}

/** Which peak a case is measured against (see the header), and the percentage. */
function peakShare(flops: number | undefined, bytes: number | undefined, ms: number, peaks: Peaks): Row['peak'] {
  const balance = peaks.gflops / peaks.gbs; // flops per byte where the two roofs meet
  const compute = flops !== undefined && (bytes === undefined || flops / bytes > balance);
  if (compute) return { percent: (100 * flops / ms / 1e6) / peaks.gflops, of: 'fma' };
  if (bytes !== undefined) return { percent: (100 * bytes / ms / 1e6) / peaks.gbs, of: 'copy' };
  return null;
}

function fmtRow(r: Row): string {
  const perf = r.gflops !== null ? `${fmt(r.gflops)} GFLOP/s` : `${fmt(r.gbs)} GB/s`;
  const peak = r.peak ? `, ${fmt(r.peak.percent, 1)}% of ${r.peak.of} peak` : '';
  const peer = r.peer ? `  | ${r.peer.name}: ${fmt(r.peer.ms, 1)} ms${r.peer.gflops ? `, ${fmt(r.peer.gflops)} GFLOP/s` : ''}, ours ${fmt(r.peer.ms / r.ms)}x` : '';
  const torch = r.torch ? `  | torch: ${fmt(r.torch.gflops)} GFLOP/s, ours ${fmt(r.torch.ms / r.ms)}x` : '';
  return `${r.name}: ${fmt(r.ms, 2)} ms, ${perf}${peak}${peer}${torch}`;
}

export function kernelsSuite(ctx: SuiteContext): Suite {
  const o = ctx.options;
  const minMs = o.time ?? (o.quick ? 50 : 400);
  let torchRun: PeerRun | null = null;
  let torchNote = typeof ctx.torch === 'string' ? `PyTorch: ${ctx.torch}` : o.peers ? '' : 'PyTorch: peers disabled (--no-peers)';
  return {
    name: 'kernels',
    block: 'bench',
    section: '## Kernels\n\nProduced by `npm run bench` (suite kernels, bench/suites/kernels.ts).',
    async prepare() {
      if (!o.peers || typeof ctx.torch === 'string') return;
      const shapes = [...SQUARE, ...DECODER, ...SKINNY].filter((x) => o.filter.test(`matmul auto ${x.name}`));
      if (shapes.length === 0) return;
      try {
        torchRun = await runTorchMatmul(ctx.torch, shapes, minMs);
      } catch (err) {
        torchNote = `PyTorch matmul peer failed: ${(err as Error).message}`;
        console.log(torchNote);
      }
    },
    async run(env: SuiteEnv): Promise<SuiteReport> {
      const { gpu } = env;
      const peaks = await measurePeaks(gpu, minMs);
      const peakLine = `Peak (bench/peak.ts): FP32 ${fmt(peaks.gflops, 1)} GFLOP/s (${peaks.fma}; lavapipe lowers fma to mul + add, counted as 2 flops), ` +
        `memory ${fmt(peaks.gbs, 1)} GB/s (${peaks.copy}, read + write); both the fastest timed iteration`;
      console.log(`${peakLine}\n`);
      const tfjs = o.peers ? await env.tfjs() : 'peers disabled (--no-peers)';
      if (typeof tfjs === 'string') console.log(`kernels peer skipped: ${tfjs}`);

      const cases: BenchCase[] = [];
      for (const f of FAMILIES) cases.push(...((await import(`../kernels/${f}.ts`)) as { cases: BenchCase[] }).cases);
      const rows: Row[] = [];
      for (const c of cases.filter((x) => o.filter.test(x.name))) {
        const why = c.unsupported?.(gpu);
        if (why) {
          console.log(`${c.name}: skipped (${why})`);
          continue;
        }
        let h: { run(): void; dispose(): void } | null = null;
        try {
          h = c.setup(gpu);
          await gpu.sync();
          const { mean: ms } = await timeBatched(h.run, () => gpu.sync(), minMs);
          const row: Row = {
            name: c.name, ms,
            gflops: c.flops ? c.flops / ms / 1e6 : null,
            gbs: c.bytes ? c.bytes / ms / 1e6 : null,
            peak: peakShare(c.flops, c.bytes, ms, peaks),
          };
          const torchMs = c.name.startsWith('matmul auto ') ? torchRun?.ms[c.name.slice('matmul auto '.length)] : undefined;
          if (torchMs && c.flops) row.torch = { ms: torchMs, gflops: c.flops / torchMs / 1e6 };
          const peer = typeof tfjs === 'string' ? null : peerFor(c, tfjs);
          if (peer && typeof tfjs !== 'string') {
            const p = peer.setup();
            try {
              const { mean: pms } = await timeBatched(p.run, () => tfjs.sync(), minMs);
              row.peer = { name: peer.name, ms: pms, gflops: c.flops ? c.flops / pms / 1e6 : null };
            } finally {
              p.dispose();
            }
          }
          rows.push(row);
          console.log(fmtRow(row));
        } catch (err) {
          console.log(`${c.name}: FAILED ${(err as Error).message}`);
        } finally {
          h?.dispose();
        }
      }
      return {
        header: [
          peakLine,
          `Peer: ${typeof tfjs === 'string' ? tfjs : `tfjs-backend-webgpu ${tfjs.version}, same Dawn adapter, same run`}`,
          'Waits: both sides await the queue through quietWait (src/gpu/quiet-wait.ts), which keeps Dawn from busy-polling a core',
          torchRun
            ? `PyTorch peer (matmul rows): ${torchRun.version} CPU, float32, ${torchRun.threads} threads, BLAS ${torchRun.blas}, same machine, same run (before ours)`
            : torchNote || 'PyTorch peer: not run',
        ],
        table: rows.length === 0 ? [] : [
          '| case | ms/call | GFLOP/s | GB/s | % peak | tfjs ms/call | tfjs GFLOP/s | ours vs tfjs | torch GFLOP/s | ours vs torch |',
          '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
          ...rows.map((r) =>
            `| ${r.name} | ${fmt(r.ms)} | ${fmt(r.gflops)} | ${fmt(r.gbs)} | ${r.peak ? `${fmt(r.peak.percent, 1)} ${r.peak.of}` : ''} | ${fmt(r.peer?.ms)} | ${fmt(r.peer?.gflops)} | ${r.peer ? `${fmt(r.peer.ms / r.ms)}x` : ''} | ${fmt(r.torch?.gflops)} | ${r.torch ? `${fmt(r.torch.ms / r.ms)}x` : ''} |`),
        ],
      };
    },
  };
}
