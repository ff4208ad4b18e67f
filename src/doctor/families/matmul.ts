// matmul: each version (naive, regblock, regblock4), both transposes and the
// backward, compiling only four pipelines. Every (version, transposes,
// register tile) is its own pipeline, and lavapipe's LLVM compile grows
// steeply with the tile: cold, the planner's 16 x 8 tile takes 9-13 s, 4 x 2
// or 4 x 4 well under 1 s. So the register-blocked versions run with forced
// small tiles (the same code, unrolled less; the test suite covers 16 x 8),
// and the backward uses shapes small enough for the planner to pick naive,
// reusing the naive check's pipeline for dX and adding naive with transA for dW.
import * as ref from '../../../reference/matmul.ts';
import { matmul, matmulBackward, type MatmulVersion } from '../../ops/matmul.ts';
import { compare, randomData, worstOf, type Comparison } from '../compare.ts';
import { COLS, ROWS, type KernelCheck, type Scope } from '../scope.ts';

// A float32 dot product of length K summed in order is within ~K * 2^-24 of
// sum_k |a_k b_k|; the tests allow 1e-4 of that (K up to ~1000).
const TOL = { rtol: 1e-4 };

interface Case {
  version: MatmulVersion;
  M: number;
  N: number;
  K: number;
  transB?: boolean;
  tile?: { TM: number; TN: number };
}

/** C = A op(B) with a forced version and tile, against the reference (scaled by sum |a b|). */
async function forward(s: Scope, c: Case, seed: number): Promise<Comparison> {
  const { M, N, K } = c;
  const transB = c.transB ?? false;
  const a = randomData(M * K, seed), b = randomData(K * N, seed + 1);
  const ta = s.tensor(a, [M, K]), tb = s.tensor(b, transB ? [N, K] : [K, N]);
  const out = s.poisoned([M, N]);
  matmul(s.gpu, ta, tb, { transB, version: c.version, tile: c.tile, out });
  const L: ref.MatmulLayout = { M, N, K, batch: 1, transA: false, transB, lda: K, ldb: transB ? K : N, ldc: N,
    strideA: 0, strideB: 0, strideC: 0, alpha: 1, beta: 0 };
  const want = ref.matmul(L, a, b, null, M * N);
  return compare('C', await out.read(), want.c, TOL, want.magnitude);
}

// The backward of y = x W^T (x [BM, BK], W [BN, BK]): BM * BN * BK <= 16^3,
// so the planner runs both products with the naive version.
const BM = 11, BN = 13, BK = 23;

export const matmulChecks: KernelCheck[] = [
  // M and N are primes: partial 8 x 8 workgroups and partial register tiles at both edges.
  { family: 'matmul', op: 'naive', run: (s) => forward(s, { version: 'naive', M: ROWS, N: COLS, K: 29 }, 101) },
  { family: 'matmul', op: 'regblock (tile 4x2)', run: (s) => forward(s, { version: 'regblock', M: ROWS, N: COLS, K: 29, tile: { TM: 4, TN: 2 } }, 111) },
  // y = x W^T, the Linear layer; K = 20 so that the vec4 loads apply.
  {
    family: 'matmul', op: 'regblock4 x W^T (transB, tile 4x4)',
    run: (s) => forward(s, { version: 'regblock4', M: ROWS, N: COLS, K: 20, transB: true, tile: { TM: 4, TN: 4 } }, 121),
  },
  {
    family: 'matmul',
    op: 'backward of x W^T (dX, dW = dY^T x with transA)',
    run: async (s) => {
      const x = randomData(BM * BK, 131), w = randomData(BN * BK, 132), dy = randomData(BM * BN, 133);
      const tx = s.tensor(x, [BM, BK]), tw = s.tensor(w, [BN, BK]), tdy = s.tensor(dy, [BM, BN]);
      const dX = s.poisoned([BM, BK]), dW = s.poisoned([BN, BK]);
      matmulBackward(s.gpu, tx, tw, tdy, { transB: true, dA: dX, dB: dW });
      const want = ref.matmulBackward(BM, BN, BK, false, true, x, w, dy);
      const abs = (v: Float32Array) => v.map(Math.abs);
      const scale = ref.matmulBackward(BM, BN, BK, false, true, abs(x), abs(w), abs(dy));
      return worstOf(
        compare('dX', await dX.read(), want.dA, TOL, scale.dA),
        compare('dW', await dW.read(), want.dB, TOL, scale.dB),
      );
    },
  },
];
