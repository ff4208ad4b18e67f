// matmul at square sizes 256-2048 and at a small decoder's shapes
// (SmolLM2-135M: C = 576, MLP 1536, 2048 tokens per step), every version side
// by side, "auto" being the planner's choice (src/ops/matmul.ts). Linear
// layers are y = x W^T with W [out, in]: transB. Also: the weights stored as
// f16 (shader-f16), and LoRA's skinny gradient dA = du^T x [8, 576] over 8192
// tokens with and without split-K.
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

/** LoRA's dA = du^T dropout(x): r = 8 rows, 576 columns, summed over 8192 tokens. */
export const SKINNY: MatmulShape[] = [
  { name: 'LoRA dA = du^T x [8192x8]^T x [8192x576]', M: 8, N: 576, K: 8192, transA: true, transB: false },
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

interface Variant {
  version: MatmulVersion | 'auto';
  /** B (the weight) stored as f16. */
  half?: boolean;
  /** Force split-K chunks (1 = off). */
  splits?: number;
}

function matmulCase(s: MatmulShape, v: Variant): BenchCase {
  const label = `${v.version}${v.half ? ' f16 B' : ''}${v.splits === undefined ? '' : v.splits === 1 ? ' no split-K' : ` split-K ${v.splits}`}`;
  return {
    name: `matmul ${label} ${s.name}`,
    kernel: 'matmul',
    flops: shapeFlops(s),
    bytes: 4 * (s.M * s.K + s.M * s.N) + (v.half ? 2 : 4) * s.K * s.N,
    unsupported(gpu: Gpu) {
      if (v.half && !gpu.hasFeature('shader-f16')) return 'no shader-f16';
      if (v.version === 'regblock_sg' && gpu.subgroupSize !== (gpu.isCpuAdapter ? 8 : 64)) return `subgroup size ${gpu.subgroupSize ?? 'not fixed'}`;
      return null;
    },
    setup(gpu: Gpu) {
      const o = operands(s);
      const a = gpu.tensor(o.a, o.aShape, 'f32', 'A');
      const b = gpu.tensor(o.b, o.bShape, v.half ? 'f16' : 'f32', 'B');
      const c = gpu.empty([s.M, s.N], 'f32', 'C');
      const opts = { transA: s.transA, transB: s.transB, out: c, version: v.version === 'auto' ? undefined : v.version, splits: v.splits };
      return { run: () => void matmul(gpu, a, b, opts), dispose: () => [a, b, c].forEach((t) => t.release()) };
    },
  };
}

const LINEAR = DECODER.filter((s) => s.transB);

export const cases: BenchCase[] = [
  // The naive version at 2048 takes ~20 s a call on lavapipe: 1024 is its last row.
  ...SQUARE.filter((s) => s.M <= 1024).map((s) => matmulCase(s, { version: 'naive' })),
  ...SQUARE.map((s) => matmulCase(s, { version: 'regblock' })),
  ...SQUARE.filter((s) => s.M <= 1024).map((s) => matmulCase(s, { version: 'regblock4' })),
  ...SQUARE.map((s) => matmulCase(s, { version: 'regblock_sg' })),
  ...SQUARE.map((s) => matmulCase(s, { version: 'auto' })),
  ...DECODER.map((s) => matmulCase(s, { version: 'auto' })),
  ...DECODER.map((s) => matmulCase(s, { version: 'regblock' })),
  ...DECODER.map((s) => matmulCase(s, { version: 'regblock4' })),
  ...LINEAR.map((s) => matmulCase(s, { version: 'auto', half: true })),
  ...SKINNY.flatMap((s) => [1, 4, 16].map((splits) => matmulCase(s, { version: 'auto', splits }))),
];
