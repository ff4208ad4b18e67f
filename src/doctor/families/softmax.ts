// softmax over rows of WIDE = 301 columns (past one 256-invocation
// workgroup): plain, with a full additive mask, and the backward.
import * as ref from '../../../reference/softmax.ts';
import * as ops from '../../ops/softmax.ts';
import { compare, randomData, rng } from '../compare.ts';
import { ROWS, WIDE, type KernelCheck } from '../scope.ts';

// An error e in v = x + mask moves y by about y * e, and rounding x + mask and
// v - max costs eps * (|v| + max |v|); the tests' bound is
// rtol * y * (1 + |v| + max over the row's unmasked |v|). atol covers results
// below float32's normal range, which the GPU may flush to zero.
const TOL = { rtol: 1e-5, atol: 1e-37 };
const rows = ROWS, cols = WIDE, shape = [ROWS, WIDE];

function softmaxScale(y: Float64Array, x: ArrayLike<number>, mask?: ArrayLike<number>): Float64Array {
  const s = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const v = (c: number) => Math.abs(x[r * cols + c] + (mask ? mask[r * cols + c] : 0));
    let big = 0;
    for (let c = 0; c < cols; c++) if (y[r * cols + c] > 0) big = Math.max(big, v(c));
    for (let c = 0; c < cols; c++) s[r * cols + c] = y[r * cols + c] * (1 + v(c) + big);
  }
  return s;
}

/** A mask [rows, cols] of small offsets, -1e9, the -3e38 and -inf sentinels, and row 5 masked entirely (it must give zeros). */
function maskData(seed: number): Float32Array {
  const r = rng(seed);
  const k = randomData(rows * cols, seed + 1, 0.01, 2);
  for (let i = 0; i < k.length; i++) {
    const u = r();
    if (u < 0.1) k[i] = -1e9;
    else if (u < 0.2) k[i] = -3e38;
    else if (u < 0.25) k[i] = -Infinity;
  }
  k.fill(-3e38, 5 * cols, 6 * cols);
  return k;
}

export const softmaxChecks: KernelCheck[] = [
  {
    family: 'softmax', op: 'forward',
    run: async (s) => {
      const x = randomData(rows * cols, 301, 0.05, 8);
      const y = ops.softmax(s.gpu, s.tensor(x, shape), { out: s.poisoned(shape) });
      const want = ref.softmax(x, rows, cols);
      return compare('y', await y.read(), want, TOL, softmaxScale(want, x));
    },
  },
  {
    family: 'softmax', op: 'masked',
    run: async (s) => {
      const x = randomData(rows * cols, 311, 0.05, 8), k = maskData(312);
      const y = ops.softmax(s.gpu, s.tensor(x, shape), { mask: s.tensor(k, shape), out: s.poisoned(shape) });
      const want = ref.softmax(x, rows, cols, k, rows);
      return compare('y', await y.read(), want, TOL, softmaxScale(want, x, k));
    },
  },
  {
    family: 'softmax', op: 'backward',
    run: async (s) => {
      const y = Float32Array.from(ref.softmax(randomData(rows * cols, 321, 0.05, 4), rows, cols));
      y.fill(0, 0, cols); // a fully masked forward row: its gradient must be 0
      const dy = randomData(rows * cols, 322);
      const dx = ops.softmaxBackward(s.gpu, s.tensor(y, shape), s.tensor(dy, shape), s.poisoned(shape));
      // dx = y (dy - sum(dy y)): the error follows y (|dy| + sum |dy y|).
      const scale = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        let d = 0;
        for (let c = 0; c < cols; c++) d += Math.abs(dy[r * cols + c] * y[r * cols + c]);
        for (let c = 0; c < cols; c++) scale[r * cols + c] = y[r * cols + c] * (Math.abs(dy[r * cols + c]) + d);
      }
      return compare('dx', await dx.read(), ref.softmaxBackward(y, dy, rows, cols), TOL, scale);
    },
  },
];
