// cross_entropy forward (per-row losses, lse, the mean and the count of rows
// not ignored) and backward on logits [37, 301] with a fifth of the rows
// ignored. The backward is given the reference lse and count, so it is
// checked on its own.
import * as ref from '../../../reference/cross_entropy.ts';
import * as ops from '../../ops/cross_entropy.ts';
import { compare, randomData, randomInts, rng, worstOf } from '../compare.ts';
import { ROWS, WIDE, type KernelCheck } from '../scope.ts';

// A reduction over V per row in float32; the tests allow 1e-5 of these scales:
//   lse      1 + |lse|
//   loss     1 + |max_j x_j - x_t| + log sum_j exp(x_j - max)   (the two terms the kernel adds)
//   mean     the mean of the rows' loss scales
//   dlogits  |g| (p_j (1 + |x_j| + |lse|) + [j = t])  (lse is saved rounded to float32)
const RTOL = 1e-5;
const ATOL = 1e-37; // results below float32's normal range may be flushed to zero
const rows = ROWS, vocab = WIDE, shape = [ROWS, WIDE], IGNORE = -100;

function data(seed: number) {
  const x = randomData(rows * vocab, seed, 0.05, 30);
  const targets = randomInts(rows, seed + 1, 0, vocab);
  const r = rng(seed + 2);
  for (let i = 0; i < rows; i++) if (r() < 0.2) targets[i] = IGNORE;
  return { x, targets };
}

export const crossEntropyChecks: KernelCheck[] = [
  {
    family: 'cross_entropy', op: 'forward',
    run: async (s) => {
      const { x, targets } = data(601);
      const fw = ops.crossEntropy(s.gpu, s.tensor(x, shape), s.tensor(targets, [rows], 'i32'), {
        ignoreIndex: IGNORE, reduction: 'mean',
        out: { losses: s.poisoned([rows]), lse: s.poisoned([rows]), loss: s.poisoned([1]), count: s.poisoned([1]) },
      });
      const want = ref.crossEntropy(x, targets, rows, vocab, IGNORE, 'mean');
      const lossScale = new Float64Array(rows);
      for (let i = 0; i < rows; i++) {
        if (targets[i] === IGNORE) continue;
        let m = -Infinity;
        for (let j = 0; j < vocab; j++) m = Math.max(m, x[i * vocab + j]);
        lossScale[i] = 1 + Math.abs(m - x[i * vocab + targets[i]]) + (want.lse[i] - m);
      }
      const meanScale = lossScale.reduce((a, b) => a + b, 0) / Math.max(1, want.count);
      return worstOf(
        compare('lse', await fw.lse.read(), want.lse, { rtol: RTOL }, Float64Array.from(want.lse, (v) => 1 + Math.abs(v))),
        compare('losses', await fw.losses.read(), want.losses, { rtol: RTOL }, lossScale),
        compare('loss', await fw.loss.read(), [want.loss], { rtol: RTOL }, [meanScale]),
        compare('count', await fw.count.read(), [want.count], { rtol: 0 }),
      );
    },
  },
  {
    family: 'cross_entropy', op: 'backward',
    run: async (s) => {
      const { x, targets } = data(611);
      const want = ref.crossEntropy(x, targets, rows, vocab, IGNORE, 'mean');
      const gradScale = 0.75;
      const dx = ops.crossEntropyBackward(s.gpu, s.tensor(x, shape), {
        targets: s.tensor(targets, [rows], 'i32'),
        lse: s.tensor(Float32Array.from(want.lse), [rows]),
        count: s.tensor([want.count], [1]),
        ignoreIndex: IGNORE,
        reduction: 'mean',
      }, { gradScale, out: s.poisoned(shape) });
      const g = gradScale / Math.max(1, want.count);
      const scale = new Float64Array(rows * vocab);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < vocab; j++) {
          const p = Math.exp(x[i * vocab + j] - want.lse[i]);
          scale[i * vocab + j] = g * (p * (1 + Math.abs(x[i * vocab + j]) + Math.abs(want.lse[i])) + (j === targets[i] ? 1 : 0));
        }
      }
      const wantDx = ref.crossEntropyBackward(x, targets, rows, vocab, IGNORE, 'mean', gradScale);
      return compare('dlogits', await dx.read(), wantDx, { rtol: RTOL, atol: ATOL }, scale);
    },
  },
];
