import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/rmsnorm.ts';
import * as ops from '../src/ops/rmsnorm.ts';
import { AWKWARD_SIZES, expectClose, poisoned, randomData, useGpu } from './helpers.ts';

const gpu = useGpu();
// Row reductions in float32 (a strided sum then a 256-way tree, or one
// sequential sum per row): a few ulps
// of the condition-aware scale. 1e-5 leaves a margin over the ~1e-6 seen.
const TOL = { rtol: 1e-5 };

/** Error scales: how large the float32 rounding of each output can grow. */
function scales(x: Float32Array, w: Float32Array, dy: Float32Array, rows: number, cols: number, eps: number) {
  return ref.rmsnormErrorScales(x, w, dy, rows, cols, eps);
}

/** Both row layouts: a workgroup per row (tree sum) and a row per invocation (sequential sum). */
async function compare(rows: number, cols: number, eps: number, x: Float32Array, w: Float32Array, dy: Float32Array) {
  const g = await gpu();
  const tx = g.tensor(x, [rows, cols]), tw = g.tensor(w, [cols]), tdy = g.tensor(dy, [rows, cols]);
  const f = ref.rmsnorm(x, w, rows, cols, eps);
  const b = ref.rmsnormBackward(x, w, dy, rows, cols, eps);
  const s = scales(x, w, dy, rows, cols, eps);
  for (const lanes of [false, true]) {
    g.tuning.rowPerLane = lanes;
    const { y, rstd } = ops.rmsnorm(g, tx, tw, eps, { y: poisoned(g, [rows, cols]), rstd: poisoned(g, [rows]) });
    const { dx, dweight } = ops.rmsnormBackward(g, tx, tw, rstd, tdy, { dx: poisoned(g, [rows, cols]), dweight: poisoned(g, [cols]) });
    g.tuning.rowPerLane = undefined;
    const what = `[${rows}, ${cols}]${lanes ? ' row per lane' : ''}`;
    expectClose(`rmsnorm.y ${what}`, await y.read(), f.y, TOL, s.y);
    expectClose(`rmsnorm.rstd ${what}`, await rstd.read(), f.rstd, TOL);
    expectClose(`rmsnorm.dx ${what}`, await dx.read(), b.dx, TOL, s.dx);
    expectClose(`rmsnorm.dweight ${what}`, await dweight.read(), b.dweight, TOL, s.dw);
    for (const t of [y, rstd, dx, dweight]) t.release();
  }
  for (const t of [tx, tw, tdy]) t.release();
}

describe('rmsnorm vs float64 reference', () => {
  it('forward and backward on awkward shapes and magnitudes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 2, 7, 63, 64, 65, 300, 1000),
        fc.constantFrom(...AWKWARD_SIZES, 576, 896),
        fc.constantFrom(1e-6, 1e-5),
        fc.constantFrom(1, 1e-3, 1e3), // 1e-3: mean(x^2) comparable to eps
        fc.integer({ min: 1, max: 1 << 30 }),
        async (rows0, cols, eps, mag, seed) => {
          const rows = Math.max(1, Math.min(rows0, Math.floor(300_000 / cols)));
          const x = randomData(rows * cols, seed, 0.05 * mag, mag);
          const w = randomData(cols, seed + 1, 0.05, 2);
          const dy = randomData(rows * cols, seed + 2);
          await compare(rows, cols, eps, x, w, dy);
        }),
      { numRuns: 15 },
    );
  });

  it('hostile rows: zeros, values whose squares underflow, large values', async () => {
    const rows = 4, cols = 896, eps = 1e-6;
    const x = randomData(rows * cols, 7);
    for (let c = 0; c < cols; c++) {
      x[c] = 0; // rstd = 1/sqrt(eps), y = 0
      x[cols + c] *= 1e-22; // x^2 underflows to 0 in float32
      x[2 * cols + c] *= 1e17; // sum of squares ~3e36, under float32's max
    }
    const w = randomData(cols, 8, 0.05, 2), dy = randomData(rows * cols, 9);
    await compare(rows, cols, eps, x, w, dy);
  });

  it('is deterministic: the same inputs give bit-identical gradients', async () => {
    const g = await gpu();
    const rows = 2048, cols = 576;
    const tx = g.tensor(randomData(rows * cols, 1), [rows, cols]);
    const tw = g.tensor(randomData(cols, 2), [cols]);
    const tdy = g.tensor(randomData(rows * cols, 3), [rows, cols]);
    const { rstd } = ops.rmsnorm(g, tx, tw, 1e-6);
    const a = ops.rmsnormBackward(g, tx, tw, rstd, tdy);
    const b = ops.rmsnormBackward(g, tx, tw, rstd, tdy);
    expect(Buffer.from((await a.dweight.read()).buffer).equals(Buffer.from((await b.dweight.read()).buffer))).toBe(true);
    expect(Buffer.from((await a.dx.read()).buffer).equals(Buffer.from((await b.dx.read()).buffer))).toBe(true);
    for (const t of [tx, tw, tdy, rstd, a.dx, a.dweight, b.dx, b.dweight]) t.release();
  });

  it('refuses bad input, naming the op and the shapes', async () => {
    const g = await gpu();
    const x = g.empty([4, 8]), w = g.empty([7]), mask = g.empty([4, 8], 'i32');
    expect(() => ops.rmsnorm(g, x, w, 1e-6)).toThrow(/rmsnorm: weight .*f32\[7\] must be \[8\] for x .*f32\[4, 8\]/);
    expect(() => ops.rmsnorm(g, mask, w, 1e-6)).toThrow(/rmsnorm: .*i32\[4, 8\].*must be f32/);
    const w8 = g.empty([8]), r = g.empty([3]);
    expect(() => ops.rmsnormBackward(g, x, w8, r, x)).toThrow(/rmsnormBackward: rstd .*f32\[3\] must be f32\[4\]/);
    for (const t of [x, w, mask, w8, r]) t.release();
  });
});

describe('rmsnorm float64 reference', () => {
  it('backward matches central finite differences', () => {
    const rows = 3, cols = 5, eps = 1e-2, h = 1e-6;
    const x = Float64Array.from(randomData(rows * cols, 11));
    const w = Float64Array.from(randomData(cols, 12));
    const g = Float64Array.from(randomData(rows * cols, 13)); // dL/dy for L = sum(g * y)
    const loss = (xx: Float64Array, ww: Float64Array) => ref.rmsnorm(xx, ww, rows, cols, eps).y.reduce((s, v, i) => s + v * g[i], 0);
    const { dx, dweight } = ref.rmsnormBackward(x, w, g, rows, cols, eps);
    const fd = (v: Float64Array, i: number, f: () => number) => {
      const keep = v[i];
      v[i] = keep + h; const up = f();
      v[i] = keep - h; const down = f();
      v[i] = keep;
      return (up - down) / (2 * h);
    };
    const ndx = Float64Array.from(x, (_, i) => fd(x, i, () => loss(x, w)));
    const ndw = Float64Array.from(w, (_, i) => fd(w, i, () => loss(x, w)));
    expectClose('ref rmsnorm dx vs finite differences', dx, ndx, { rtol: 1e-6, atol: 1e-8 });
    expectClose('ref rmsnorm dweight vs finite differences', dweight, ndw, { rtol: 1e-6, atol: 1e-8 });
  });
});
