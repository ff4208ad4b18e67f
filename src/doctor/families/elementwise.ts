// elementwise: axpby (add), scale, accumulate, mul, silu, swiglu, their backwards, and
// the bias add and its gradient, on n = 37 * 53 elements (not a multiple of
// the 256-invocation workgroup). Tolerances and scales are the tests'.
import * as ref from '../../../reference/elementwise.ts';
import * as ops from '../../ops/elementwise.ts';
import { compare, randomData, worstOf } from '../compare.ts';
import { COLS, ROWS, type KernelCheck, type Scope } from '../scope.ts';

// One or two float32 roundings; the activations' exp and division a few more.
const TOL = { rtol: 1e-5, atol: 1e-7 };
const TOL_ACT = { rtol: 2e-5, atol: 1e-7 };

const n = ROWS * COLS;
const shape = [ROWS, COLS];
const abs = (x: ArrayLike<number>) => Float64Array.from(x, Math.abs);

/** Seeded inputs: a, b, dy in ±[0.05, 1]; x for the activations in ±[0.01, 8] (both tails of sigmoid). */
function inputs(seed: number) {
  return { a: randomData(n, seed), b: randomData(n, seed + 1), dy: randomData(n, seed + 2), x: randomData(n, seed + 3, 0.01, 8) };
}

const up = (s: Scope, data: Float32Array) => s.tensor(data, shape);

/** silu'(x) has a cancellation near x = -1.28 (where it is 0): scale by its terms' size. */
const dsiluScale = (x: Float32Array, dy: Float32Array) => Float64Array.from(x, (v, i) => Math.abs(dy[i]) * (1 + Math.abs(v)));

export const elementwiseChecks: KernelCheck[] = [
  {
    family: 'elementwise', op: 'axpby (add)',
    run: async (s) => {
      const { a, b } = inputs(201);
      const ta = up(s, a), tb = up(s, b);
      const y = ops.axpby(s.gpu, 1.5, ta, -0.5, tb, s.poisoned(shape));
      return compare('y', await y.read(), ref.axpby(1.5, a, -0.5, b), TOL, Float64Array.from(a, (v, i) => Math.abs(1.5 * v) + Math.abs(0.5 * b[i])));
    },
  },
  {
    family: 'elementwise', op: 'scale',
    run: async (s) => {
      const { a } = inputs(211);
      const ta = up(s, a);
      const y = ops.scale(s.gpu, -0.75, ta, s.poisoned(shape));
      return compare('y', await y.read(), ref.scale(-0.75, a), TOL);
    },
  },
  {
    family: 'elementwise', op: 'accumulate (in place)',
    run: async (s) => {
      const { a, b } = inputs(215);
      const ta = up(s, a), y = up(s, b);
      ops.accumulate(s.gpu, y, ta, -0.75);
      return compare('y', await y.read(), ref.accumulate(b, a, -0.75), TOL, Float64Array.from(a, (v, i) => Math.abs(0.75 * v) + Math.abs(b[i])));
    },
  },
  {
    family: 'elementwise', op: 'mul',
    run: async (s) => {
      const { a, b } = inputs(221);
      const ta = up(s, a), tb = up(s, b);
      const y = ops.mul(s.gpu, ta, tb, s.poisoned(shape));
      return compare('y', await y.read(), ref.mul(a, b), TOL);
    },
  },
  {
    family: 'elementwise', op: 'mul backward',
    run: async (s) => {
      const { a, b, dy } = inputs(231);
      const ta = up(s, a), tb = up(s, b), tdy = up(s, dy);
      s.poisonPool(shape, 2); // mulBackward allocates da and db itself
      const { da, db } = ops.mulBackward(s.gpu, ta, tb, tdy);
      s.own(da);
      s.own(db);
      const want = ref.mulBackward(a, b, dy);
      return worstOf(compare('da', await da.read(), want.da, TOL), compare('db', await db.read(), want.db, TOL));
    },
  },
  {
    family: 'elementwise', op: 'silu',
    run: async (s) => {
      const { x } = inputs(241);
      const tx = up(s, x);
      const y = ops.silu(s.gpu, tx, s.poisoned(shape));
      return compare('y', await y.read(), ref.silu(x), TOL_ACT, abs(x));
    },
  },
  {
    family: 'elementwise', op: 'silu backward',
    run: async (s) => {
      const { x, dy } = inputs(251);
      const tx = up(s, x), tdy = up(s, dy);
      const dx = ops.siluBackward(s.gpu, tx, tdy, s.poisoned(shape));
      return compare('dx', await dx.read(), ref.siluBackward(x, dy), TOL_ACT, dsiluScale(x, dy));
    },
  },
  {
    family: 'elementwise', op: 'swiglu',
    run: async (s) => {
      const { x, b } = inputs(261);
      const tx = up(s, x), tb = up(s, b);
      const y = ops.swiglu(s.gpu, tx, tb, s.poisoned(shape));
      return compare('y', await y.read(), ref.swiglu(x, b), TOL_ACT, Float64Array.from(x, (v, i) => Math.abs(v * b[i])));
    },
  },
  {
    family: 'elementwise', op: 'swiglu backward',
    run: async (s) => {
      const { x, b, dy } = inputs(271);
      const tx = up(s, x), tb = up(s, b), tdy = up(s, dy);
      s.poisonPool(shape, 2); // swigluBackward allocates dg and du itself
      const { dg, du } = ops.swigluBackward(s.gpu, tx, tb, tdy);
      s.own(dg);
      s.own(du);
      const want = ref.swigluBackward(x, b, dy);
      const dgScale = Float64Array.from(dsiluScale(x, dy), (v, i) => v * Math.abs(b[i]));
      return worstOf(
        compare('dg', await dg.read(), want.dg, TOL_ACT, dgScale),
        compare('du', await du.read(), want.du, TOL_ACT, Float64Array.from(x, (v, i) => Math.abs(v * dy[i]))),
      );
    },
  },
  {
    family: 'elementwise', op: 'bias add',
    run: async (s) => {
      const { a } = inputs(281);
      const ta = up(s, a);
      const bias = randomData(COLS, 285);
      const y = ops.biasAdd(s.gpu, ta, s.tensor(bias, [COLS]), s.poisoned(shape));
      return compare('y', await y.read(), ref.biasAdd(a, bias, COLS), TOL, Float64Array.from(a, (v, i) => Math.abs(v) + Math.abs(bias[i % COLS])));
    },
  },
  {
    family: 'elementwise', op: 'bias grad',
    run: async (s) => {
      const { dy } = inputs(291);
      const tdy = up(s, dy);
      const db = ops.biasGrad(s.gpu, tdy, s.poisoned([COLS]));
      // A sum over the rows: the error grows with their number, relative to sum |terms|.
      return compare('db', await db.read(), ref.biasGrad(dy, ROWS, COLS), { rtol: 1e-5 * Math.log2(ROWS) }, ref.biasGrad(abs(dy), ROWS, COLS));
    },
  },
];
