// Last-token and masked-mean pooling, forward and backward, over hidden states
// [8, 256, 576] (2048 tokens) with a right-padded mask. Outputs are
// preallocated so run() allocates nothing (meanPoolBackward's per-row
// denominators come from the pool).
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { lastTokenPool, lastTokenPoolBackward, meanPool, meanPoolBackward } from '../../src/ops/pooling.ts';

const B = 8, T = 256, C = 576;

function inputs(gpu: Gpu) {
  const h = gpu.tensor(Float32Array.from({ length: B * T * C }, (_, i) => Math.sin(i * 0.37)), [B, T, C], 'f32', 'h');
  const mask = gpu.tensor(Int32Array.from({ length: B * T }, (_, i) => (i % T < T - 16 * (i / T | 0) ? 1 : 0)), [B, T], 'i32', 'mask');
  const dy = gpu.tensor(Float32Array.from({ length: B * C }, (_, i) => Math.cos(i * 0.11)), [B, C], 'f32', 'dy');
  const out = gpu.empty([B, C], 'f32', 'out');
  const index = gpu.empty([B], 'i32', 'index');
  const dh = gpu.empty([B, T, C], 'f32', 'dh');
  return { h, mask, dy, out, index, dh, dispose: () => [h, mask, dy, out, index, dh].forEach((t) => t.release()) };
}

export const cases: BenchCase[] = [
  {
    name: `lastTokenPool forward [${B}, ${T}, ${C}]`,
    kernel: 'pooling',
    bytes: 4 * (B * T + 2 * B * C + B), // read mask and the chosen rows; write out, index
    setup(gpu) {
      const t = inputs(gpu);
      return { run: () => void lastTokenPool(gpu, t.h, t.mask, { out: t.out, index: t.index }), dispose: t.dispose };
    },
  },
  {
    name: `lastTokenPool backward [${B}, ${T}, ${C}]`,
    kernel: 'pooling',
    bytes: 4 * (B + B * C + B * T * C), // read index, dy; write dh
    setup(gpu) {
      const t = inputs(gpu);
      lastTokenPool(gpu, t.h, t.mask, { out: t.out, index: t.index });
      return { run: () => void lastTokenPoolBackward(gpu, t.index, t.dy, T, t.dh), dispose: t.dispose };
    },
  },
  {
    name: `meanPool forward [${B}, ${T}, ${C}]`,
    kernel: 'pooling',
    bytes: 4 * (B * T + B * T * C + B * C), // read mask, h; write out
    flops: B * T * C,
    setup(gpu) {
      const t = inputs(gpu);
      return { run: () => void meanPool(gpu, t.h, t.mask, t.out), dispose: t.dispose };
    },
  },
  {
    name: `meanPool backward [${B}, ${T}, ${C}]`,
    kernel: 'pooling',
    // denominators: read mask, write [B]; dh: read mask, den, dy; write dh
    bytes: 4 * (B * T + B) + 4 * (B * T + B + B * C + B * T * C),
    flops: B * T * C,
    setup(gpu) {
      const t = inputs(gpu);
      return { run: () => void meanPoolBackward(gpu, t.mask, t.dy, t.dh), dispose: t.dispose };
    },
  },
];
