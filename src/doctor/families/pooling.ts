// pooling: last-token and masked-mean pooling of h [B 5, T 37, C 70] and
// their backwards. The mask mixes left padding, right padding, an empty row
// (no valid token: index -1, zero output) and arbitrary non-zero values.
import * as ref from '../../../reference/pooling.ts';
import * as ops from '../../ops/pooling.ts';
import { compare, randomData, worstOf } from '../compare.ts';
import { ROWS, type KernelCheck } from '../scope.ts';

const B = 5, T = ROWS, C = 70; // C past one 64-column workgroup of the mean
const EXACT = { rtol: 0 }; // last-token pooling and its backward copy values
const TOL = { rtol: 1e-5 }; // the mean: a float32 sum over t, then one division

/** Rows: left-padded (length 20), empty, right-padded (length 9), full, and a scattered row of the non-zero values 7 and -1. */
function makeMask(): Int32Array {
  const mask = new Int32Array(B * T);
  for (let t = 0; t < T; t++) {
    mask[0 * T + t] = t >= T - 20 ? 1 : 0;
    mask[2 * T + t] = t < 9 ? 1 : 0;
    mask[3 * T + t] = 1;
    mask[4 * T + t] = t % 3 === 0 ? 0 : [1, 7, -1][t % 3];
  }
  return mask;
}

export const poolingChecks: KernelCheck[] = [
  {
    family: 'pooling', op: 'last token',
    run: async (s) => {
      const h = randomData(B * T * C, 901), mask = makeMask();
      const { out, index } = ops.lastTokenPool(s.gpu, s.tensor(h, [B, T, C]), s.tensor(mask, [B, T], 'i32'),
        { out: s.poisoned([B, C]), index: s.poisoned([B], 'i32') });
      const want = ref.lastTokenPool(h, mask, B, T, C);
      return worstOf(compare('index', await index.read(), want.index, EXACT), compare('out', await out.read(), want.out, EXACT));
    },
  },
  {
    family: 'pooling', op: 'last token backward',
    run: async (s) => {
      const dy = randomData(B * C, 911);
      const { index } = ref.lastTokenPool(new Float64Array(B * T * C), makeMask(), B, T, C);
      const dh = ops.lastTokenPoolBackward(s.gpu, s.tensor(index, [B], 'i32'), s.tensor(dy, [B, C]), T, s.poisoned([B, T, C]));
      return compare('dh', await dh.read(), ref.lastTokenPoolBackward(index, dy, B, T, C), EXACT);
    },
  },
  {
    family: 'pooling', op: 'mean',
    run: async (s) => {
      const h = randomData(B * T * C, 921), mask = makeMask();
      const out = ops.meanPool(s.gpu, s.tensor(h, [B, T, C]), s.tensor(mask, [B, T], 'i32'), s.poisoned([B, C]));
      const scale = ref.meanPool(Float64Array.from(h, Math.abs), mask, B, T, C);
      return compare('out', await out.read(), ref.meanPool(h, mask, B, T, C), TOL, scale);
    },
  },
  {
    family: 'pooling', op: 'mean backward',
    run: async (s) => {
      const dy = randomData(B * C, 931), mask = makeMask();
      const dh = ops.meanPoolBackward(s.gpu, s.tensor(mask, [B, T], 'i32'), s.tensor(dy, [B, C]), s.poisoned([B, T, C]));
      return compare('dh', await dh.read(), ref.meanPoolBackward(mask, dy, B, T, C), TOL);
    },
  },
];
