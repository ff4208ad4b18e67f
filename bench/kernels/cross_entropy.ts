// Benchmarks for kernels/cross_entropy.wgsl at the LM head of a small decoder:
// V = 49152. N = 512 tokens per call keeps logits [N, V] (96 MiB) under a
// 128 MiB storage-binding limit (lavapipe's); a 2048-token step is 4 calls.
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { crossEntropy, crossEntropyBackward } from '../../src/ops/cross_entropy.ts';

const N = 512;
const V = 49152;

function inputs(gpu: Gpu) {
  const x = new Float32Array(N * V);
  for (let i = 0; i < x.length; i++) x[i] = 6 * Math.sin(i * 0.618);
  const t = Int32Array.from({ length: N }, (_, i) => (i % 17 === 0 ? -100 : (i * 7919) % V));
  return { logits: gpu.tensor(x, [N, V], 'f32', 'logits'), targets: gpu.tensor(t, [N], 'i32', 'targets') };
}

const logitBytes = N * V * 4;

export const cases: BenchCase[] = [
  {
    name: `cross-entropy forward [${N}, ${V}] (losses, lse, mean)`,
    kernel: 'cross_entropy',
    // logits + targets read; losses + lse written; the reduction reads losses + targets.
    bytes: logitBytes + 4 * N * 5 + 8,
    setup(gpu) {
      const { logits, targets } = inputs(gpu);
      const { losses, lse, loss, count } = crossEntropy(gpu, logits, targets);
      const out = { losses, lse, loss, count };
      return {
        run: () => void crossEntropy(gpu, logits, targets, { out }),
        dispose: () => [logits, targets, out.losses, out.lse, out.loss, out.count].forEach((t) => t.release()),
      };
    },
  },
  {
    name: `cross-entropy backward [${N}, ${V}] (fused softmax - onehot)`,
    kernel: 'cross_entropy',
    // logits read, dlogits written, targets + lse read.
    bytes: 2 * logitBytes + 4 * N * 2 + 4,
    setup(gpu) {
      const { logits, targets } = inputs(gpu);
      const saved = crossEntropy(gpu, logits, targets);
      const dx = gpu.empty([N, V], 'f32', 'dlogits');
      return {
        run: () => void crossEntropyBackward(gpu, logits, saved, { out: dx }),
        dispose: () => [logits, targets, saved.losses, saved.lse, saved.loss, saved.count, dx].forEach((t) => t.release()),
      };
    },
  },
];
