// LoRA forward and backward at SmolLM2-135M shapes (2048 tokens, C = 576,
// MLP 1536, rank 64, dropout 0.1, no bias like its projections): the fused
// path (one two-part register-blocked dispatch for y and for dx) against the
// unfused one (separate matmuls accumulating with beta = 1). The plain base
// matmul x W^T at the same shape is the "matmul auto" row of the matmul family.
// Outputs are preallocated; the backward's du and the dropout temporaries come
// from the pool.
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { loraForward, loraBackward, loraScale, type LoraSaved, type LoraWeights } from '../../src/ops/lora.ts';

function data(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
}

interface Shape {
  name: string;
  N: number;
  inF: number;
  outF: number;
  r: number;
  p: number;
}

const SHAPES: Shape[] = [
  { name: 'q_proj [2048x576]->576 r64', N: 2048, inF: 576, outF: 576, r: 64, p: 0.1 },
  { name: 'up/gate [2048x576]->1536 r64', N: 2048, inF: 576, outF: 1536, r: 64, p: 0.1 },
];

function setupInputs(gpu: Gpu, s: Shape) {
  const x = gpu.tensor(data(s.N * s.inF, 1), [s.N, s.inF], 'f32', 'x');
  const w: LoraWeights = {
    W: gpu.tensor(data(s.outF * s.inF, 2), [s.outF, s.inF], 'f32', 'W'),
    A: gpu.tensor(data(s.r * s.inF, 3), [s.r, s.inF], 'f32', 'A'),
    B: gpu.tensor(data(s.outF * s.r, 4), [s.outF, s.r], 'f32', 'B'),
    scale: loraScale(128, s.r),
    dropout: { p: s.p, seed: 1234 },
  };
  const y = gpu.empty([s.N, s.outF], 'f32', 'y');
  const dy = gpu.tensor(data(s.N * s.outF, 5), [s.N, s.outF], 'f32', 'dy');
  const dx = gpu.empty([s.N, s.inF], 'f32', 'dx');
  const dA = gpu.empty([s.r, s.inF], 'f32', 'dA');
  const dB = gpu.empty([s.outF, s.r], 'f32', 'dB');
  const all = [x, w.W, w.A, w.B, y, dy, dx, dA, dB];
  return { x, w, y, dy, dx, dA, dB, dispose: () => all.forEach((t) => t.release()) };
}

function forwardCase(s: Shape, fused: boolean): BenchCase {
  const { N, inF, outF, r } = s;
  return {
    name: `lora forward ${fused ? 'fused' : 'unfused'} ${s.name} p${s.p}`,
    kernel: 'lora',
    flops: 2 * N * inF * outF + 2 * N * inF * r + 2 * N * r * outF,
    // dropout: read x, write xd; u: read xd, A, write su; y: read x, W, su, B (+ y twice unfused), write y.
    bytes: 4 * (2 * N * inF + (N * inF + r * inF + N * r) + (N * inF + outF * inF + N * r + outF * r + N * outF) + (fused ? 0 : 2 * N * outF)),
    setup(gpu) {
      const t = setupInputs(gpu, s);
      return {
        run: () => loraForward(gpu, t.x, t.w, { out: t.y, fused }).saved.release(),
        dispose: t.dispose,
      };
    },
  };
}

function backwardCase(s: Shape, fused: boolean): BenchCase {
  const { N, inF, outF, r } = s;
  return {
    name: `lora backward ${fused ? 'fused' : 'unfused'} ${s.name} p${s.p}`,
    kernel: 'lora',
    // du, dB, dA (+ the dropout recompute), dx = dy W + dropout'(du A).
    flops: 2 * N * outF * r * 2 + 2 * N * r * inF + 2 * N * outF * inF + 2 * N * r * inF,
    bytes: 4 * ((N * outF + outF * r + N * r) + (N * outF + N * r + outF * r) + 2 * N * inF + (N * r + N * inF + r * inF)
      + (N * outF + outF * inF + N * r + r * inF + N * inF) + (fused ? 0 : 4 * N * inF)),
    setup(gpu) {
      const t = setupInputs(gpu, s);
      let saved: LoraSaved | null = loraForward(gpu, t.x, t.w, { out: t.y }).saved;
      return {
        run: () => void loraBackward(gpu, saved!, t.dy, { dx: t.dx, dA: t.dA, dB: t.dB, fused }),
        dispose: () => {
          saved?.release();
          saved = null;
          t.dispose();
        },
      };
    },
  };
}

export const cases: BenchCase[] = SHAPES.flatMap((s) => [
  forwardCase(s, true),
  forwardCase(s, false),
  backwardCase(s, true),
  backwardCase(s, false),
]);
