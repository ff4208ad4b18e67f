// RoPE at a small decoder's shapes: q of SmolLM-135M-like attention (2048
// tokens, H = 9 heads, D = 64) and Qwen2-0.5B-like q (8192 tokens, H = 14,
// D = 64). Forward out of place and in place, and the backward. The cos/sin
// table (4 x 256 x D/2 pairs) is built in setup by the first call.
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { rope, ropeBackward } from '../../src/ops/rope.ts';

function data(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.9 + 0.05);
}

function inputs(gpu: Gpu, T: number, H: number, D: number, theta: number) {
  const x = gpu.tensor(data(T * H * D, 1), [1, T, H, D], 'f32', 'x');
  const pos = gpu.tensor(Int32Array.from({ length: T }, (_, i) => i), [1, T], 'i32', 'pos');
  const y = rope(gpu, x, pos, { theta });
  return { x, pos, y, dispose: () => [x, pos, y].forEach((t) => t.release()) };
}

function bench(kind: 'forward' | 'in place' | 'backward', T: number, H: number, D: number, theta: number): BenchCase {
  const n = T * H * D;
  return {
    name: `rope ${kind} [1, ${T}, ${H}, ${D}]`,
    kernel: 'rope',
    // Read x, write y (the table and positions are small and cache-resident).
    bytes: 4 * (2 * n + T),
    flops: 6 * (n / 2),
    setup(gpu) {
      const t = inputs(gpu, T, H, D, theta);
      const run =
        kind === 'forward' ? () => void rope(gpu, t.x, t.pos, { theta, out: t.y })
        : kind === 'in place' ? () => void rope(gpu, t.x, t.pos, { theta, out: t.x })
        : () => void ropeBackward(gpu, t.x, t.pos, { theta, out: t.y });
      return { run, dispose: t.dispose };
    },
  };
}

export const cases: BenchCase[] = [
  bench('forward', 2048, 9, 64, 10000),
  bench('in place', 2048, 9, 64, 10000),
  bench('backward', 2048, 9, 64, 10000),
  bench('forward', 8192, 14, 64, 1e6),
];
