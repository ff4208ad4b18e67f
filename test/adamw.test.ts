import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/adamw.ts';
import * as ops from '../src/ops/adamw.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { AWKWARD_SIZES, expectClose, randomData, useGpu } from './helpers.ts';

const gpu = useGpu();
// Sum of squares in f32: 16 sequential terms, two 8-level trees and a short
// sequential pass, all of positive terms: relative error of the squared norm
// well under 1e-5, half that on the norm.
const TOL_NORM = { rtol: 1e-5 };
// AdamW after 5 steps in f32 state vs a float64 trajectory: a few roundings per
// step on each of p, m, v, plus the f32 clip factor (1e-6 relative) when clipping.
const TOL_P = { rtol: 2e-6 };
const TOL_MV = { rtol: 5e-6 };

const sizeArb = fc.constantFrom(...AWKWARD_SIZES, 5000, 70001);

describe('gradNorm and clipScale vs float64 reference', () => {
  it('norm over a list of tensors, fixed order (bit-identical across runs)', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(fc.array(sizeArb, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 1 << 30 }), fc.constantFrom(1, 1e-3, 1e4),
        async (sizes, seed, mag) => {
          const data = sizes.map((n, k) => randomData(n, seed + k, 0.05 * mag, mag));
          const ts = data.map((d, k) => g.tensor(d, [sizes[k]]));
          const n1 = ops.gradNorm(g, ts), n2 = ops.gradNorm(g, ts);
          const [a, b] = [await n1.read(), await n2.read()];
          expectClose('gradNorm', a, [ref.gradNorm(data)], TOL_NORM);
          expect(Object.is(a[0], b[0])).toBe(true);
          for (const maxNorm of [0.5 * a[0], 2 * a[0] + 1]) {
            const s = ops.clipScale(g, n1, maxNorm);
            expectClose('clipScale', await s.read(), [ref.clipScale(ref.gradNorm(data), Math.fround(maxNorm))], TOL_NORM);
            s.release();
          }
          for (const t of [...ts, n1, n2]) t.release();
        }),
      { numRuns: 10 },
    );
  });

  it('crosses many chunks: over 256 partials for the final workgroup', async () => {
    const g = await gpu();
    const data = [randomData(1_100_003, 3), randomData(7, 4), randomData(0, 5)];
    const ts = data.map((d) => g.tensor(d, [d.length]));
    const norm = ops.gradNorm(g, ts);
    expectClose('gradNorm large', await norm.read(), [ref.gradNorm(data)], TOL_NORM);
    const empty = ops.gradNorm(g, [ts[2]]);
    expect(Array.from(await empty.read())).toEqual([0]);
    for (const t of [...ts, norm, empty]) t.release();
  });
});

describe('adamwStep vs float64 reference', () => {
  it('5-step trajectories, weight decay, with and without clipping', async () => {
    const g = await gpu();
    let worstP = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(sizeArb, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 1 << 30 }),
        fc.record({
          lr: fc.constantFrom(1e-3, 3e-4, 0.1),
          beta1: fc.constantFrom(0.9, 0.8),
          beta2: fc.constantFrom(0.999, 0.95),
          eps: fc.constantFrom(1e-8, 1e-6),
          weightDecay: fc.constantFrom(0, 0.01, 0.1),
        }),
        // Gradient magnitude (1e-8: comparable to eps) and clipping (maxNorm relative to a typical norm).
        fc.constantFrom(1e-8, 1, 1e3),
        fc.constantFrom(null, 0.3, 100),
        async (sizes, seed, hyper, mag, clip) => {
          const p0 = sizes.map((n, k) => randomData(n, seed + 100 * k));
          const state = sizes.map((n, k) => ({
            param: g.tensor(p0[k], [n]), grad: g.empty([n]), m: g.zeros([n]), v: g.zeros([n]),
          }));
          let r: { p: Float64Array; m: Float64Array; v: Float64Array }[] = p0.map((p) => ({ p: Float64Array.from(p), m: new Float64Array(p.length), v: new Float64Array(p.length) }));
          let absM = p0.map((p) => new Float64Array(p.length)); // m of |g * scale|: the scale of m's rounding error
          for (let t = 1; t <= 5; t++) {
            const grads = sizes.map((n, k) => randomData(n, seed + 100 * k + t, 0.05 * mag, mag));
            state.forEach((s, k) => s.grad.write(grads[k]));
            let scale: Tensor | undefined, norm: Tensor | undefined, refScale = 1;
            if (clip !== null) {
              const total = ref.gradNorm(grads);
              const maxNorm = clip * mag * Math.sqrt(sizes.reduce((a, b) => a + b, 0)) * 0.5;
              norm = ops.gradNorm(g, state.map((s) => s.grad));
              scale = ops.clipScale(g, norm, maxNorm);
              refScale = ref.clipScale(total, Math.fround(maxNorm));
            }
            for (const s of state) ops.adamwStep(g, s, hyper, t, scale);
            r = r.map((s, k) => ref.adamwStep(s.p, grads[k], s.m, s.v, hyper, t, refScale));
            absM = absM.map((m, k) => Float64Array.from(m, (v, i) => hyper.beta1 * v + (1 - hyper.beta1) * Math.abs(grads[k][i] * refScale)));
            norm?.release();
            scale?.release();
          }
          for (let k = 0; k < sizes.length; k++) {
            const [p, m, v] = [await state[k].param.read(), await state[k].m.read(), await state[k].v.read()];
            // p moves by at most ~lr per step (|mhat| / sqrt(vhat) <= ~1 for Adam).
            const pScale = Float64Array.from(r[k].p, (x) => Math.abs(x) + 5 * hyper.lr);
            expectClose(`adamw p[${k}]`, p, r[k].p, TOL_P, pScale);
            expectClose(`adamw m[${k}]`, m, r[k].m, TOL_MV, absM[k]);
            expectClose(`adamw v[${k}]`, v, r[k].v, TOL_MV);
            for (let i = 0; i < p.length; i++) worstP = Math.max(worstP, Math.abs(p[i] - r[k].p[i]) / pScale[i]);
          }
          for (const s of state) for (const t of Object.values(s)) t.release();
        }),
      { numRuns: 12 },
    );
    console.log(`adamw: worst p error ${worstP.toExponential(2)} x (|p| + 5 lr)`);
  });

  it('SGD (torch semantics): 4-step trajectories with momentum, coupled decay and a clip scale', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(sizeArb, fc.integer({ min: 1, max: 1 << 30 }), fc.constantFrom(0, 0.9), fc.constantFrom(0, 0.01), fc.boolean(),
        async (n, seed, momentum, weightDecay, clip) => {
          const p0 = randomData(n, seed);
          const state = { param: g.tensor(p0, [n]), grad: g.empty([n]), buf: g.tensor(new Float32Array(n).fill(NaN), [n]) };
          if (momentum !== 0) g.fill(state.buf, 0); // without momentum the buffer is never read: NaN proves it
          const scale = clip ? g.tensor([0.25], [1]) : undefined;
          let r: { p: Float64Array; b: Float64Array } = { p: Float64Array.from(p0), b: new Float64Array(n) };
          for (let t = 1; t <= 4; t++) {
            const grad = randomData(n, seed + t);
            state.grad.write(grad);
            ops.sgdStep(g, state, { lr: 0.05, momentum, weightDecay }, scale);
            r = ref.sgdStep(r.p, grad, r.b, Math.fround(0.05), Math.fround(momentum), Math.fround(weightDecay), clip ? 0.25 : 1);
          }
          expectClose('sgd p', await state.param.read(), r.p, { rtol: 1e-6 }, Float64Array.from(r.p, (x) => Math.abs(x) + 0.2));
          for (const t of [state.param, state.grad, state.buf, scale]) t?.release();
        }),
      { numRuns: 8 },
    );
  });

  it('bad input is refused naming the op and the shapes', async () => {
    const g = await gpu();
    const a = g.empty([4, 5]), b = g.empty([20]), c = g.empty([4, 5]), d = g.empty([4, 5]), e = g.empty([4, 5]), two = g.empty([2]);
    expect(() => ops.adamwStep(g, { param: a, grad: b, m: c, v: d }, { lr: 1e-3 }, 1)).toThrow(/adamwStep: shapes differ: .*param .*f32\[4, 5\].*grad .*f32\[20\]/);
    expect(() => ops.adamwStep(g, { param: a, grad: e, m: c, v: d }, { lr: 1e-3 }, 0)).toThrow(/adamwStep: step 0 must be an integer >= 1/);
    expect(() => ops.adamwStep(g, { param: a, grad: e, m: c, v: d }, { lr: 1e-3 }, 1, two)).toThrow(/adamwStep: scale .*f32\[2\] must be an f32 tensor of one element/);
    expect(() => ops.adamwStep(g, { param: a, grad: e, m: c, v: c }, { lr: 1e-3 }, 1)).toThrow(/adamwStep: param, grad, m and v must be distinct/);
    expect(() => ops.clipScale(g, two, 1)).toThrow(/clipScale: norm .*f32\[2\]/);
    const i = g.empty([3], 'i32');
    expect(() => ops.gradNorm(g, [a, i])).toThrow(/gradNorm: .*i32\[3\] must be f32/);
    for (const t of [a, b, c, d, e, two, i]) t.release();
  });
});

describe('adamw float64 reference', () => {
  it('first step without decay moves each p by lr * g / (|g| + eps)', () => {
    const h = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-3, weightDecay: 0 };
    const p = [1, -2, 3], gr = [0.5, -0.001, 2];
    const r = ref.adamwStep(p, gr, [0, 0, 0], [0, 0, 0], h, 1);
    r.p.forEach((v, i) => expect(v).toBeCloseTo(p[i] - (h.lr * gr[i]) / (Math.abs(gr[i]) + h.eps), 14));
    // Decoupled decay: with g tiny against eps, p shrinks by lr * wd * p only.
    const d = ref.adamwStep([2], [1e-30], [0], [0], { ...h, weightDecay: 0.1 }, 1);
    expect(d.p[0]).toBeCloseTo(2 - 0.01 * 0.1 * 2, 14);
    expect(ref.gradNorm([[3], [4, 12]])).toBe(13);
    expect(ref.clipScale(13, 1)).toBeCloseTo(1 / (13 + 1e-6), 15);
    expect(ref.clipScale(0.5, 1)).toBe(1);
  });
});
