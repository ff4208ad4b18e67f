// matmul at square sizes 256-2048 and at a small decoder's shapes
// (SmolLM2-135M: C = 576, MLP 1536, 2048 tokens per step), every version side
// by side. Linear layers are y = x W^T with W [out, in]: transB.
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { matmul, type MatmulVersion } from '../../src/ops/matmul.ts';

export interface MatmulShape {
  name: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

function data(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
}

export const SQUARE: MatmulShape[] = [256, 512, 1024, 2048].map((n) => ({ name: `${n}x${n}x${n}`, M: n, N: n, K: n, transA: false, transB: false }));

export const DECODER: MatmulShape[] = [
  { name: 'up/gate x W^T [2048x576]x[576x1536]', M: 2048, N: 1536, K: 576, transA: false, transB: true },
  { name: 'down x W^T [2048x1536]x[1536x576]', M: 2048, N: 576, K: 1536, transA: false, transB: true },
  { name: 'q/o x W^T [2048x576]x[576x576]', M: 2048, N: 576, K: 576, transA: false, transB: true },
  { name: 'dW = dY^T X [1536x2048]x[2048x576]', M: 1536, N: 576, K: 2048, transA: true, transB: false },
  { name: 'plain [2048x576]x[576x1536]', M: 2048, N: 1536, K: 576, transA: false, transB: false },
];

export function shapeFlops(s: MatmulShape): number {
  return 2 * s.M * s.N * s.K;
}

export function operands(s: MatmulShape): { a: Float32Array; aShape: number[]; b: Float32Array; bShape: number[] } {
  return {
    a: data(s.M * s.K, 1),
    aShape: s.transA ? [s.K, s.M] : [s.M, s.K],
    b: data(s.K * s.N, 2),
    bShape: s.transB ? [s.N, s.K] : [s.K, s.N],
  };
}

function matmulCase(s: MatmulShape, version: MatmulVersion | 'auto'): BenchCase {
  return {
    name: `matmul ${version} ${s.name}`,
    kernel: 'matmul',
    flops: shapeFlops(s),
    bytes: 4 * (s.M * s.K + s.K * s.N + s.M * s.N),
    setup(gpu: Gpu) {
      const o = operands(s);
      const a = gpu.tensor(o.a, o.aShape, 'f32', 'A');
      const b = gpu.tensor(o.b, o.bShape, 'f32', 'B');
      const c = gpu.empty([s.M, s.N], 'f32', 'C');
      const opts = { transA: s.transA, transB: s.transB, out: c, version: version === 'auto' ? undefined : version };
      return { run: () => void matmul(gpu, a, b, opts), dispose: () => [a, b, c].forEach((t) => t.release()) };
    },
  };
}

export const cases: BenchCase[] = [
  // The naive version at 2048 takes ~20 s a call on lavapipe: 1024 is its last row.
  ...SQUARE.filter((s) => s.M <= 1024).map((s) => matmulCase(s, 'naive')),
  ...SQUARE.map((s) => matmulCase(s, 'regblock')),
  ...SQUARE.filter((s) => s.M <= 1024).map((s) => matmulCase(s, 'regblock4')),
  ...DECODER.map((s) => matmulCase(s, 'auto')),
  ...DECODER.map((s) => matmulCase(s, 'regblock4')),
];
