// l2norm forward (y, norm) and backward (dx) on [37, 301]. The backward is
// given the reference y and norm, so it is checked on its own.
import * as ref from '../../../reference/l2norm.ts';
import * as ops from '../../ops/l2norm.ts';
import { compare, randomData, worstOf } from '../compare.ts';
import { ROWS, WIDE, type KernelCheck } from '../scope.ts';

// Row reductions in float32 (a strided sum, then a 256-way tree); the tests allow 1e-5.
const TOL = { rtol: 1e-5 };
const rows = ROWS, cols = WIDE, shape = [ROWS, WIDE], eps = 1e-12;

export const l2normChecks: KernelCheck[] = [
  {
    family: 'l2norm', op: 'forward',
    run: async (s) => {
      const x = randomData(rows * cols, 501);
      const { y, norm } = ops.l2norm(s.gpu, s.tensor(x, shape), eps, { y: s.poisoned(shape), norm: s.poisoned([rows]) });
      const want = ref.l2norm(x, rows, cols, eps);
      return worstOf(compare('y', await y.read(), want.y, TOL), compare('norm', await norm.read(), want.norm, TOL));
    },
  },
  {
    family: 'l2norm', op: 'backward',
    run: async (s) => {
      const x = randomData(rows * cols, 511), dy = randomData(rows * cols, 512);
      const f = ref.l2norm(x, rows, cols, eps);
      const dx = ops.l2normBackward(s.gpu, s.tensor(Float32Array.from(f.y), shape), s.tensor(Float32Array.from(f.norm), [rows]),
        s.tensor(dy, shape), eps, s.poisoned(shape));
      // dx = (dy - y dot(y, dy)) / ||x||: the error follows (|dy| + |y| sum |y dy|) / ||x||.
      const scale = new Float64Array(rows * cols);
      for (let i = 0; i < rows; i++) {
        let dot = 0;
        for (let c = 0; c < cols; c++) dot += Math.abs(f.y[i * cols + c] * dy[i * cols + c]);
        for (let c = 0; c < cols; c++) scale[i * cols + c] = (Math.abs(dy[i * cols + c]) + Math.abs(f.y[i * cols + c]) * dot) / f.norm[i];
      }
      return compare('dx', await dx.read(), ref.l2normBackward(x, dy, rows, cols, eps), TOL, scale);
    },
  },
];
