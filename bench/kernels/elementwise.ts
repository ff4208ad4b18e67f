// Elementwise ops over the MLP activations of a small decoder step
// (2048 tokens x 1536): memory-bound, so the figure is GB/s.
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import * as ops from '../../src/ops/elementwise.ts';

const T = 2048, F = 1536, N = T * F;

function data(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 2);
}

function unary(name: string, reads: number, writes: number, op: (gpu: Gpu, t: Tensor[]) => void, inputs: number): BenchCase {
  return {
    name: `${name} [${T}, ${F}]`,
    kernel: 'elementwise',
    bytes: 4 * N * (reads + writes),
    setup(gpu: Gpu) {
      const ts = Array.from({ length: inputs }, (_, i) => gpu.tensor(data(N, i), [T, F], 'f32', `x${i}`));
      return { run: () => op(gpu, ts), dispose: () => ts.forEach((t) => t.release()) };
    },
  };
}

function bias(name: string, grad: boolean): BenchCase {
  return {
    name: `${name} [${T}, ${F}] bias [${F}]`,
    kernel: 'elementwise',
    bytes: 4 * (grad ? N + F : 2 * N + F),
    setup(gpu: Gpu) {
      const x = gpu.tensor(data(N, 1), [T, F], 'f32', 'x');
      const b = gpu.tensor(data(F, 2), [F], 'f32', 'b');
      const y = gpu.empty([T, F], 'f32', 'y');
      const run = grad ? () => void ops.biasGrad(gpu, x, b) : () => void ops.biasAdd(gpu, x, b, y);
      return { run, dispose: () => [x, b, y].forEach((t) => t.release()) };
    },
  };
}

export const cases: BenchCase[] = [
  bias('bias add', false),
  bias('bias grad', true),
  unary('add', 2, 1, (g, [a, b, y]) => void ops.add(g, a, b, y), 3),
  unary('scale', 1, 1, (g, [x, y]) => void ops.scale(g, 0.5, x, y), 2),
  unary('mul', 2, 1, (g, [a, b, y]) => void ops.mul(g, a, b, y), 3),
  unary('silu', 1, 1, (g, [x, y]) => void ops.silu(g, x, y), 2),
  unary('swiglu', 2, 1, (g, [a, b, y]) => void ops.swiglu(g, a, b, y), 3),
  unary('swiglu backward', 3, 2, (g, [a, b, dy]) => {
    const { dg, du } = ops.swigluBackward(g, a, b, dy);
    dg.release();
    du.release();
  }, 3),
];
