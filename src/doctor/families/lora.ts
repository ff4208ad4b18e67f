// lora: y = x W^T + b + s * dropout(x) A^T B^T on x [2, 7, in 29] (leading
// dims flattened to N = 14 tokens), W [out 37, 29], b [37], A [r 4, 29],
// B [37, 4], rsLoRA scale, dropout p = 0.25; and its backward dx, dA, dB.
// The forward runs the dropout kernel, a matmul (su = s dropout(x) A^T) and
// the fused bias entry point; the backward three matmuls and the fused entry
// point that recomputes the dropout mask. The backward is given the
// reference su, so it is checked on its own.
// Shapes keep every matmul at M N K <= 16^3, so the planner picks the naive
// version, and the fused kernel runs with a forced 4 x 2 register tile: the
// planned 16 x 8 tile takes ~10 s to compile cold on lavapipe (the test suite
// covers it).
import * as ref from '../../../reference/lora.ts';
import * as ops from '../../ops/lora.ts';
import { compare, randomData, worstOf } from '../compare.ts';
import type { KernelCheck, Scope } from '../scope.ts';

// The tests' tolerance (test/lora.test.ts): 1e-4 relative to the sum of
// |terms| of the whole expression, i.e. the reference run on |inputs| with
// the same dropout mask (which covers the rounding of su and du too).
const TOL = { rtol: 1e-4 };
const SMALL_TILE = { TM: 4, TN: 2 };
const lead = [2, 7], N = 14, inF = 29, outF = 37, r = 4;
const dims = { N, inF, outF, r };
const scale = ops.loraScale(16, r, true);
const drop = { p: 0.25, seed: 0x9e3779b9 };

const abs = (a: ArrayLike<number>) => Float64Array.from(a, Math.abs);

function data(seed: number) {
  const x = randomData(N * inF, seed), dy = randomData(N * outF, seed + 1);
  const W = randomData(outF * inF, seed + 2), b = randomData(outF, seed + 3);
  const A = randomData(r * inF, seed + 4), B = randomData(outF * r, seed + 5);
  const w: ref.LoraWeights = { W, b, A, B, scale, dropout: drop };
  const wAbs: ref.LoraWeights = { W: abs(W), b: abs(b), A: abs(A), B: abs(B), scale: Math.abs(scale), dropout: drop };
  return { x, dy, w, wAbs };
}

function weights(s: Scope, w: ref.LoraWeights): ops.LoraWeights {
  return {
    W: s.tensor(w.W, [outF, inF]), b: s.tensor(w.b!, [outF]), A: s.tensor(w.A, [r, inF]), B: s.tensor(w.B, [outF, r]),
    scale, dropout: drop,
  };
}

export const loraChecks: KernelCheck[] = [
  {
    family: 'lora', op: 'forward (bias, dropout 0.25)',
    run: async (s) => {
      const d = data(1201);
      const x = s.tensor(d.x, [...lead, inF]), w = weights(s, d.w), out = s.poisoned([...lead, outF]);
      // The op allocates dropout(x) [N, in] and su [N, r] itself (two pool size
      // classes); poisoned after the inputs, which would take them otherwise.
      s.poisonPool([N, inF], 1);
      s.poisonPool([N, r], 1);
      const { y, saved } = ops.loraForward(s.gpu, x, w, { out, tile: SMALL_TILE });
      s.own(saved.su);
      const want = ref.loraForward(dims, d.x, d.w);
      const mag = ref.loraForward(dims, abs(d.x), d.wAbs);
      return worstOf(
        compare('y', await y.read(), want.y, TOL, mag.y),
        compare('su', await saved.su.read(), want.u.map((u) => u * scale), TOL, mag.u.map((u) => u * Math.abs(scale))),
      );
    },
  },
  {
    family: 'lora', op: 'backward dx dA dB (dropout 0.25)',
    run: async (s) => {
      const d = data(1211);
      const x = s.tensor(d.x, [...lead, inF]);
      const su = s.tensor(Float32Array.from(ref.loraForward(dims, d.x, d.w).u, (u) => u * scale), [N, r]);
      const saved: ops.LoraSaved = { x, weights: weights(s, d.w), su, dims, release: () => su.release() };
      const dy = s.tensor(d.dy, [...lead, outF]);
      const out = { dx: s.poisoned([...lead, inF]), dA: s.poisoned([r, inF]), dB: s.poisoned([outF, r]) };
      // The op allocates du = s dy B [N, r] and dropout(x) [N, in] and reads them
      // back (dA, dx): poisoned, so that one left unwritten cannot pass by
      // holding a stale copy of the right values from an earlier run.
      s.poisonPool([N, r], 1);
      s.poisonPool([N, inF], 1);
      const g = ops.loraBackward(s.gpu, saved, dy, { ...out, tile: SMALL_TILE });
      const want = ref.loraBackward(dims, d.x, d.w, d.dy);
      const mag = ref.loraBackward(dims, abs(d.x), d.wAbs, abs(d.dy));
      return worstOf(
        compare('dx', await g.dx.read(), want.dx, TOL, mag.dx),
        compare('dA', await g.dA.read(), want.dA, TOL, mag.dA),
        compare('dB', await g.dB.read(), want.dB, TOL, mag.dB),
      );
    },
  },
];
