import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/rope.ts';
import * as ops from '../src/ops/rope.ts';
import { expectClose, poisoned, randomData, randomInts, rng, useGpu } from './helpers.ts';

const gpu = useGpu();
// cos/sin come from the f64 digit table composed in f32 (<= 4 table entries,
// ~3e-7 absolute at any position), then y = a c - b s rounds twice more: the
// error is relative to |a| + |b| of the rotated pair, and independent of pos.
const TOL = { rtol: 1e-6 };

const shapeArb = fc.record({
  B: fc.constantFrom(1, 2, 3),
  T: fc.constantFrom(1, 7, 31, 300),
  H: fc.constantFrom(1, 3, 9),
  D: fc.constantFrom(2, 8, 64, 66, 128),
  theta: fc.constantFrom(10000, 1e5, 1e6),
  partial: fc.boolean(),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

type Case = { B: number; T: number; H: number; D: number; theta: number; partial: boolean; seed: number };

function rotaryDim(c: Case): number {
  // Partial rotary: an even R below D (e.g. R = D/2 rounded to even), else the full D.
  return c.partial && c.D >= 4 ? 2 * Math.max(1, Math.floor(c.D / 4)) : c.D;
}

/** Left-padded batches: each row starts its count at a different offset, some rows negative. */
function positions(c: Case, maxPos: number): Int32Array {
  const r = rng(c.seed + 7);
  const pos = new Int32Array(c.B * c.T);
  for (let b = 0; b < c.B; b++) {
    const start = Math.floor(r() * maxPos) - (b === 2 ? c.T : 0);
    for (let t = 0; t < c.T; t++) pos[b * c.T + t] = start + t;
  }
  return pos;
}

/** |x_j| + |x_{j+R/2}| for rotated channels, |x| for pass-through ones. */
function pairScale(x: ArrayLike<number>, D: number, R: number): Float64Array {
  const half = R / 2;
  return Float64Array.from(x, (v, i) => {
    const c = i % D;
    if (c >= R) return Math.abs(v);
    const mate = c < half ? i + half : i - half;
    return Math.abs(v) + Math.abs(x[mate]);
  });
}

describe('rope vs float64 reference', () => {
  it('forward and backward, full and partial rotary, positions up to a few thousand', async () => {
    const g = await gpu();
    let worst = 0;
    await fc.assert(
      fc.asyncProperty(shapeArb, async (c) => {
        const { B, T, H, D, theta } = c;
        const R = rotaryDim(c);
        const n = B * T * H * D;
        const x = randomData(n, c.seed), dy = randomData(n, c.seed + 1);
        const pos = positions(c, 4000);
        const tx = g.tensor(x, [B, T, H, D]), tdy = g.tensor(dy, [B, T, H, D]), tpos = g.tensor(pos, [B, T], 'i32');
        const y = ops.rope(g, tx, tpos, { theta, rotaryDim: R, out: poisoned(g, [B, T, H, D]) });
        const dx = ops.ropeBackward(g, tdy, tpos, { theta, rotaryDim: R, out: poisoned(g, [B, T, H, D]) });
        const s = { B, T, H, D, theta, rotaryDim: R };
        const gy = await y.read(), gdx = await dx.read();
        expectClose('rope', gy, ref.rope(x, pos, s), TOL, pairScale(x, D, R));
        expectClose('ropeBackward', gdx, ref.ropeBackward(dy, pos, s), TOL, pairScale(dy, D, R));
        worst = Math.max(worst, maxRelErr(gy, ref.rope(x, pos, s), pairScale(x, D, R)));
        for (const t of [tx, tdy, tpos, y, dx]) t.release();
      }),
      { numRuns: 12 },
    );
    console.log(`rope: worst error ${worst.toExponential(2)} x (|a| + |b|)`);
  });

  it('in place (out === x), including large and extreme positions', async () => {
    const g = await gpu();
    const B = 2, T = 257, H = 3, D = 64;
    const n = B * T * H * D;
    const x = randomData(n, 11);
    // Row 0: a 32k context; row 1: scattered extreme values, both signs.
    const r = rng(5);
    const pos = Int32Array.from({ length: B * T }, (_, i) =>
      i < T ? 32768 - T + i : [0, 1, -1, 255, 256, 65535, 65536, 2 ** 24 + 3, 2 ** 31 - 1, -(2 ** 31)][i % 10] + (i % 10 < 8 ? Math.floor(r() * 1000) : 0));
    const s = { B, T, H, D, theta: 1e6 };
    for (const [op, fn, expected] of [
      ['rope', ops.rope, ref.rope(x, pos, s)],
      ['ropeBackward', ops.ropeBackward, ref.ropeBackward(x, pos, s)],
    ] as const) {
      const tx = g.tensor(x, [B, T, H, D]), tpos = g.tensor(pos, [B, T], 'i32');
      const y = fn(g, tx, tpos, { theta: 1e6, out: tx });
      expect(y).toBe(tx);
      expectClose(`${op} in place`, await tx.read(), expected, TOL, pairScale(x, D, D));
      tx.release();
      tpos.release();
    }
  });

  it('partial rotary in place leaves the tail channels untouched', async () => {
    const g = await gpu();
    const B = 1, T = 13, H = 2, D = 10, R = 4;
    const x = randomData(B * T * H * D, 3);
    const pos = randomInts(B * T, 4, 0, 3000);
    const tx = g.tensor(x, [B, T, H, D]), tpos = g.tensor(pos, [B, T], 'i32');
    ops.rope(g, tx, tpos, { theta: 10000, rotaryDim: R, out: tx });
    const got = await tx.read();
    expectClose('rope partial in place', got, ref.rope(x, pos, { B, T, H, D, theta: 10000, rotaryDim: R }), TOL, pairScale(x, D, R));
    for (let i = 0; i < got.length; i++) if (i % D >= R) expect(got[i]).toBe(x[i]);
    tx.release();
    tpos.release();
  });

  it('bad input is refused naming the op and shapes', async () => {
    const g = await gpu();
    const x = g.empty([2, 3, 4, 8]), pos = g.empty([2, 4], 'i32'), x3 = g.empty([2, 3, 32]), posF = g.empty([2, 3]);
    expect(() => ops.rope(g, x, pos, { theta: 1e4 })).toThrow(/rope: pos .*i32\[2, 4\].*\[B, T\] = \[2, 3\].*f32\[2, 3, 4, 8\]/);
    expect(() => ops.rope(g, x3, pos, { theta: 1e4 })).toThrow(/rope: x .*f32\[2, 3, 32\] must be f32 \[B, T, H, D\]/);
    expect(() => ops.ropeBackward(g, x, posF, { theta: 1e4 })).toThrow(/ropeBackward: pos .*f32\[2, 3\]/);
    const pos2 = g.empty([2, 3], 'i32');
    expect(() => ops.rope(g, x, pos2, { theta: 1e4, rotaryDim: 5 })).toThrow(/rope: rotaryDim 5 must be even/);
    expect(() => ops.rope(g, x, pos2, { theta: 1e4, out: g.empty([2, 3, 4, 7]) })).toThrow(/rope: out .*\[2, 3, 4, 7\]/);
    for (const t of [x, pos, x3, posF, pos2]) t.release();
  });
});

describe('rope float64 reference', () => {
  it('backward matches central finite differences of sum(w * rope(x))', () => {
    const B = 2, T = 3, H = 2, D = 6, R = 4;
    const s = { B, T, H, D, theta: 100, rotaryDim: R };
    const x = Float64Array.from(randomData(B * T * H * D, 1)), w = Float64Array.from(randomData(B * T * H * D, 2));
    const pos = Int32Array.from([0, 1, 2, 5, 9, -3]);
    const loss = (xx: Float64Array) => ref.rope(xx, pos, s).reduce((acc, v, i) => acc + v * w[i], 0);
    const grad = ref.ropeBackward(w, pos, s);
    const h = 1e-6;
    for (let i = 0; i < x.length; i++) {
      const xp = Float64Array.from(x), xm = Float64Array.from(x);
      xp[i] += h;
      xm[i] -= h;
      const fd = (loss(xp) - loss(xm)) / (2 * h);
      expect(Math.abs(fd - grad[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(grad[i])));
    }
  });

  it('the f64 digit table composes to cos/sin of the full angle', () => {
    const R = 8, theta = 1e4;
    const tab = ops.ropeTableData(theta, R);
    const freq = ref.invFreq(theta, R);
    for (const p of [0, 1, 300, 32767, 70000, 2 ** 24 + 5]) {
      for (let j = 0; j < R / 2; j++) {
        let c = 1, s = 0;
        for (let k = 0; k < 4; k++) {
          const d = Math.floor(p / 256 ** k) % 256;
          const at = ((k * 256 + d) * (R / 2) + j) * 2;
          [c, s] = [c * tab[at] - s * tab[at + 1], s * tab[at] + c * tab[at + 1]];
        }
        expect(Math.abs(c - Math.cos(p * freq[j]))).toBeLessThan(3e-7);
        expect(Math.abs(s - Math.sin(p * freq[j]))).toBeLessThan(3e-7);
      }
    }
  });
});

function maxRelErr(a: ArrayLike<number>, e: ArrayLike<number>, scale: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - e[i]) / scale[i]);
  return m;
}
