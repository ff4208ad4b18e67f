import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/pooling.ts';
import * as ops from '../src/ops/pooling.ts';
import { expectClose, poisoned, randomData, rng, useGpu } from './helpers.ts';

const gpu = useGpu();
// Last-token pooling and its backward copy values: exact. The masked mean is a
// sequential float32 sum over t then one division (scale: sum of |h| / count);
// its backward is one division per element.
const EXACT = { rtol: 0 };
const TOL = { rtol: 1e-5 };

type MaskKind = 'left' | 'right' | 'random';

/**
 * mask [B, T] (i32). Left padding: zeros then ones; right padding: ones then
 * zeros; random: arbitrary non-zero values (any non-zero is valid) at random
 * places. Row 0 has no valid token when B > 1, and every kind has lengths 0..T.
 */
function makeMask(kind: MaskKind, B: number, T: number, seed: number): Int32Array {
  const r = rng(seed);
  const mask = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const len = b === 0 && B > 1 ? 0 : b === B - 1 ? T : Math.floor(r() * (T + 1));
    for (let t = 0; t < T; t++) {
      const valid = kind === 'left' ? t >= T - len : kind === 'right' ? t < len : len > 0 && r() < 0.5;
      mask[b * T + t] = valid ? (kind === 'random' ? [1, 1, 1, 7, -1][Math.floor(r() * 5)] : 1) : 0;
    }
  }
  return mask;
}

function meanScale(h: Float32Array, mask: Int32Array, B: number, T: number, C: number): Float64Array {
  return ref.meanPool(Float64Array.from(h, Math.abs), mask, B, T, C);
}

const shapeArb = fc.record({
  B: fc.constantFrom(1, 2, 3, 5, 8),
  T: fc.constantFrom(1, 2, 7, 64, 255, 256, 257, 1000),
  C: fc.constantFrom(1, 3, 64, 65, 257, 576),
  kind: fc.constantFrom<MaskKind>('left', 'right', 'random'),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
}).map((s) => ({ ...s, T: Math.max(1, Math.min(s.T, Math.floor(400_000 / (s.B * s.C)))) }));

describe('pooling vs float64 reference', () => {
  it('last-token pooling and its backward, left/right/random padding and empty rows', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(shapeArb, async ({ B, T, C, kind, seed }) => {
        const h = randomData(B * T * C, seed), dy = randomData(B * C, seed + 1), mask = makeMask(kind, B, T, seed + 2);
        const th = g.tensor(h, [B, T, C]), tm = g.tensor(mask, [B, T], 'i32'), tdy = g.tensor(dy, [B, C]);
        const { out, index } = ops.lastTokenPool(g, th, tm, { out: poisoned(g, [B, C]), index: poisoned(g, [B], 'i32') });
        const dh = ops.lastTokenPoolBackward(g, index, tdy, T, poisoned(g, [B, T, C]));
        const r = ref.lastTokenPool(h, mask, B, T, C);
        expect(Array.from(await index.read())).toEqual(Array.from(r.index));
        expectClose(`lastTokenPool.out [${B}, ${T}, ${C}] ${kind}`, await out.read(), r.out, EXACT);
        expectClose(`lastTokenPool.dh [${B}, ${T}, ${C}] ${kind}`, await dh.read(), ref.lastTokenPoolBackward(r.index, dy, B, T, C), EXACT);
        for (const t of [th, tm, tdy, out, index, dh]) t.release();
      }),
      { numRuns: 15 },
    );
  });

  it('masked mean pooling and its backward, left/right/random padding and empty rows', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(shapeArb, async ({ B, T, C, kind, seed }) => {
        const h = randomData(B * T * C, seed), dy = randomData(B * C, seed + 1), mask = makeMask(kind, B, T, seed + 2);
        const th = g.tensor(h, [B, T, C]), tm = g.tensor(mask, [B, T], 'i32'), tdy = g.tensor(dy, [B, C]);
        const out = ops.meanPool(g, th, tm, poisoned(g, [B, C]));
        const dh = ops.meanPoolBackward(g, tm, tdy, poisoned(g, [B, T, C]));
        expectClose(`meanPool.out [${B}, ${T}, ${C}] ${kind}`, await out.read(), ref.meanPool(h, mask, B, T, C), TOL,
          meanScale(h, mask, B, T, C));
        expectClose(`meanPool.dh [${B}, ${T}, ${C}] ${kind}`, await dh.read(), ref.meanPoolBackward(mask, dy, B, T, C), TOL);
        for (const t of [th, tm, tdy, out, dh]) t.release();
      }),
      { numRuns: 15 },
    );
  });

  it('a batch of all-empty rows gives zeros and index -1, never NaN', async () => {
    const g = await gpu();
    const B = 3, T = 300, C = 70;
    const th = g.tensor(randomData(B * T * C, 5, 1e30, 3e38), [B, T, C]); // huge values that must not leak
    const tm = g.tensor(new Int32Array(B * T), [B, T], 'i32');
    const tdy = g.tensor(randomData(B * C, 6), [B, C]);
    const last = ops.lastTokenPool(g, th, tm, { out: poisoned(g, [B, C]), index: poisoned(g, [B], 'i32') });
    const mean = ops.meanPool(g, th, tm, poisoned(g, [B, C]));
    const dhLast = ops.lastTokenPoolBackward(g, last.index, tdy, T, poisoned(g, [B, T, C]));
    const dhMean = ops.meanPoolBackward(g, tm, tdy, poisoned(g, [B, T, C]));
    expect(Array.from(await last.index.read())).toEqual([-1, -1, -1]);
    for (const t of [last.out, mean, dhLast, dhMean]) expect(Array.from(await t.read()).every((v) => v === 0)).toBe(true);
    for (const t of [th, tm, tdy, last.out, last.index, mean, dhLast, dhMean]) t.release();
  });

  it('refuses bad input, naming the op and the shapes', async () => {
    const g = await gpu();
    const h = g.empty([2, 5, 4]), mf = g.empty([2, 5]), m = g.empty([2, 6], 'i32'), dy = g.empty([3, 4]), idx = g.empty([2], 'i32');
    expect(() => ops.lastTokenPool(g, h, mf)).toThrow(/lastTokenPool: mask .*f32\[2, 5\] must be i32\[2, 5\]/);
    expect(() => ops.meanPool(g, h, m)).toThrow(/meanPool: mask .*i32\[2, 6\] must be i32\[2, 5\]/);
    expect(() => ops.meanPoolBackward(g, m, dy)).toThrow(/meanPoolBackward: dy .*f32\[3, 4\] must be f32\[2, C\] for mask .*i32\[2, 6\]/);
    expect(() => ops.lastTokenPoolBackward(g, idx, dy, 5)).toThrow(/lastTokenPoolBackward: index .*i32\[2\] must be i32\[3\]/);
    for (const t of [h, mf, m, dy, idx]) t.release();
  });
});

describe('pooling float64 reference', () => {
  it('backward matches central finite differences', () => {
    const B = 3, T = 4, C = 2, hstep = 1e-6;
    const h = Float64Array.from(randomData(B * T * C, 41));
    const g = Float64Array.from(randomData(B * C, 42)); // dL/dout for L = sum(g * out)
    const mask = Int32Array.from([0, 1, 1, 0, /**/ 0, 0, 0, 0, /**/ 1, 0, 1, 1]);
    const numeric = (f: () => Float64Array) => Float64Array.from(h, (_, i) => {
      const loss = () => f().reduce((s, v, j) => s + v * g[j], 0);
      const keep = h[i];
      h[i] = keep + hstep; const up = loss();
      h[i] = keep - hstep; const down = loss();
      h[i] = keep;
      return (up - down) / (2 * hstep);
    });
    const { index } = ref.lastTokenPool(h, mask, B, T, C);
    expect(Array.from(index)).toEqual([2, -1, 3]);
    expectClose('ref lastTokenPool dh vs finite differences', ref.lastTokenPoolBackward(index, g, B, T, C),
      numeric(() => ref.lastTokenPool(h, mask, B, T, C).out), { rtol: 1e-6, atol: 1e-8 });
    expectClose('ref meanPool dh vs finite differences', ref.meanPoolBackward(mask, g, B, T, C),
      numeric(() => ref.meanPool(h, mask, B, T, C)), { rtol: 1e-6, atol: 1e-8 });
  });
});
