import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/elementwise.ts';
import * as ops from '../src/ops/elementwise.ts';
import { AWKWARD_SIZES, expectClose, poisoned, randomData, useGpu } from './helpers.ts';

const gpu = useGpu();
// Elementwise ops are one or two roundings in float32 (sigmoid a few more).
const TOL = { rtol: 1e-5, atol: 1e-7 };
const TOL_ACT = { rtol: 2e-5, atol: 1e-7 };

const sizeArb = fc.oneof(fc.constantFrom(...AWKWARD_SIZES), fc.integer({ min: 1, max: 70000 }));
const caseArb = fc.record({ n: sizeArb, seed: fc.integer({ min: 1, max: 1 << 30 }) });

describe('elementwise vs float64 reference', () => {
  it('axpby, scale, accumulate in place, mul (and mul backward)', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(caseArb, fc.double({ min: -3, max: 3, noNaN: true }), async ({ n, seed }, alpha) => {
        const a = randomData(n, seed), b = randomData(n, seed + 1), dy = randomData(n, seed + 2);
        const ta = g.tensor(a, [n]), tb = g.tensor(b, [n]), tdy = g.tensor(dy, [n]);
        const y1 = ops.axpby(g, alpha, ta, -0.5, tb, poisoned(g, [n]));
        const y2 = ops.scale(g, alpha, ta, poisoned(g, [n]));
        const y3 = ops.mul(g, ta, tb, poisoned(g, [n]));
        const { da, db } = ops.mulBackward(g, ta, tb, tdy);
        const acc = g.tensor(dy, [n]);
        ops.accumulate(g, acc, ta, alpha);
        const f32 = (x: number) => Math.fround(x);
        expectClose('axpby', await y1.read(), ref.axpby(f32(alpha), a, -0.5, b), TOL,
          Float64Array.from(a, (v, i) => Math.abs(f32(alpha) * v) + Math.abs(0.5 * b[i])));
        expectClose('scale', await y2.read(), ref.scale(f32(alpha), a), TOL);
        expectClose('accumulate', await acc.read(), ref.accumulate(dy, a, f32(alpha)), TOL,
          Float64Array.from(a, (v, i) => Math.abs(f32(alpha) * v) + Math.abs(dy[i])));
        expectClose('mul', await y3.read(), ref.mul(a, b), TOL);
        const r = ref.mulBackward(a, b, dy);
        expectClose('mul.da', await da.read(), r.da, TOL);
        expectClose('mul.db', await db.read(), r.db, TOL);
        for (const t of [ta, tb, tdy, y1, y2, y3, da, db, acc]) t.release();
      }),
      { numRuns: 12 },
    );
  });

  it('silu, swiglu forward and backward, including |x| up to 100', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(caseArb, fc.constantFrom(1, 8, 100), async ({ n, seed }, range) => {
        const x = randomData(n, seed, 0.01, range), u = randomData(n, seed + 1), dy = randomData(n, seed + 2);
        const tx = g.tensor(x, [n]), tu = g.tensor(u, [n]), tdy = g.tensor(dy, [n]);
        const y = ops.silu(g, tx, poisoned(g, [n]));
        const dx = ops.siluBackward(g, tx, tdy, poisoned(g, [n]));
        const s = ops.swiglu(g, tx, tu, poisoned(g, [n]));
        const { dg, du } = ops.swigluBackward(g, tx, tu, tdy);
        // silu' has a cancellation near x = -1.28 (where it is 0): scale by the terms' size.
        const dScale = Float64Array.from(x, (v, i) => Math.abs(dy[i]) * (1 + Math.abs(v)));
        expectClose('silu', await y.read(), ref.silu(x), TOL_ACT, Float64Array.from(x, Math.abs));
        expectClose('silu.dx', await dx.read(), ref.siluBackward(x, dy), TOL_ACT, dScale);
        expectClose('swiglu', await s.read(), ref.swiglu(x, u), TOL_ACT, Float64Array.from(x, (v, i) => Math.abs(v * u[i])));
        const r = ref.swigluBackward(x, u, dy);
        expectClose('swiglu.dg', await dg.read(), r.dg, TOL_ACT, Float64Array.from(dScale, (v, i) => v * Math.abs(u[i])));
        expectClose('swiglu.du', await du.read(), r.du, TOL_ACT, Float64Array.from(x, (v, i) => Math.abs(v * dy[i])));
        for (const t of [tx, tu, tdy, y, dx, s, dg, du]) t.release();
      }),
      { numRuns: 12 },
    );
  });

  it('bias add and bias gradient over rows', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1, 3, 17, 300), fc.constantFrom(1, 5, 64, 257, 896), fc.integer({ min: 1, max: 1e6 }),
        async (rows, cols, seed) => {
          const x = randomData(rows * cols, seed), b = randomData(cols, seed + 1);
          const tx = g.tensor(x, [rows, cols]), tb = g.tensor(b, [cols]);
          const y = ops.biasAdd(g, tx, tb, poisoned(g, [rows, cols]));
          const db = ops.biasGrad(g, tx, poisoned(g, [cols]));
          expectClose('biasAdd', await y.read(), ref.biasAdd(x, b, cols), TOL,
            Float64Array.from(x, (v, i) => Math.abs(v) + Math.abs(b[i % cols])));
          const absSum = ref.biasGrad(Float64Array.from(x, Math.abs), rows, cols);
          expectClose('biasGrad', await db.read(), ref.biasGrad(x, rows, cols), { rtol: 1e-5 * Math.max(1, Math.log2(rows)) }, absSum);
          for (const t of [tx, tb, y, db]) t.release();
        }),
      { numRuns: 10 },
    );
  });

  it('fill writes every element, and mismatched shapes are refused by name', async () => {
    const g = await gpu();
    const t = poisoned(g, [1000, 3]);
    g.fill(t, 2.5);
    expect(Array.from(await t.read()).every((v) => v === 2.5)).toBe(true);
    const a = g.empty([4, 5]);
    expect(() => ops.add(g, a, t)).toThrow(/add|axpby.*shapes differ.*\[4, 5\].*\[1000, 3\]/);
    a.release();
    t.release();
  });
});
