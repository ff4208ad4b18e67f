// Clustering: V-measure / homogeneity / completeness / NMI against values
// derived by hand (natural logs) and sklearn's edge cases; label-renaming
// invariance; k-means on hand-solvable 1-D sets, separated blobs (euclidean
// and cosine), seed determinism, the restart choice, the Lloyd fixed point;
// the greedy k-means++ seeding against a reference loop, and on data where
// it beats plain seeding; input errors.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  clusteringFromEmbeddings, entropy, homogeneityCompletenessVMeasure, kmeans, kmeansPlusPlus, mutualInfo, normalizedMutualInfo, vMeasure,
} from '../src/eval/cluster.ts';
import { Rng } from '../src/model/sample.ts';
import { EvalInputError } from '../src/eval/matrix.ts';
import { randomData, rng } from './helpers.ts';

const TOL = 1e-12;
const LN2 = Math.log(2), LN3 = Math.log(3);

describe('V-measure and NMI, by hand', () => {
  it('entropy and mutual information in nats', () => {
    expect(entropy([0, 0, 1, 1])).toBeCloseTo(LN2, 14);
    // p = 1/2, 1/4, 1/4: -(1/2 ln 1/2 + 2 * 1/4 ln 1/4) = 1/2 ln2 + ln2 = 1.5 ln2
    expect(entropy(['a', 'a', 'b', 'c'])).toBeCloseTo(1.5 * LN2, 14);
    expect(entropy([7, 7, 7])).toBe(0);
    expect(entropy([])).toBe(1); // sklearn's value for no labels
    // pure clusters: I = H(C) = ln 2
    expect(mutualInfo([0, 0, 1, 1], [0, 0, 1, 2])).toBeCloseTo(LN2, 14);
    expect(mutualInfo([0, 1, 0, 1], [0, 0, 1, 1])).toBeCloseTo(0, 14); // independent
  });

  it('sklearn doc example: [0,0,1,1] vs [0,0,1,2] -> 0.8', () => {
    // H(C) = ln2, H(K) = 1.5 ln2, I = ln2 (each cluster is pure)
    // h = 1, c = ln2 / 1.5 ln2 = 2/3, V = 2 * (2/3) / (5/3) = 0.8
    // NMI = ln2 / ((ln2 + 1.5 ln2) / 2) = 1 / 1.25 = 0.8
    const r = homogeneityCompletenessVMeasure([0, 0, 1, 1], [0, 0, 1, 2]);
    expect(r.homogeneity).toBeCloseTo(1, 14);
    expect(r.completeness).toBeCloseTo(2 / 3, 14);
    expect(r.vMeasure).toBeCloseTo(0.8, 14);
    expect(normalizedMutualInfo([0, 0, 1, 1], [0, 0, 1, 2])).toBeCloseTo(0.8, 14);
    expect(vMeasure([0, 0, 1, 2], [0, 0, 1, 1])).toBeCloseTo(0.8, 14); // swapped: h and c swap, V the same
  });

  it('a mixed case: classes [0,0,0,1,1,1], clusters [0,0,1,1,2,2]', () => {
    // contingency (class x cluster): row 0 = 2 1 0, row 1 = 0 1 2; a = 3 3, b = 2 2 2, N = 6
    // I = 2/6 ln(6*2/(3*2)) + 1/6 ln(6*1/(3*2)) + 1/6 ln(1) + 2/6 ln 2 = (2/3) ln2 = 0.4620981
    // H(C) = ln2, H(K) = ln3 -> h = 2/3, c = (2/3) ln2 / ln3 = 0.4206198
    // V = 2 h c / (h + c) = 0.5158037; NMI = (2/3) ln2 / ((ln2 + ln3)/2) = (4/3) ln2 / ln6 = 0.5158037
    const r = homogeneityCompletenessVMeasure([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]);
    const h = 2 / 3, c = ((2 / 3) * LN2) / LN3;
    expect(mutualInfo([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])).toBeCloseTo((2 / 3) * LN2, 14);
    expect(r.homogeneity).toBeCloseTo(h, 14);
    expect(r.completeness).toBeCloseTo(c, 14);
    expect(r.vMeasure).toBeCloseTo((2 * h * c) / (h + c), 14);
    expect(r.vMeasure).toBeCloseTo(0.5158037, 7);
    expect(normalizedMutualInfo([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])).toBeCloseTo(((4 / 3) * LN2) / Math.log(6), 14);
  });

  it("sklearn's edge cases when a side has one label", () => {
    // one class, one cluster: H(C) = H(K) = 0 -> h = c = 1, V = 1; NMI = 1 (nothing split)
    expect(homogeneityCompletenessVMeasure([3, 3, 3], ['x', 'x', 'x'])).toEqual({ homogeneity: 1, completeness: 1, vMeasure: 1 });
    expect(normalizedMutualInfo([3, 3, 3], [1, 1, 1])).toBe(1);
    // one class, split into clusters: h = 1 (H(C) = 0), c = I / H(K) = 0, V = 0; NMI = 0 (I = 0)
    expect(homogeneityCompletenessVMeasure([0, 0, 0, 0], [0, 1, 2, 3])).toEqual({ homogeneity: 1, completeness: 0, vMeasure: 0 });
    expect(normalizedMutualInfo([0, 0, 0, 0], [0, 1, 2, 3])).toBe(0);
    // several classes in one cluster: h = 0, c = 1, V = 0; NMI = 0
    expect(homogeneityCompletenessVMeasure([0, 1, 2, 3], [5, 5, 5, 5])).toEqual({ homogeneity: 0, completeness: 1, vMeasure: 0 });
    expect(normalizedMutualInfo([0, 1, 2, 3], [5, 5, 5, 5])).toBe(0);
    // no items: every score 1 (sklearn)
    expect(vMeasure([], [])).toBe(1);
    expect(normalizedMutualInfo([], [])).toBe(1);
    // beta weights completeness: beta = 0 gives homogeneity
    expect(vMeasure([0, 0, 1, 1], [0, 0, 1, 2], 0)).toBeCloseTo(1, 14);
  });

  it('renaming labels changes nothing; V (beta 1) equals arithmetic NMI when both sides split', () => {
    // V = 2hc/(h+c) with h = I/H(C), c = I/H(K) simplifies to 2I / (H(C) + H(K)).
    const arb = fc.integer({ min: 2, max: 60 }).chain((n) => fc.tuple(
      fc.array(fc.integer({ min: 0, max: 4 }), { minLength: n, maxLength: n }),
      fc.array(fc.integer({ min: 0, max: 5 }), { minLength: n, maxLength: n }),
    ));
    fc.assert(fc.property(arb, ([t, p]) => {
      const v = homogeneityCompletenessVMeasure(t, p);
      const renamed = homogeneityCompletenessVMeasure(t.map((x) => `c${x}`), p.map((x) => 100 - 7 * x));
      expect(Math.abs(renamed.vMeasure - v.vMeasure)).toBeLessThanOrEqual(TOL);
      expect(Math.abs(renamed.homogeneity - v.homogeneity)).toBeLessThanOrEqual(TOL);
      for (const x of [v.homogeneity, v.completeness, v.vMeasure]) { expect(x).toBeGreaterThanOrEqual(0); expect(x).toBeLessThanOrEqual(1 + TOL); }
      if (new Set(t).size > 1 && new Set(p).size > 1) {
        expect(Math.abs(normalizedMutualInfo(t, p) - v.vMeasure)).toBeLessThanOrEqual(TOL);
      }
      expect(Math.abs(vMeasure(p, t) - v.vMeasure)).toBeLessThanOrEqual(TOL);
    }), { numRuns: 300 });
  });

  it('input errors', () => {
    expect(() => vMeasure([0, 1], [0])).toThrow(EvalInputError);
    expect(() => vMeasure([0, 1], [0])).toThrow(/labelsPred has 1 labels, expected 2/);
    expect(() => normalizedMutualInfo([0, NaN], [0, 1])).toThrow(/labelsTrue\[1\] = NaN; a label must be a finite number or a string/);
    expect(() => vMeasure([0, 1], [0, 1], -1)).toThrow(/beta -1/);
  });
});

/** Three blobs of m points in dim dims around centres 6 e_0, 6 e_1, 6 e_2, noise in +-0.5. */
function blobs(m: number, dim: number, seed: number): { x: Float64Array; gold: number[] } {
  const noise = randomData(3 * m * dim, seed, 0.01, 0.5);
  const x = new Float64Array(3 * m * dim);
  const gold: number[] = [];
  for (let i = 0; i < 3 * m; i++) {
    const g = i % 3; // interleaved so clusters are not index ranges
    gold.push(g);
    for (let c = 0; c < dim; c++) x[i * dim + c] = noise[i * dim + c] + (c === g ? 6 : 0);
  }
  return { x, gold };
}

describe('k-means', () => {
  it('1-D sets solved by hand', () => {
    // {0, 1} and {10, 11}: centres 0.5 and 10.5, inertia 4 * 0.25 = 1
    const r = kmeans(new Float64Array([0, 1, 10, 11]), 4, 1, 2, { seed: 3 });
    expect(r.inertia).toBeCloseTo(1, 14);
    expect(r.labels[0]).toBe(r.labels[1]);
    expect(r.labels[2]).toBe(r.labels[3]);
    expect(r.labels[0]).not.toBe(r.labels[2]);
    expect([...r.centroids].sort((a, b) => a - b)).toEqual([0.5, 10.5]);
    expect(r.converged).toBe(true);
    // {0, 2, 3} | {10}: centre 5/3, inertia 25/9 + 1/9 + 16/9 = 14/3 (vs 26.5 for {0,2}|{3,10}, 38 for {0}|{2,3,10})
    const s = kmeans(new Float32Array([0, 2, 3, 10]), 4, 1, 2, { seed: 1, restarts: 5 });
    expect(s.inertia).toBeCloseTo(14 / 3, 12);
    // k = n: every point its own centre, inertia 0
    expect(kmeans(new Float64Array([4, -1, 7]), 3, 1, 3).inertia).toBe(0);
  });

  it('recovers separated blobs (V-measure 1) with euclidean and cosine', () => {
    const { x, gold } = blobs(20, 6, 11);
    for (const metric of ['euclidean', 'cosine'] as const) {
      const r = clusteringFromEmbeddings(x, 60, 6, gold, { seed: 5, metric, restarts: 3 });
      expect(r.k).toBe(3);
      expect(r.vMeasure, metric).toBeCloseTo(1, 12);
      expect(r.nmi, metric).toBeCloseTo(1, 12);
    }
  });

  it('cosine clusters by direction, euclidean by position', () => {
    // 10 points along e_0 and 10 along e_1, half with norm 0.1, half with norm 10.
    // Directions split {e_0} | {e_1}; euclidean k = 2 splits the two far groups
    // apart and leaves the near ones with whichever, not the direction split.
    const n = 20, x = new Float64Array(n * 2), dir: number[] = [];
    for (let i = 0; i < n; i++) {
      const d = i % 2, scale = i % 4 < 2 ? 0.1 : 10;
      x[i * 2 + d] = scale * (1 + 0.01 * i);
      dir.push(d);
    }
    const cos = kmeans(x, n, 2, 2, { metric: 'cosine', seed: 2 });
    expect(vMeasure(dir, cos.labels)).toBeCloseTo(1, 12);
    expect(cos.inertia).toBeCloseTo(0, 12); // every point on its centre's direction
    const euc = kmeans(x, n, 2, 2, { metric: 'euclidean', seed: 2 });
    expect(vMeasure(dir, euc.labels)).toBeLessThan(0.5);
  });

  it('same seed, same result; the kept run is the lowest inertia of its restarts', () => {
    const x = randomData(200 * 4, 7); // no structure: restarts find different local optima
    const a = kmeans(x, 200, 4, 8, { seed: 9, restarts: 6 });
    const b = kmeans(x, 200, 4, 8, { seed: 9, restarts: 6 });
    expect(b.labels).toEqual(a.labels);
    expect(b.centroids).toEqual(a.centroids);
    expect(a.inertias).toHaveLength(6);
    expect(a.inertia).toBe(Math.min(...a.inertias));
    expect(a.inertias[a.restart]).toBe(a.inertia);
    expect(a.inertias.indexOf(a.inertia)).toBe(a.restart); // ties go to the earlier run
    expect(new Set(a.inertias).size).toBeGreaterThan(1);
    // a single run can only be as good as the best of six that start with it (same stream)
    expect(kmeans(x, 200, 4, 8, { seed: 9, restarts: 1 }).inertia).toBe(a.inertias[0]);
  });

  it('a converged run is a Lloyd fixed point: nearest-centre labels, centres are the means', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 2, max: 5 }), (seed, k) => {
      const n = 30, d = 3;
      const x = randomData(n * d, seed);
      const r = kmeans(x, n, d, k, { seed, restarts: 2 });
      expect(r.converged).toBe(true);
      let inertia = 0;
      for (let i = 0; i < n; i++) {
        const dist = (j: number) => { let s = 0; for (let c = 0; c < d; c++) s += (x[i * d + c] - r.centroids[j * d + c]) ** 2; return s; };
        for (let j = 0; j < k; j++) expect(dist(r.labels[i])).toBeLessThanOrEqual(dist(j) + 1e-12);
        inertia += dist(r.labels[i]);
      }
      expect(Math.abs(inertia - r.inertia)).toBeLessThanOrEqual(1e-9);
      for (let j = 0; j < k; j++) {
        const members = [...r.labels.keys()].filter((i) => r.labels[i] === j);
        expect(members.length).toBeGreaterThan(0);
        for (let c = 0; c < d; c++) {
          const mean = members.reduce((s, i) => s + x[i * d + c], 0) / members.length;
          expect(Math.abs(mean - r.centroids[j * d + c])).toBeLessThanOrEqual(1e-12);
        }
      }
    }), { numRuns: 30 });
  });

  it('fewer distinct points than k: every label valid, inertia 0', () => {
    const x = new Float64Array([1, 1, 1, 1, 2, 2, 1, 1, 2, 2]); // 5 points, 2 distinct
    const r = kmeans(x, 5, 2, 3, { seed: 4 });
    expect(r.inertia).toBe(0);
    for (const l of r.labels) { expect(l).toBeGreaterThanOrEqual(0); expect(l).toBeLessThan(3); }
  });

  it('seeding is greedy k-means++ (scikit-learn kmeans_plusplus): the same seeds as a plain reference loop on the same draws', () => {
    // The reference: c0 = floor(u n); for each next centre, L draws u * sum(D^2)
    // each picking the first point whose cumulative D^2 exceeds it (a linear
    // scan); the candidate with the lowest resulting potential is kept.
    const reference = (x: Float64Array, n: number, dim: number, k: number, L: number, seed: number): number[] => {
      const r = new Rng(seed);
      const dist = (i: number, j: number) => { let s2 = 0; for (let c = 0; c < dim; c++) s2 += (x[i * dim + c] - x[j * dim + c]) ** 2; return s2; };
      const chosen = [Math.floor(r.next() * n)];
      let d2 = Array.from({ length: n }, (_, i) => dist(i, chosen[0]));
      while (chosen.length < k) {
        const total = d2.reduce((a, b) => a + b, 0);
        let best: { pot: number; cand: number; d: number[] } | null = null;
        for (let t = 0; t < L; t++) {
          const u = r.next() * total;
          let cum = 0, cand = -1;
          for (let i = 0; i < n && cand < 0; i++) if ((cum += d2[i]) > u) cand = i;
          const d = d2.map((v, i) => Math.min(v, dist(i, cand)));
          const pot = d.reduce((a, b) => a + b, 0);
          if (best === null || pot < best.pot) best = { pot, cand, d };
        }
        chosen.push(best!.cand);
        d2 = best!.d;
      }
      return chosen;
    };
    for (const [n, dim, k, seed] of [[50, 3, 7, 1], [200, 8, 20, 2], [31, 2, 5, 3]]) {
      const x = Float64Array.from(randomData(n * dim, seed), (v) => v * 5);
      const L = 2 + Math.floor(Math.log(k));
      expect(Array.from(kmeansPlusPlus(x, n, dim, k, { seed }).indices), `n ${n} k ${k}`).toEqual(reference(x, n, dim, k, L, seed));
      expect(Array.from(kmeansPlusPlus(x, n, dim, k, { seed, trials: 1 }).indices)).toEqual(reference(x, n, dim, k, 1, seed));
    }
  });

  it('greedy seeding matters: on 20 blobs in 8-D, single restarts end far closer to the blobs than plain k-means++ (medians over 20 seeds)', () => {
    // 20 Gaussian blobs (sd 0.5) of 10-30 points around centres uniform in [0, 10]^8;
    // the reference objective is the generating partition's, around its own means.
    const k = 20, dim = 8;
    const r = rng(1);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const centres = Array.from({ length: k }, () => Array.from({ length: dim }, () => r() * 10));
    const rows: number[][] = [], labels: number[] = [];
    for (let c = 0; c < k; c++) for (let i = 0; i < 10 + 5 * (c % 5); i++) { rows.push(centres[c].map((m) => m + 0.5 * gauss())); labels.push(c); }
    const n = rows.length;
    let ref = 0;
    for (let c = 0; c < k; c++) {
      const members = rows.filter((_, i) => labels[i] === c);
      for (let d = 0; d < dim; d++) {
        const m = members.reduce((s, p) => s + p[d], 0) / members.length;
        for (const p of members) ref += (p[d] - m) ** 2;
      }
    }
    const x = Float64Array.from(rows.flat());
    const median = (trials?: number) => {
      const v = Array.from({ length: 20 }, (_, seed) => kmeans(x, n, dim, k, { seed, restarts: 1, seedingTrials: trials }).inertia / ref).sort((a, b) => a - b);
      return (v[9] + v[10]) / 2;
    };
    const greedy = median(), plain = median(1);
    console.log(`k-means objective / the blobs' (median of 20 single restarts): greedy seeding ${greedy.toFixed(3)}, plain ${plain.toFixed(3)}`);
    expect(greedy).toBeLessThan(1.2); // measured 1.10
    expect(plain).toBeGreaterThan(1.4); // measured 1.62: the data set is one where seeding matters
    expect(greedy).toBeLessThan(0.8 * plain);
  });

  it('input errors', () => {
    const x = new Float64Array([0, 1, 2, 3]);
    expect(() => kmeansPlusPlus(x, 4, 1, 2, { trials: 0 })).toThrow(/trials = 0 must be an integer >= 1/);
    expect(() => kmeans(x, 4, 1, 2, { seedingTrials: 1.5 })).toThrow(/seedingTrials = 1.5 must be an integer >= 1/);
    expect(() => kmeans(x, 4, 1, 5)).toThrow(/k = 5 clusters needs at least k points, got n = 4/);
    expect(() => kmeans(x, 2, 1, 1)).toThrow(/data has 4 elements; \[2, 1\] needs 2/);
    expect(() => kmeans(x, 4, 1, 2, { seed: -1 })).toThrow(/seed -1/);
    expect(() => kmeans(x, 4, 1, 2, { metric: 'l1' as 'cosine' })).toThrow(/metric "l1"/);
    expect(() => kmeans(x, 4, 1, 2, { metric: 'cosine' })).toThrow(/data row 0 has norm 0/);
    expect(() => kmeans(x, 4, 1, 2, { restarts: 0 })).toThrow(/restarts = 0 must be an integer >= 1/);
    expect(() => clusteringFromEmbeddings(x, 4, 1, [0, 1, 0])).toThrow(/gold has 3 labels, expected 4/);
  });
});
