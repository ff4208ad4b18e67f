// Benchmarks for kernels/softmax.wgsl at the attention shapes of a small
// decoder: H = 9 heads, T = 1024 tokens, scores [H*T, T], causal mask [T, T]
// shared by every head (row r uses mask row r % T).
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { softmax, softmaxBackward } from '../../src/ops/softmax.ts';

const H = 9;
const T = 1024;
const ROWS = H * T;

function scores(gpu: Gpu, label: string): Tensor {
  const x = new Float32Array(ROWS * T);
  for (let i = 0; i < x.length; i++) x[i] = 4 * Math.sin(i * 0.618);
  return gpu.tensor(x, [ROWS, T], 'f32', label);
}

function causalMask(gpu: Gpu): Tensor {
  const k = new Float32Array(T * T);
  for (let r = 0; r < T; r++) k.fill(-3e38, r * T + r + 1, (r + 1) * T);
  return gpu.tensor(k, [T, T], 'f32', 'mask');
}

const scoreBytes = ROWS * T * 4;

export const cases: BenchCase[] = [
  {
    name: `softmax scores [${H}*${T}, ${T}]`,
    kernel: 'softmax',
    bytes: 2 * scoreBytes,
    setup(gpu) {
      const x = scores(gpu, 'scores');
      const y = gpu.empty([ROWS, T], 'f32', 'probs');
      return { run: () => void softmax(gpu, x, { out: y }), dispose: () => [x, y].forEach((t) => t.release()) };
    },
  },
  {
    name: `softmax causal-masked scores [${H}*${T}, ${T}] mask [${T}, ${T}]`,
    kernel: 'softmax',
    bytes: 2 * scoreBytes + T * T * 4,
    setup(gpu) {
      const x = scores(gpu, 'scores');
      const mask = causalMask(gpu);
      const y = gpu.empty([ROWS, T], 'f32', 'probs');
      return { run: () => void softmax(gpu, x, { mask, out: y }), dispose: () => [x, mask, y].forEach((t) => t.release()) };
    },
  },
  {
    name: `softmax backward [${H}*${T}, ${T}]`,
    kernel: 'softmax',
    bytes: 3 * scoreBytes,
    setup(gpu) {
      const x = scores(gpu, 'scores');
      const y = softmax(gpu, x);
      const dy = scores(gpu, 'dprobs');
      const dx = gpu.empty([ROWS, T], 'f32', 'dscores');
      return { run: () => void softmaxBackward(gpu, y, dy, dx), dispose: () => [x, y, dy, dx].forEach((t) => t.release()) };
    },
  },
];
