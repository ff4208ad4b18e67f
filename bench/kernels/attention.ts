// Attention at a small decoder's shapes (SmolLM2-135M: H = 9 query heads,
// Hkv = 3 kv heads, D = 64), causal, one sequence of T = 512 and 1024 tokens:
// the fused kernels (online softmax, nothing of size T x T in memory) beside
// the unfused path (q k^T by matmul, masked softmax, P v by matmul, with the
// head split / merge copies), forward and backward.
//
// FLOPs count the useful work of the causal triangle, T (T + 1) / 2 pairs per
// head: 4 D per pair forward (q . k and p v), 2.5x that backward (q . k
// recomputed, dO . v, dq, dk, dv). Both paths are credited the same work, so
// GFLOP/s compare their times directly; the unfused path really does the full
// T x T products.
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { attention, attentionBackward, attentionUnfused, attentionUnfusedBackward } from '../../src/ops/attention.ts';

const H = 9;
const HKV = 3;
const D = 64;

function data(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
}

function inputs(gpu: Gpu, T: number) {
  const q = gpu.tensor(data(T * H * D, 1), [1, T, H, D], 'f32', 'q');
  const k = gpu.tensor(data(T * HKV * D, 2), [1, T, HKV, D], 'f32', 'k');
  const v = gpu.tensor(data(T * HKV * D, 3), [1, T, HKV, D], 'f32', 'v');
  const dO = gpu.tensor(data(T * H * D, 4), [1, T, H, D], 'f32', 'dO');
  return { q, k, v, dO, all: [q, k, v, dO] as Tensor[] };
}

const forwardFlops = (T: number) => 4 * D * H * ((T * (T + 1)) / 2);

type Kind = 'fused forward' | 'unfused forward' | 'fused backward' | 'unfused backward';

function bench(kind: Kind, T: number): BenchCase {
  return {
    name: `attention ${kind} causal [1, ${T}, ${H}, ${D}] kv heads ${HKV}`,
    kernel: 'attention',
    flops: kind.endsWith('backward') ? 2.5 * forwardFlops(T) : forwardFlops(T),
    setup(gpu) {
      const x = inputs(gpu, T);
      const held: Tensor[] = [...x.all];
      let run: () => void;
      if (kind === 'fused forward') {
        const o = gpu.empty([1, T, H, D], 'f32', 'o');
        const lse = gpu.empty([1, H, T], 'f32', 'lse');
        held.push(o, lse);
        run = () => void attention(gpu, x.q, x.k, x.v, { out: o, lse });
      } else if (kind === 'unfused forward') {
        const o = gpu.empty([1, T, H, D], 'f32', 'o');
        held.push(o);
        run = () => attentionUnfused(gpu, x.q, x.k, x.v, { out: o }).probs.release();
      } else if (kind === 'fused backward') {
        const { o, lse } = attention(gpu, x.q, x.k, x.v);
        const grads = {
          dq: gpu.empty([1, T, H, D], 'f32', 'dq'),
          dk: gpu.empty([1, T, HKV, D], 'f32', 'dk'),
          dv: gpu.empty([1, T, HKV, D], 'f32', 'dv'),
        };
        held.push(o, lse, grads.dq, grads.dk, grads.dv);
        run = () => void attentionBackward(gpu, x.q, x.k, x.v, o, lse, x.dO, grads);
      } else {
        const { o, probs } = attentionUnfused(gpu, x.q, x.k, x.v);
        const grads = {
          dq: gpu.empty([1, T, H, D], 'f32', 'dq'),
          dk: gpu.empty([1, T, HKV, D], 'f32', 'dk'),
          dv: gpu.empty([1, T, HKV, D], 'f32', 'dv'),
        };
        held.push(o, probs, grads.dq, grads.dk, grads.dv);
        run = () => void attentionUnfusedBackward(gpu, x.q, x.k, x.v, probs, x.dO, grads);
      }
      return { run, dispose: () => held.forEach((t) => t.release()) };
    },
  };
}

export const cases: BenchCase[] = [512, 1024].flatMap((T) =>
  (['fused forward', 'unfused forward', 'fused backward', 'unfused backward'] as const).map((kind) => bench(kind, T)),
);
