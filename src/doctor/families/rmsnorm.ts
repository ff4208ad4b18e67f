// rmsnorm forward (y, rstd) and backward (dx, dweight) on [131, 301]: rows
// past two 64-row blocks of the dweight partial sums, a row longer than one
// 256-invocation workgroup. The backward is given the reference rstd, so it
// is checked on its own, not through the forward.
import * as ref from '../../../reference/rmsnorm.ts';
import * as ops from '../../ops/rmsnorm.ts';
import { compare, randomData, worstOf } from '../compare.ts';
import { WIDE, type KernelCheck } from '../scope.ts';

// Row reductions in float32 (a strided sum, then a 256-way tree): a few ulps
// of the condition-aware scales below; the tests allow 1e-5.
const TOL = { rtol: 1e-5 };
const rows = 131, cols = WIDE, eps = 1e-5;

/** How large the float32 rounding of each output can grow (the tests' scales). */
function scales(x: Float32Array, w: Float32Array, dy: Float32Array) {
  return ref.rmsnormErrorScales(x, w, dy, rows, cols, eps);
}

function data(seed: number) {
  return { x: randomData(rows * cols, seed), w: randomData(cols, seed + 1, 0.05, 2), dy: randomData(rows * cols, seed + 2) };
}

export const rmsnormChecks: KernelCheck[] = [
  {
    family: 'rmsnorm', op: 'forward',
    run: async (s) => {
      const { x, w, dy } = data(401);
      const { y, rstd } = ops.rmsnorm(s.gpu, s.tensor(x, [rows, cols]), s.tensor(w, [cols]), eps,
        { y: s.poisoned([rows, cols]), rstd: s.poisoned([rows]) });
      const want = ref.rmsnorm(x, w, rows, cols, eps);
      return worstOf(compare('y', await y.read(), want.y, TOL, scales(x, w, dy).y), compare('rstd', await rstd.read(), want.rstd, TOL));
    },
  },
  {
    family: 'rmsnorm', op: 'backward',
    run: async (s) => {
      const { x, w, dy } = data(411);
      const rstd = Float32Array.from(ref.rmsnorm(x, w, rows, cols, eps).rstd);
      const { dx, dweight } = ops.rmsnormBackward(s.gpu, s.tensor(x, [rows, cols]), s.tensor(w, [cols]), s.tensor(rstd, [rows]),
        s.tensor(dy, [rows, cols]), { dx: s.poisoned([rows, cols]), dweight: s.poisoned([cols]) });
      const want = ref.rmsnormBackward(x, w, dy, rows, cols, eps);
      const sc = scales(x, w, dy);
      return worstOf(compare('dx', await dx.read(), want.dx, TOL, sc.dx), compare('dweight', await dweight.read(), want.dweight, TOL, sc.dw));
    },
  },
];
