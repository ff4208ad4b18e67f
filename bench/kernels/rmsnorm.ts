// RMSNorm forward and backward at a small decoder's shapes (2048 tokens, C = 576;
// 8192 tokens, C = 896). Outputs are preallocated so run() allocates nothing
// (the backward's dweight partial sums come from the pool).
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { rmsnorm, rmsnormBackward } from '../../src/ops/rmsnorm.ts';

function data(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.9 + 0.05);
}

function inputs(gpu: Gpu, N: number, C: number) {
  const x = gpu.tensor(data(N * C, 1), [N, C], 'f32', 'x');
  const w = gpu.tensor(data(C, 2), [C], 'f32', 'w');
  const dy = gpu.tensor(data(N * C, 3), [N, C], 'f32', 'dy');
  const { y, rstd } = rmsnorm(gpu, x, w, 1e-6);
  const dx = gpu.empty([N, C], 'f32', 'dx');
  const dweight = gpu.empty([C], 'f32', 'dweight');
  return { x, w, dy, y, rstd, dx, dweight, dispose: () => [x, w, dy, y, rstd, dx, dweight].forEach((t) => t.release()) };
}

function forward(N: number, C: number): BenchCase {
  return {
    name: `rmsnorm forward [${N}, ${C}]`,
    kernel: 'rmsnorm',
    bytes: 4 * (2 * N * C + C + N), // read x, w; write y, rstd
    flops: 4 * N * C,
    setup(gpu) {
      const t = inputs(gpu, N, C);
      return { run: () => void rmsnorm(gpu, t.x, t.w, 1e-6, { y: t.y, rstd: t.rstd }), dispose: t.dispose };
    },
  };
}

function backward(N: number, C: number): BenchCase {
  const blocks = Math.ceil(N / 64);
  return {
    name: `rmsnorm backward [${N}, ${C}]`,
    kernel: 'rmsnorm',
    // dx: read x, w, rstd, dy, write dx; dweight stage 1: read x, rstd, dy, write
    // partials; stage 2: read partials, write dweight.
    bytes: 4 * (4 * N * C + C + N) + 4 * (2 * N * C + N + blocks * C) + 4 * (blocks * C + C),
    flops: 9 * N * C,
    setup(gpu) {
      const t = inputs(gpu, N, C);
      return {
        run: () => void rmsnormBackward(gpu, t.x, t.w, t.rstd, t.dy, { dx: t.dx, dweight: t.dweight }),
        dispose: t.dispose,
      };
    },
  };
}

export const cases: BenchCase[] = [forward(2048, 576), backward(2048, 576), forward(8192, 896), backward(8192, 896)];
