// AdamW and gradient-norm clipping at a small decoder's sizes: the AdamW update
// of the tied embedding (49152 x 576 = 28.3M parameters) with a GPU clip
// scale, and the global gradient norm (+ clip factor) over the embedding and
// four decoder layers' weights (C = 576, MLP 1536, 3 KV heads of 64).
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { adamwStep, clipScale, gradNorm } from '../../src/ops/adamw.ts';

function data(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.9 + 0.05);
}

const C = 576, MLP = 1536, KV = 192, V = 49152;
const LAYER = [C * C, C * KV, C * KV, C * C, C * MLP, C * MLP, MLP * C, C, C];
const MODEL = [V * C, ...LAYER, ...LAYER, ...LAYER, ...LAYER];

function step(n: number): BenchCase {
  return {
    name: `adamw step (clip scale on GPU) [${n}]`,
    kernel: 'adamw',
    bytes: 4 * 7 * n, // read p, g, m, v; write p, m, v
    flops: 16 * n,
    setup(gpu: Gpu) {
      const param = gpu.tensor(data(n, 1), [n], 'f32', 'param');
      const grad = gpu.tensor(data(n, 2), [n], 'f32', 'grad');
      const m = gpu.zeros([n], 'f32', 'm');
      const v = gpu.zeros([n], 'f32', 'v');
      const scale = gpu.tensor([0.5], [1], 'f32', 'scale');
      let t = 0;
      return {
        run: () => adamwStep(gpu, { param, grad, m, v }, { lr: 1e-3, weightDecay: 0.1 }, ++t, scale),
        dispose: () => [param, grad, m, v, scale].forEach((x) => x.release()),
      };
    },
  };
}

function norm(sizes: number[]): BenchCase {
  const total = sizes.reduce((a, b) => a + b, 0);
  return {
    name: `gradNorm + clipScale over ${sizes.length} tensors, ${(total / 1e6).toFixed(1)}M values`,
    kernel: 'adamw',
    bytes: 4 * total, // the partials (1 per 4096 values) are negligible
    flops: 2 * total,
    setup(gpu: Gpu) {
      const grads = sizes.map((n, k) => gpu.tensor(data(n, k), [n], 'f32', `grad${k}`));
      return {
        run: () => {
          const g = gradNorm(gpu, grads);
          clipScale(gpu, g, 1.0).release();
          g.release();
        },
        dispose: () => grads.forEach((x) => x.release()),
      };
    },
  };
}

export const cases: BenchCase[] = [step(V * C), step(C * MLP), norm(MODEL)];
