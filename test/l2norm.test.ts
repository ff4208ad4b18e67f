import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/l2norm.ts';
import * as ops from '../src/ops/l2norm.ts';
import { AWKWARD_SIZES, expectClose, poisoned, randomData, useGpu } from './helpers.ts';

const gpu = useGpu();
// Row reductions in float32 (a strided sum, then a 256-way tree): a few ulps
// of the condition-aware scale. 1e-5 leaves a margin over the ~1e-6 seen.
const TOL = { rtol: 1e-5 };
const EPS = 1e-12;

/** Error scales: |y| for y and n, and the size of the terms of dx. */
function dxScale(x: Float32Array, dy: Float32Array, rows: number, cols: number, eps: number): Float64Array {
  const { y, norm } = ref.l2norm(x, rows, cols, eps);
  const s = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += Math.abs(y[i * cols + c] * dy[i * cols + c]);
    const d = Math.max(norm[i], eps);
    for (let c = 0; c < cols; c++) s[i * cols + c] = (Math.abs(dy[i * cols + c]) + Math.abs(y[i * cols + c]) * dot) / d;
  }
  return s;
}

async function compare(rows: number, cols: number, eps: number, x: Float32Array, dy: Float32Array) {
  const g = await gpu();
  const tx = g.tensor(x, [rows, cols]), tdy = g.tensor(dy, [rows, cols]);
  const { y, norm } = ops.l2norm(g, tx, eps, { y: poisoned(g, [rows, cols]), norm: poisoned(g, [rows]) });
  const dx = ops.l2normBackward(g, y, norm, tdy, eps, poisoned(g, [rows, cols]));
  const f = ref.l2norm(x, rows, cols, eps);
  expectClose(`l2norm.y [${rows}, ${cols}]`, await y.read(), f.y, TOL);
  expectClose(`l2norm.norm [${rows}, ${cols}]`, await norm.read(), f.norm, TOL);
  expectClose(`l2norm.dx [${rows}, ${cols}]`, await dx.read(), ref.l2normBackward(x, dy, rows, cols, eps), TOL,
    dxScale(x, dy, rows, cols, eps));
  for (const t of [tx, tdy, y, norm, dx]) t.release();
}

describe('l2norm vs float64 reference', () => {
  it('forward and backward on awkward shapes and magnitudes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 2, 7, 64, 257, 1000),
        fc.constantFrom(...AWKWARD_SIZES, 576, 896),
        fc.constantFrom(1e-6, 1, 1e6),
        fc.integer({ min: 1, max: 1 << 30 }),
        async (rows0, cols, mag, seed) => {
          const rows = Math.max(1, Math.min(rows0, Math.floor(300_000 / cols)));
          await compare(rows, cols, EPS, randomData(rows * cols, seed, 0.05 * mag, mag), randomData(rows * cols, seed + 1));
        }),
      { numRuns: 15 },
    );
  });

  it('rows at and below eps: zeros, norms under eps, squares that underflow, large values', async () => {
    const rows = 6, cols = 300;
    const x = randomData(rows * cols, 21);
    for (let c = 0; c < cols; c++) {
      x[c] = 0; // norm 0: y = 0, dx = dy / eps (finite, ~1e12)
      x[cols + c] *= 1e-14; // norm ~1e-13 < eps: y = x / eps
      x[2 * cols + c] *= 1e-21; // squares flush to 0 in float32: norm 0 either way, within tolerance of y = x / eps ~ 1e-9
      x[3 * cols + c] *= 1e17; // sum of squares ~1e36, under float32's max
      x[4 * cols + c] *= 1e-11; // norm ~1e-10 > eps: the usual branch
    }
    const dy = randomData(rows * cols, 22);
    const g = await gpu();
    const tx = g.tensor(x, [rows, cols]), tdy = g.tensor(dy, [rows, cols]);
    const { y, norm } = ops.l2norm(g, tx);
    const dx = ops.l2normBackward(g, y, norm, tdy, EPS, poisoned(g, [rows, cols]));
    const f = ref.l2norm(x, rows, cols, EPS);
    // Row 2's float32 norm is 0 (underflow) where float64's is ~1e-20: both
    // under eps, so y = x / eps either way; an absolute floor covers y ~ 1e-9.
    expectClose('l2norm.y hostile', await y.read(), f.y, { rtol: 1e-5, atol: 1e-12 });
    const n = await norm.read();
    expect(Array.from(n).every(Number.isFinite)).toBe(true);
    expectClose('l2norm.norm hostile', [n[0], n[1], n[3], n[4], n[5]], [0, 1, 3, 4, 5].map((i) => f.norm[i]), TOL);
    expectClose('l2norm.dx hostile', await dx.read(), ref.l2normBackward(x, dy, rows, cols, EPS), TOL, dxScale(x, dy, rows, cols, EPS));
    for (const t of [tx, tdy, y, norm, dx]) t.release();
  });

  it('refuses bad input, naming the op and the shapes', async () => {
    const g = await gpu();
    const x = g.empty([4, 8]), n = g.empty([5]), xi = g.empty([4, 8], 'i32'), v = g.empty([8]);
    expect(() => ops.l2norm(g, xi)).toThrow(/l2norm: x .*i32\[4, 8\] must be f32/);
    expect(() => ops.l2norm(g, v)).toThrow(/l2norm: x .*f32\[8\] must be \[\.\.\., D\]/);
    expect(() => ops.l2normBackward(g, x, n, x)).toThrow(/l2normBackward: norm .*f32\[5\] must be f32\[4\]/);
    for (const t of [x, n, xi, v]) t.release();
  });
});

describe('l2norm float64 reference', () => {
  it('backward matches central finite differences on both sides of eps', () => {
    // eps = 0.3 with rows of norm ~0.05 (clamped) and ~1 (not), h << the gap to eps.
    const rows = 4, cols = 5, eps = 0.3, h = 1e-6;
    const x = Float64Array.from(randomData(rows * cols, 31));
    for (let c = 0; c < cols; c++) { x[c] *= 0.05; x[2 * cols + c] *= 0.05; }
    const g = Float64Array.from(randomData(rows * cols, 32));
    const norms = ref.l2norm(x, rows, cols, eps).norm;
    expect([norms[0] < eps, norms[1] > eps, norms[2] < eps, norms[3] > eps]).toEqual([true, true, true, true]);
    const loss = () => ref.l2norm(x, rows, cols, eps).y.reduce((s, v, i) => s + v * g[i], 0);
    const numeric = Float64Array.from(x, (_, i) => {
      const keep = x[i];
      x[i] = keep + h; const up = loss();
      x[i] = keep - h; const down = loss();
      x[i] = keep;
      return (up - down) / (2 * h);
    });
    expectClose('ref l2norm dx vs finite differences', ref.l2normBackward(x, g, rows, cols, eps), numeric, { rtol: 1e-6, atol: 1e-8 });
  });
});
