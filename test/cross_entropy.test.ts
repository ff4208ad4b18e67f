import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/cross_entropy.ts';
import * as ops from '../src/ops/cross_entropy.ts';
import type { Gpu } from '../src/gpu/gpu.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { expectClose, poisoned, randomData, randomInts, rng, useGpu } from './helpers.ts';

const gpu = useGpu();

// Tolerances (float32, a reduction over V per row): rtol 1e-5 of a scale that
// follows the float32 conditioning.
//   lse[i]     scale 1 + |lse[i]|
//   loss[i]    scale 1 + |max_j x[i, j] - x[i, t]| + log(sum_j exp(x[i, j] - max))
//              (the two terms the kernel adds; each carries eps times its size)
//   reduced    scale: the sum (or mean) of the per-row scales
//   dlogits    scale |g| * (p[i, j] * (1 + |x[i, j]| + |lse[i]|) + [j == t]): lse is
//              saved rounded to float32, so exp(x - lse) carries eps * |lse| relative error
const RTOL = 1e-5;
const ATOL = 1e-37; // results below float32's normal range may be flushed to zero

function rowStats(x: ArrayLike<number>, rows: number, vocab: number): { m: Float64Array; logS: Float64Array } {
  const m = new Float64Array(rows).fill(-Infinity), logS = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < vocab; j++) m[i] = Math.max(m[i], x[i * vocab + j]);
    let s = 0;
    for (let j = 0; j < vocab; j++) s += Math.exp(x[i * vocab + j] - m[i]);
    logS[i] = Math.log(s);
  }
  return { m, logS };
}

interface Case {
  rows: number;
  vocab: number;
  range: number;
  ignoreIndex: number;
  reduction: ops.Reduction;
  gradScale: number;
  seed: number;
}

async function checkCase(g: Gpu, c: Case): Promise<void> {
  const { rows, vocab, range, ignoreIndex, reduction, gradScale, seed } = c;
  const x = randomData(rows * vocab, seed, 0.05, range);
  const targets = randomInts(rows, seed + 1, 0, vocab);
  const r = rng(seed + 2);
  for (let i = 0; i < rows; i++) if (r() < 0.2) targets[i] = ignoreIndex;
  const tx = g.tensor(x, [rows, vocab]);
  const tt = g.tensor(targets, [rows], 'i32');
  const fw = ops.crossEntropy(g, tx, tt, {
    ignoreIndex, reduction,
    out: { losses: poisoned(g, [rows]), lse: poisoned(g, [rows]), loss: poisoned(g, [1]), count: poisoned(g, [1]) },
  });
  const dx = ops.crossEntropyBackward(g, tx, fw, { gradScale, out: poisoned(g, [rows, vocab]) });

  const want = ref.crossEntropy(x, targets, rows, vocab, ignoreIndex, reduction);
  const { m, logS } = rowStats(x, rows, vocab);
  const what = `[${rows}, ${vocab}] |x|<=${range} ignore=${ignoreIndex} ${reduction}`;
  const lossScale = Float64Array.from(m, (mi, i) => (targets[i] === ignoreIndex ? 0 : 1 + Math.abs(mi - x[i * vocab + targets[i]]) + logS[i]));
  expectClose(`lse ${what}`, await fw.lse.read(), want.lse, { rtol: RTOL }, Float64Array.from(want.lse, (v) => 1 + Math.abs(v)));
  expectClose(`losses ${what}`, await fw.losses.read(), want.losses, { rtol: RTOL, atol: 0 }, lossScale);
  const scaleSum = lossScale.reduce((a, b) => a + b, 0);
  expect((await fw.count.read())[0], `count ${what}`).toBe(want.count);
  expectClose(`loss ${what}`, await fw.loss.read(), [want.loss], { rtol: RTOL },
    [reduction === 'sum' ? scaleSum : scaleSum / Math.max(1, want.count)]);

  const wantDx = ref.crossEntropyBackward(x, targets, rows, vocab, ignoreIndex, reduction, gradScale);
  const gEff = Math.abs(reduction === 'sum' ? gradScale : gradScale / Math.max(1, want.count));
  const dxScale = new Float64Array(rows * vocab);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < vocab; j++) {
      const p = Math.exp(x[i * vocab + j] - want.lse[i]);
      dxScale[i * vocab + j] = gEff * (p * (1 + Math.abs(x[i * vocab + j]) + Math.abs(want.lse[i])) + (j === targets[i] ? 1 : 0));
    }
  }
  expectClose(`dlogits ${what}`, await dx.read(), wantDx, { rtol: RTOL, atol: ATOL }, dxScale);
  for (const t of [tx, tt, fw.losses, fw.lse, fw.loss, fw.count, dx]) t.release();
}

describe('cross-entropy vs float64 reference', () => {
  it('forward (losses, lse, mean or sum) and fused backward', async () => {
    const g = await gpu();
    const shapeArb = fc.oneof(
      fc.tuple(fc.constantFrom(1, 3, 17, 64, 300), fc.constantFrom(1, 2, 7, 255, 256, 257, 1000)),
      fc.tuple(fc.constantFrom(1, 2, 13), fc.constantFrom(4099, 49152)),
    );
    await fc.assert(
      fc.asyncProperty(
        shapeArb, fc.constantFrom(1, 30, 1e4), fc.constantFrom(-100, 0, 5), fc.constantFrom<ops.Reduction>('mean', 'sum'),
        fc.double({ min: 0.1, max: 4, noNaN: true }), fc.integer({ min: 1, max: 1 << 30 }),
        async ([rows, vocab], range, ignoreIndex, reduction, gradScale, seed) => {
          await checkCase(g, { rows, vocab, range, ignoreIndex, reduction, gradScale: Math.fround(gradScale), seed });
        }),
      { numRuns: 15 },
    );
  });

  it('large logits: equal rows of 1e4 give log V, and huge gaps give exact zeros, never NaN', async () => {
    const g = await gpu();
    const rows = 3, vocab = 1000;
    const x = new Float32Array(rows * vocab).fill(1e4);
    x.fill(-1e4, vocab, 2 * vocab);
    x[vocab + 10] = 1e4; // row 1: one logit 2e4 above the rest
    x[2 * vocab + 3] = -3e38; // row 2: a padded-vocabulary sentinel
    const fw = ops.crossEntropy(g, g.tensor(x, [rows, vocab]), [7, 10, 3]);
    const losses = await fw.losses.read();
    expectClose('log V', [losses[0]], [Math.log(vocab)], { rtol: 1e-5 });
    expect(losses[1]).toBe(0);
    expect(losses[2]).toBeGreaterThan(1e38); // the target is the sentinel: a huge but finite loss
    const dx = await ops.crossEntropyBackward(g, g.tensor(x, [rows, vocab]), fw).read();
    expect(dx.every(Number.isFinite)).toBe(true);
    expect(dx.subarray(vocab, 2 * vocab).every((v) => v === 0)).toBe(true);
  });

  it('all rows ignored: loss 0, count 0, zero gradient', async () => {
    const g = await gpu();
    const rows = 5, vocab = 300;
    const tx = g.tensor(randomData(rows * vocab, 9, 0.05, 5), [rows, vocab]);
    const fw = ops.crossEntropy(g, tx, new Int32Array(rows).fill(-1), { ignoreIndex: -1, out: { loss: poisoned(g, [1]) } });
    expect(Array.from(await fw.loss.read())).toEqual([0]);
    expect(Array.from(await fw.count.read())).toEqual([0]);
    expect(Array.from(await fw.losses.read())).toEqual([0, 0, 0, 0, 0]);
    const dx = await ops.crossEntropyBackward(g, tx, fw, { out: poisoned(g, [rows, vocab]) }).read();
    expect(dx.every((v) => v === 0)).toBe(true);
  });

  it('a target outside [0, V) in a tensor makes its row NaN; given as data it is refused', async () => {
    const g = await gpu();
    const rows = 4, vocab = 257;
    const x = randomData(rows * vocab, 4);
    const tx = g.tensor(x, [rows, vocab]);
    const fw = ops.crossEntropy(g, tx, g.tensor([3, vocab, -100, -5], [rows], 'i32'));
    const losses = await fw.losses.read();
    expect(Number.isFinite(losses[0]) && losses[0] > 0).toBe(true);
    expect(Number.isNaN(losses[1]) && Number.isNaN(losses[3])).toBe(true);
    expect(losses[2]).toBe(0);
    expect(Number.isNaN((await fw.loss.read())[0])).toBe(true);
    const dx = await ops.crossEntropyBackward(g, tx, fw).read();
    expect(dx.subarray(0, vocab).every(Number.isFinite)).toBe(true);
    expect(dx.subarray(vocab, 2 * vocab).every(Number.isNaN)).toBe(true);
    expect(dx.subarray(2 * vocab, 3 * vocab).every((v) => v === 0)).toBe(true);
    expect(() => ops.crossEntropy(g, tx, [3, vocab, -100, 0])).toThrow(/crossEntropy: target 257 at row 1 is outside \[0, 257\)/);
  });

  it('folds more than 65535 rows into a 2-D grid', async () => {
    const g = await gpu();
    const rows = 70001, vocab = 3;
    const x = randomData(rows * vocab, 21, 0.05, 3);
    const targets = randomInts(rows, 22, 0, vocab);
    const tx = g.tensor(x, [rows, vocab]), tt = g.tensor(targets, [rows], 'i32');
    const fw = ops.crossEntropy(g, tx, tt, { out: { losses: poisoned(g, [rows]) } });
    const want = ref.crossEntropy(x, targets, rows, vocab);
    expectClose('losses [70001, 3]', await fw.losses.read(), want.losses, { rtol: RTOL, atol: 1e-6 });
    expectClose('mean [70001, 3]', await fw.loss.read(), [want.loss], { rtol: 1e-4 });
    for (const t of [tx, tt, fw.losses, fw.lse, fw.loss, fw.count]) t.release();
  });

  it('the loss and gradient are identical run to run', async () => {
    const g = await gpu();
    const rows = 300, vocab = 4099;
    const tx = g.tensor(randomData(rows * vocab, 31, 0.05, 30), [rows, vocab]);
    const tt = g.tensor(randomInts(rows, 32, 0, vocab), [rows], 'i32');
    const a = ops.crossEntropy(g, tx, tt), b = ops.crossEntropy(g, tx, tt);
    expect(Object.is((await a.loss.read())[0], (await b.loss.read())[0])).toBe(true);
    const same = (u: Float32Array, v: Float32Array) => Buffer.from(u.buffer).equals(Buffer.from(v.buffer));
    const da = ops.crossEntropyBackward(g, tx, a), db = ops.crossEntropyBackward(g, tx, b);
    expect(same(await da.read(), await db.read())).toBe(true);
    for (const t of [tx, tt, a.losses, a.lse, a.loss, a.count, b.losses, b.lse, b.loss, b.count, da, db]) t.release();
  });

  it('refuses bad shapes and dtypes by name', async () => {
    const g = await gpu();
    const x = g.empty([6, 7]);
    const t = g.empty([6], 'i32');
    expect(() => ops.crossEntropy(g, g.empty([6, 7], 'i32'), t)).toThrow(/crossEntropy: logits .*i32\[6, 7\] must be f32/);
    expect(() => ops.crossEntropy(g, x, g.empty([5], 'i32'))).toThrow(/crossEntropy: targets .*i32\[5\] must be \[6\] for logits .*f32\[6, 7\]/);
    expect(() => ops.crossEntropy(g, x, g.empty([6], 'f32') as unknown as Tensor<'i32'>)).toThrow(/crossEntropy: targets .*f32\[6\] must be i32/);
    expect(() => ops.crossEntropy(g, x, [1, 2, 3])).toThrow(/crossEntropy: 3 targets given for logits .*\[6, 7\]/);
    expect(() => ops.crossEntropy(g, x, t, { out: { lse: g.empty([7]) } })).toThrow(/crossEntropy: out.lse .*\[7\] must be f32\[6\]/);
    const fw = ops.crossEntropy(g, x, t);
    expect(() => ops.crossEntropyBackward(g, g.empty([5, 7]), fw)).toThrow(/crossEntropyBackward: targets .*\[6\] must be \[5\] for logits .*\[5, 7\]/);
  });
});

describe('float64 reference backward vs central differences', () => {
  it('d(loss)/d(logits) for mean and sum, with ignored rows', () => {
    for (const [rows, vocab, seed, reduction, gradScale] of [
      [1, 1, 1, 'mean', 1], [3, 5, 2, 'mean', 1], [4, 6, 3, 'sum', 0.7], [2, 9, 4, 'mean', 2.5],
    ] as const) {
      const x = Float64Array.from(randomData(rows * vocab, seed, 0.05, 3));
      const targets = randomInts(rows, seed + 1, 0, vocab);
      if (rows > 2) targets[1] = -100;
      const grad = ref.crossEntropyBackward(x, targets, rows, vocab, -100, reduction, gradScale);
      const f = (xs: Float64Array) => gradScale * ref.crossEntropy(xs, targets, rows, vocab, -100, reduction).loss;
      const h = 1e-6;
      for (let i = 0; i < x.length; i++) {
        const xp = x.slice(), xm = x.slice();
        xp[i] += h;
        xm[i] -= h;
        const fd = (f(xp) - f(xm)) / (2 * h);
        expect(Math.abs(fd - grad[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(grad[i])));
      }
    }
  });
});
