import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/softmax.ts';
import * as ops from '../src/ops/softmax.ts';
import { expectClose, poisoned, randomData, rng, useGpu } from './helpers.ts';

const gpu = useGpu();

// Float32 softmax is sensitive to absolute errors in its inputs: an error e in
// v = x + mask moves y by about y * e. Rounding x + mask and v - max costs
// about eps * (|v| + max|v|), so the bound for y[c] is
//   rtol * y[c] * (1 + |v[c]| + max over the row's unmasked |v|)
// with rtol = 1e-5 (a reduction: the online sum adds ~(C / 256 + 8) eps).
// atol covers results below float32's normal range (the GPU may flush them).
const TOL = { rtol: 1e-5, atol: 1e-37 };

const ROWS = [1, 2, 3, 12, 17, 64];

function largestProperDivisor(n: number): number {
  for (let d = Math.floor(n / 2); d > 1; d--) if (n % d === 0) return d;
  return 1;
}
const COLS = [1, 2, 7, 31, 255, 256, 257, 1000, 4099];

type MaskKind = 'none' | 'full' | 'row' | 'repeat';

/** Additive mask data [maskRows, cols]: small values, -1e9, sentinels, whole rows masked. */
function maskData(maskRows: number, cols: number, seed: number): Float32Array {
  const r = rng(seed);
  const k = randomData(maskRows * cols, seed + 7, 0.01, 2);
  for (let i = 0; i < k.length; i++) {
    const u = r();
    if (u < 0.1) k[i] = -1e9;
    else if (u < 0.2) k[i] = -3e38;
    else if (u < 0.25) k[i] = -Infinity;
  }
  for (let mr = 0; mr < maskRows; mr++) {
    if (maskRows > 1 && r() < 0.25) k.fill(r() < 0.5 ? -1e30 : -3e38, mr * cols, (mr + 1) * cols);
  }
  return k;
}

/** The per-element error scale described at TOL. */
function softmaxScale(y: Float64Array, x: ArrayLike<number>, rows: number, cols: number, mask?: ArrayLike<number>, maskRows = 1): Float64Array {
  const s = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let big = 0;
    const v = (c: number) => Math.abs(x[r * cols + c] + (mask ? mask[(r % maskRows) * cols + c] : 0));
    for (let c = 0; c < cols; c++) if (y[r * cols + c] > 0) big = Math.max(big, v(c));
    for (let c = 0; c < cols; c++) s[r * cols + c] = y[r * cols + c] * (1 + v(c) + big);
  }
  return s;
}

describe('softmax vs float64 reference', () => {
  it('forward with no mask, a full mask, a [C] mask and a repeating [Rm, C] mask', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROWS), fc.constantFrom(...COLS), fc.constantFrom<MaskKind>('none', 'full', 'row', 'repeat'),
        fc.constantFrom(1, 30, 1e4), fc.integer({ min: 1, max: 1 << 30 }),
        async (rows, cols, kind, range, seed) => {
          const x = randomData(rows * cols, seed, 0.05, range);
          // Some entries of x are masked logits themselves.
          if (kind === 'none') for (let i = 0; i < x.length; i += 5) x[i] = -3e38;
          const maskRows = kind === 'full' ? rows : kind === 'row' ? 1 : largestProperDivisor(rows);
          const k = kind === 'none' ? undefined : maskData(maskRows, cols, seed + 1);
          const tx = g.tensor(x, [rows, cols]);
          const tk = k && g.tensor(k, kind === 'row' ? [cols] : [maskRows, cols]);
          const y = ops.softmax(g, tx, { mask: tk, out: poisoned(g, [rows, cols]) });
          // The kernel adds x + mask in float32 before anything else; with a -1e9
          // mask that sum alone loses every digit of x below ulp(1e9) = 64 (two
          // such entries of one row can become equal). So the reference starts
          // from the float32 sums, and the tolerance covers what follows.
          const v = k ? Float32Array.from(x, (xi, i) => xi + k[(Math.floor(i / cols) % maskRows) * cols + (i % cols)]) : x;
          const want = ref.softmax(v, rows, cols);
          expectClose(`softmax ${kind} [${rows}, ${cols}] |x|<=${range}`, await y.read(), want, TOL,
            softmaxScale(want, v, rows, cols));
          for (const t of [tx, y, ...(tk ? [tk] : [])]) t.release();
        }),
      { numRuns: 15 },
    );
  });

  it('backward against the float64 backward of the same y', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROWS), fc.constantFrom(...COLS), fc.integer({ min: 1, max: 1 << 30 }),
        async (rows, cols, seed) => {
          const x = randomData(rows * cols, seed, 0.05, 4);
          const y = Float32Array.from(ref.softmax(x, rows, cols));
          // One row with zeros in y (a fully masked forward row) must give dx = 0.
          if (rows > 1) y.fill(0, 0, cols);
          const dy = randomData(rows * cols, seed + 1);
          const ty = g.tensor(y, [rows, cols]), tdy = g.tensor(dy, [rows, cols]);
          const dx = ops.softmaxBackward(g, ty, tdy, poisoned(g, [rows, cols]));
          const scale = new Float64Array(rows * cols);
          for (let r = 0; r < rows; r++) {
            let d = 0;
            for (let c = 0; c < cols; c++) d += Math.abs(dy[r * cols + c] * y[r * cols + c]);
            for (let c = 0; c < cols; c++) scale[r * cols + c] = y[r * cols + c] * (Math.abs(dy[r * cols + c]) + d);
          }
          expectClose(`softmaxBackward [${rows}, ${cols}]`, await dx.read(), ref.softmaxBackward(y, dy, rows, cols),
            { rtol: 1e-5, atol: 1e-37 }, scale);
          for (const t of [ty, tdy, dx]) t.release();
        }),
      { numRuns: 12 },
    );
  });

  it('hostile rows: huge logits, fully masked rows, one live entry, -inf', async () => {
    const g = await gpu();
    const cols = 300;
    const rows = 6;
    const x = randomData(rows * cols, 11, 0.05, 1e4);
    const k = new Float32Array(rows * cols);
    k.fill(-1e30, 1 * cols, 2 * cols); // row 1: masked by the mask
    x.fill(-3e38, 2 * cols, 3 * cols); // row 2: masked logits
    k.fill(-Infinity, 3 * cols, 4 * cols); // row 3: -inf mask
    k.fill(-3e38, 4 * cols, 5 * cols); // row 4: one live entry
    k[4 * cols + 123] = 0;
    x.fill(1e4, 5 * cols, 6 * cols); // row 5: all equal and huge
    const tx = g.tensor(x, [rows, cols]), tk = g.tensor(k, [rows, cols]);
    const y = await ops.softmax(g, tx, { mask: tk, out: poisoned(g, [rows, cols]) }).read();
    expect(y.every(Number.isFinite)).toBe(true);
    for (const r of [1, 2, 3]) expect(y.subarray(r * cols, (r + 1) * cols).every((v) => v === 0)).toBe(true);
    expect(y[4 * cols + 123]).toBe(1);
    expect(y.subarray(4 * cols, 5 * cols).reduce((a, b) => a + b, 0)).toBe(1);
    expectClose('uniform row', y.subarray(5 * cols), new Float64Array(cols).fill(1 / cols), { rtol: 1e-5 });
    const want = ref.softmax(x, rows, cols, k, rows);
    expectClose('hostile', y, want, TOL, softmaxScale(want, x, rows, cols, k, rows));
    // The masked rows' gradient is zero too.
    const dx = await ops.softmaxBackward(g, g.tensor(y, [rows, cols]), g.tensor(randomData(rows * cols, 3), [rows, cols])).read();
    expect(dx.every(Number.isFinite)).toBe(true);
    expect(dx.subarray(cols, 4 * cols).every((v) => v === 0)).toBe(true);
    tx.release();
    tk.release();
  });

  it('folds more than 65535 rows into a 2-D grid', async () => {
    const g = await gpu();
    const rows = 70001, cols = 3;
    const x = randomData(rows * cols, 5, 0.05, 10);
    const tx = g.tensor(x, [rows, cols]);
    const y = await ops.softmax(g, tx, { out: poisoned(g, [rows, cols]) }).read();
    const want = ref.softmax(x, rows, cols);
    expectClose('softmax [70001, 3]', y, want, TOL, softmaxScale(want, x, rows, cols));
    tx.release();
  });

  it('is deterministic run to run', async () => {
    const g = await gpu();
    const rows = 40, cols = 4099;
    const tx = g.tensor(randomData(rows * cols, 6, 0.05, 30), [rows, cols]);
    const tdy = g.tensor(randomData(rows * cols, 7), [rows, cols]);
    const y1 = ops.softmax(g, tx), y2 = ops.softmax(g, tx);
    const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));
    expect(same(await y1.read(), await y2.read())).toBe(true);
    const d1 = ops.softmaxBackward(g, y1, tdy), d2 = ops.softmaxBackward(g, y1, tdy);
    expect(same(await d1.read(), await d2.read())).toBe(true);
    for (const t of [tx, tdy, y1, y2, d1, d2]) t.release();
  });

  it('refuses bad shapes and dtypes by name', async () => {
    const g = await gpu();
    const x = g.empty([6, 7]);
    expect(() => ops.softmax(g, x, { mask: g.empty([4, 7]) })).toThrow(/softmax: mask .*\[4, 7\].*6 rows.*\[6, 7\]/);
    expect(() => ops.softmax(g, x, { mask: g.empty([6, 5]) })).toThrow(/softmax: mask .*\[6, 5\]/);
    expect(() => ops.softmax(g, g.empty([6, 7], 'i32'))).toThrow(/softmax: .*i32\[6, 7\] must be f32/);
    expect(() => ops.softmax(g, x, { out: g.empty([7, 6]) })).toThrow(/softmax: out .*\[7, 6\]/);
    expect(() => ops.softmaxBackward(g, x, g.empty([6, 8]))).toThrow(/softmaxBackward: dy .*\[6, 8\].*\[6, 7\]/);
  });
});

describe('float64 reference backward vs central differences', () => {
  it('d/dx sum(w * softmax(x + mask)) matches softmaxBackward(y, w)', () => {
    for (const [rows, cols, seed] of [[1, 1, 1], [2, 5, 2], [3, 9, 3]] as const) {
      const x = Float64Array.from(randomData(rows * cols, seed, 0.05, 3));
      const k = Float64Array.from(randomData(cols, seed + 1, 0.05, 1));
      if (cols > 2) k[1] = -1e30; // a masked column has zero gradient
      const w = randomData(rows * cols, seed + 2);
      const f = (xs: Float64Array) => ref.softmax(xs, rows, cols, k, 1).reduce((acc, v, i) => acc + v * w[i], 0);
      const grad = ref.softmaxBackward(ref.softmax(x, rows, cols, k, 1), w, rows, cols);
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
