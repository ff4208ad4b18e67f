// Logistic-regression probe: the L-BFGS minimiser on functions with known
// minima, the objective's gradient against central differences, a 1-D problem
// whose optimum is solved by hand (checks the C / n scaling), 100% on
// separable data, about chance on random labels, determinism, invariance to
// feature scale (the standardisation), unseen test labels, input errors.
import { describe, expect, it } from 'vitest';
import { lbfgs, predictProbe, probeAccuracy, probeObjective, trainProbe } from '../src/eval/probe.ts';
import { randomData, randomInts } from './helpers.ts';

describe('lbfgs', () => {
  it('minimises an ill-conditioned quadratic to its centre', () => {
    // f = 1/2 sum a_i (x_i - c_i)^2, a_i in [1, 100]: minimum 0 at c
    const n = 20;
    const a = Float64Array.from({ length: n }, (_, i) => 1 + (99 * i) / (n - 1));
    const c = randomData(n, 3);
    const r = lbfgs((x, g) => {
      let f = 0;
      for (let i = 0; i < n; i++) { const d = x[i] - c[i]; f += 0.5 * a[i] * d * d; g[i] = a[i] * d; }
      return f;
    }, new Float64Array(n), { maxIters: 200, gradTol: 1e-10, ftol: 0 }); // ftol 0: stop on the gradient only
    expect(r.converged).toBe(true);
    for (let i = 0; i < n; i++) expect(Math.abs(r.x[i] - c[i])).toBeLessThan(1e-9);
  });

  it('solves Rosenbrock from (-1.2, 1) to (1, 1)', () => {
    // f = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1)
    const r = lbfgs((p, g) => {
      const [x, y] = p;
      g[0] = -2 * (1 - x) - 400 * x * (y - x * x);
      g[1] = 200 * (y - x * x);
      return (1 - x) ** 2 + 100 * (y - x * x) ** 2;
    }, new Float64Array([-1.2, 1]), { maxIters: 500, gradTol: 1e-9 });
    expect(r.x[0]).toBeCloseTo(1, 6);
    expect(r.x[1]).toBeCloseTo(1, 6);
    expect(r.f).toBeLessThan(1e-12);
  });
});

describe('probe objective', () => {
  it('gradient matches central differences', () => {
    const n = 7, dim = 4, K = 3;
    const z = Float64Array.from(randomData(n * dim, 21));
    const y = Int32Array.from(randomInts(n, 22, 0, K));
    const theta = Float64Array.from(randomData(K * dim + K, 23));
    const lambda = 0.3;
    const g = new Float64Array(theta.length), scratch = new Float64Array(theta.length);
    probeObjective(theta, g, z, y, n, dim, K, lambda);
    const h = 1e-6;
    for (let j = 0; j < theta.length; j++) {
      const tp = theta.slice(), tm = theta.slice();
      tp[j] += h; tm[j] -= h;
      const fd = (probeObjective(tp, scratch, z, y, n, dim, K, lambda) - probeObjective(tm, scratch, z, y, n, dim, K, lambda)) / (2 * h);
      // central difference error ~ h^2 f''' + eps f / h: ~1e-9 here
      expect(Math.abs(fd - g[j]), `theta[${j}]`).toBeLessThan(1e-7);
    }
  });

  it('1-D, two points: the optimum solved by hand', () => {
    // x = (-1, 1), classes (0, 1); standardised z = x. C = 1, n = 2 -> lambda = 1/2.
    // By symmetry the optimum has W = (-w, w), b0 = b1, so each point's loss is
    // ln(1 + e^{-2w}) and L(w) = ln(1 + e^{-2w}) + (1/2)(1/2)(2 w^2) = ln(1 + e^{-2w}) + w^2 / 2.
    // L'(w) = 0  <=>  w = 2 / (1 + e^{2w}); bisection gives w = 0.52135...
    let lo = 0, hi = 2;
    for (let i = 0; i < 100; i++) { const m = (lo + hi) / 2; if (m - 2 / (1 + Math.exp(2 * m)) < 0) lo = m; else hi = m; }
    const w = lo;
    expect(w).toBeCloseTo(0.5214, 3);
    const p = trainProbe(new Float64Array([-1, 1]), 2, 1, [0, 1], { gradTol: 1e-12 });
    expect(p.converged).toBe(true);
    expect(p.weights[0]).toBeCloseTo(-w, 8);
    expect(p.weights[1]).toBeCloseTo(w, 8);
    expect(p.bias[0]).toBeCloseTo(p.bias[1], 8);
    expect(p.loss).toBeCloseTo(Math.log(1 + Math.exp(-2 * w)) + (w * w) / 2, 10);
    // C = 4 weakens the penalty: lambda = 1/8, L = ln(1 + e^{-2w}) + w^2/8, w = 8 / (1 + e^{2w}) > previous
    const q = trainProbe(new Float64Array([-1, 1]), 2, 1, [0, 1], { c: 4, gradTol: 1e-12 });
    const w4 = q.weights[1];
    expect(Math.abs(w4 - 8 / (1 + Math.exp(2 * w4)))).toBeLessThan(1e-8);
  });
});

/** m points per class around centres 3 e_c (c < K) in dim dims, noise +-1. */
function separable(m: number, K: number, dim: number, seed: number) {
  const noise = randomData(m * K * dim, seed, 0.01, 1);
  const x = new Float32Array(m * K * dim);
  const labels: number[] = [];
  for (let i = 0; i < m * K; i++) {
    const c = i % K;
    labels.push(c);
    for (let j = 0; j < dim; j++) x[i * dim + j] = noise[i * dim + j] + (j === c ? 3 : 0);
  }
  return { x, n: m * K, labels };
}

describe('probe accuracy', () => {
  it('separable classes: 100% on held-out data', () => {
    // centres 3 apart per axis with noise below 1 per coordinate: the margin
    // between class c and c' on axes c, c' is at least 3 - 2 > 0, so the
    // classes are linearly separable.
    const train = separable(30, 3, 8, 1), test = separable(20, 3, 8, 2);
    const r = probeAccuracy(train, test, 8);
    expect(r.trainAccuracy).toBe(1);
    expect(r.accuracy).toBe(1);
    expect(r.correct).toBe(60);
    expect(r.total).toBe(60);
    expect(r.probe.classes).toEqual([0, 1, 2]);
  });

  it('random labels: about chance (1/4) on held-out data', () => {
    // 600 test items at p = 1/4: sd sqrt(0.25 * 0.75 / 600) = 0.018; the band is 4.5 sd.
    const dim = 16;
    const train = { x: randomData(300 * dim, 31), n: 300, labels: Array.from(randomInts(300, 32, 0, 4)) };
    const test = { x: randomData(600 * dim, 33), n: 600, labels: Array.from(randomInts(600, 34, 0, 4)) };
    const r = probeAccuracy(train, test, dim);
    expect(r.accuracy).toBeGreaterThan(0.17);
    expect(r.accuracy).toBeLessThan(0.33);
    expect(r.trainAccuracy).toBeGreaterThan(r.accuracy); // it does fit the training noise
  });

  it('deterministic; invariant to per-feature scale and shift; string labels', () => {
    const train = separable(10, 4, 6, 5), test = separable(10, 4, 6, 6);
    // noisier copy so the decision is not trivial
    const extra = randomData(train.x.length, 7);
    for (let i = 0; i < train.x.length; i++) train.x[i] += 2 * extra[i];
    const a = trainProbe(train.x, train.n, 6, train.labels);
    const b = trainProbe(train.x, train.n, 6, train.labels);
    expect(b.weights).toEqual(a.weights);
    expect(b.bias).toEqual(a.bias);
    // x'_j = 1000 x_j + 5 j standardises to the same z (up to rounding)
    const scale = (x: Float32Array) => Float64Array.from(x, (v, i) => 1000 * v + 5 * (i % 6));
    const s = trainProbe(scale(train.x), train.n, 6, train.labels.map((l) => `class-${l}`));
    expect(s.classes).toEqual(['class-0', 'class-1', 'class-2', 'class-3']);
    for (let j = 0; j < a.weights.length; j++) expect(Math.abs(s.weights[j] - a.weights[j])).toBeLessThan(1e-5);
    expect(Array.from(predictProbe(s, scale(test.x), test.n))).toEqual(Array.from(predictProbe(a, test.x, test.n)));
  });

  it('a test label never seen in training counts as wrong', () => {
    const train = separable(10, 2, 4, 8), test = separable(5, 3, 4, 9); // class 2 only in test
    const r = probeAccuracy(train, test, 4);
    expect(r.total).toBe(15);
    expect(r.correct).toBeLessThanOrEqual(10);
  });

  it('input errors', () => {
    const x = new Float32Array([1, 2, 3, 4]);
    expect(() => trainProbe(x, 2, 2, [0, 0])).toThrow(/training labels hold 1 class; a classifier needs at least 2/);
    expect(() => trainProbe(x, 2, 2, [0, 1, 1])).toThrow(/labels has 3 labels, expected 2/);
    expect(() => trainProbe(x, 2, 2, [0, 1], { c: 0 })).toThrow(/c \(inverse regularisation\) = 0/);
    expect(() => trainProbe(x, 4, 2, [0, 1, 0, 1])).toThrow(/x has 4 elements; \[4, 2\] needs 8/);
    const p = trainProbe(x, 2, 2, [0, 1]);
    expect(() => predictProbe(p, new Float32Array(3), 1)).toThrow(/predictProbe: x has 3 elements; \[1, 2\] needs 2/);
  });
});
