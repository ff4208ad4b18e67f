// adamw: one optimizer step from a mid-training state (step 3, non-zero
// moments, weight decay, a clip factor), the gradient norm over two tensors
// (one past a 4096-element chunk), the clip factor, and the kernel file's SGD
// step (torch semantics: momentum from a non-zero buffer, coupled decay, a
// clip factor; and plain SGD, which must leave its unused buffer alone).
import * as ref from '../../../reference/adamw.ts';
import * as ops from '../../ops/adamw.ts';
import { compare, randomData, worstOf } from '../compare.ts';
import { COLS, ROWS, type KernelCheck } from '../scope.ts';

const n = ROWS * COLS;
const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
// A few float32 roundings per element on p, m and v (the tests allow 2e-6 on
// p relative to |p| + 5 lr, 5e-6 on m and v); the norm is a sum of positive
// squares, under 1e-5.
const TOL_P = { rtol: 2e-6 };
const TOL_MV = { rtol: 5e-6 };
const TOL_NORM = { rtol: 1e-5 };
// SGD: d = mu b + g s + wd p, p - lr d: a few roundings relative to the sum of
// |terms| (the tests allow 1e-6 on p relative to |p| + 4 steps of lr).
const TOL_SGD = { rtol: 1e-6 };
const sgd = { lr: 0.05, momentum: 0.9, weightDecay: 0.01 };

export const adamwChecks: KernelCheck[] = [
  {
    family: 'adamw', op: 'step',
    run: async (s) => {
      const step = 3, clip = 0.375; // an exact float32, as a clip factor read from the GPU would be
      const p = randomData(n, 1001), g = randomData(n, 1002), m = randomData(n, 1003, 0.01, 0.5);
      const v = randomData(n, 1004, 0.01, 0.5).map((x) => x * x); // second moments are positive
      const state = { param: s.tensor(p, [n]), grad: s.tensor(g, [n]), m: s.tensor(m, [n]), v: s.tensor(v, [n]) };
      ops.adamwStep(s.gpu, state, hyper, step, s.tensor([clip], [1]));
      const want = ref.adamwStep(p, g, m, v, hyper, step, clip);
      const mScale = Float64Array.from(m, (x, i) => hyper.beta1 * Math.abs(x) + (1 - hyper.beta1) * Math.abs(g[i] * clip));
      return worstOf(
        compare('p', await state.param.read(), want.p, TOL_P, Float64Array.from(want.p, (x) => Math.abs(x) + 5 * hyper.lr)),
        compare('m', await state.m.read(), want.m, TOL_MV, mScale),
        compare('v', await state.v.read(), want.v, TOL_MV),
      );
    },
  },
  {
    family: 'adamw', op: 'grad norm',
    run: async (s) => {
      const a = randomData(n, 1011), b = randomData(5003, 1012);
      // gradNorm allocates its output itself; its partial sums [3] take the same
      // 16-byte pool size class, so leave two poisoned buffers there.
      s.poisonPool([1], 2);
      const norm = s.own(ops.gradNorm(s.gpu, [s.tensor(a, [n]), s.tensor(b, [5003])]));
      return compare('norm', await norm.read(), [ref.gradNorm([a, b])], TOL_NORM);
    },
  },
  {
    family: 'adamw', op: 'clip',
    run: async (s) => {
      // One norm above maxNorm (factor < 1) and one below (factor exactly 1).
      const maxNorm = 1.5;
      const big = s.tensor([3.7], [1]), small = s.tensor([0.25], [1]);
      const clipped = ops.clipScale(s.gpu, big, maxNorm, s.poisoned([1]));
      const unclipped = ops.clipScale(s.gpu, small, maxNorm, s.poisoned([1]));
      return worstOf(
        compare('clipped', await clipped.read(), [ref.clipScale(Math.fround(3.7), maxNorm)], TOL_NORM),
        compare('unclipped', await unclipped.read(), [1], { rtol: 0 }),
      );
    },
  },
  {
    family: 'adamw', op: 'sgd step (momentum, decay, clip; plain)',
    run: async (s) => {
      const clip = 0.375;
      const p = randomData(n, 1021), g = randomData(n, 1022), b = randomData(n, 1023, 0.01, 0.5);
      const state = { param: s.tensor(p, [n]), grad: s.tensor(g, [n]), buf: s.tensor(b, [n]) };
      ops.sgdStep(s.gpu, state, sgd, s.tensor([clip], [1]));
      const f = Math.fround;
      const want = ref.sgdStep(p, g, b, f(sgd.lr), f(sgd.momentum), f(sgd.weightDecay), clip);
      const dScale = Float64Array.from(p, (x, i) => sgd.momentum * Math.abs(b[i]) + Math.abs(g[i] * clip) + sgd.weightDecay * Math.abs(x));
      // Plain SGD (no momentum, no decay, no clip) never reads or writes its buffer: a NaN one must stay NaN.
      const plain = { param: s.tensor(p, [n]), grad: s.tensor(g, [n]), buf: s.poisoned([n]) };
      ops.sgdStep(s.gpu, plain, { lr: sgd.lr });
      const wantPlain = ref.sgdStep(p, g, new Float64Array(n), f(sgd.lr), 0, 0);
      return worstOf(
        compare('p', await state.param.read(), want.p, TOL_SGD, Float64Array.from(p, (x, i) => Math.abs(x) + sgd.lr * dScale[i])),
        compare('b', await state.buf.read(), want.b, TOL_SGD, dScale),
        compare('p (plain)', await plain.param.read(), wantPlain.p, TOL_SGD, Float64Array.from(p, (x, i) => Math.abs(x) + sgd.lr * Math.abs(g[i]))),
        compare('b (plain, unused)', await plain.buf.read(), new Float64Array(n).fill(NaN), { rtol: 0 }),
      );
    },
  },
];
