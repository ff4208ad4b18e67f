// L2 normalisation forward and backward over rows of 2048 tokens x 576 and of
// a batch of 256 pooled embeddings x 896. Outputs are preallocated so run()
// allocates nothing.
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { l2norm, l2normBackward } from '../../src/ops/l2norm.ts';

function data(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.9 + 0.05);
}

function inputs(gpu: Gpu, N: number, D: number) {
  const x = gpu.tensor(data(N * D, 1), [N, D], 'f32', 'x');
  const dy = gpu.tensor(data(N * D, 2), [N, D], 'f32', 'dy');
  const { y, norm } = l2norm(gpu, x);
  const dx = gpu.empty([N, D], 'f32', 'dx');
  return { x, dy, y, norm, dx, dispose: () => [x, dy, y, norm, dx].forEach((t) => t.release()) };
}

function forward(N: number, D: number): BenchCase {
  return {
    name: `l2norm forward [${N}, ${D}]`,
    kernel: 'l2norm',
    bytes: 4 * (2 * N * D + N), // read x; write y, norm
    flops: 3 * N * D,
    setup(gpu) {
      const t = inputs(gpu, N, D);
      return { run: () => void l2norm(gpu, t.x, undefined, { y: t.y, norm: t.norm }), dispose: t.dispose };
    },
  };
}

function backward(N: number, D: number): BenchCase {
  return {
    name: `l2norm backward [${N}, ${D}]`,
    kernel: 'l2norm',
    bytes: 4 * (3 * N * D + N), // read y, dy, norm; write dx
    flops: 5 * N * D,
    setup(gpu) {
      const t = inputs(gpu, N, D);
      return { run: () => void l2normBackward(gpu, t.y, t.norm, t.dy, undefined, t.dx), dispose: t.dispose };
    },
  };
}

export const cases: BenchCase[] = [forward(2048, 576), backward(2048, 576), forward(256, 896), backward(256, 896)];
