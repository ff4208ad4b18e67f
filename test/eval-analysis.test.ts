// Anisotropy (mean pairwise cosine, i < j, no centring) against a brute-force
// double loop and hand values (constant set -> 1, orthonormal -> 0, 60 deg -> 0.5);
// mutual kNN alignment: a hand-worked set on the circle, identical or
// rotated sets -> 1, independent random sets -> about k / (n - 1), k = n - 1 -> 1
// (self excluded), neighbour order and ties; input errors.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { anisotropy, cosineKnn, MUTUAL_KNN_K, mutualKnn } from '../src/eval/analysis.ts';
import { EvalInputError } from '../src/eval/matrix.ts';
import { randomData } from './helpers.ts';

/** Mean cosine over i < j by the direct double loop. */
function bruteAnisotropy(x: ArrayLike<number>, n: number, d: number): number {
  let sum = 0, pairs = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let dot = 0, ni = 0, nj = 0;
      for (let c = 0; c < d; c++) { dot += x[i * d + c] * x[j * d + c]; ni += x[i * d + c] ** 2; nj += x[j * d + c] ** 2; }
      sum += dot / Math.sqrt(ni * nj);
      pairs++;
    }
  }
  return sum / pairs;
}

/** Rows on the unit circle at the given angles (degrees). */
const circle = (deg: number[]) => Float64Array.from(deg.flatMap((a) => [Math.cos((a * Math.PI) / 180), Math.sin((a * Math.PI) / 180)]));

describe('anisotropy', () => {
  it('hand values', () => {
    // the same direction repeated (any scale): every cosine is 1
    expect(anisotropy(new Float32Array([1, 2, 2, 4, 0.5, 1]), 3, 2)).toBeCloseTo(1, 14);
    // the identity rows: every pair orthogonal
    const eye = new Float64Array(25);
    for (let i = 0; i < 5; i++) eye[i * 5 + i] = 1;
    expect(anisotropy(eye, 5, 5)).toBeCloseTo(0, 14);
    // two unit vectors 60 deg apart: cos = 0.5
    expect(anisotropy(circle([0, 60]), 2, 2)).toBeCloseTo(0.5, 14);
    // (1,0), (0,1), (1,1): cosines 0, 1/sqrt2, 1/sqrt2 -> mean sqrt2 / 3
    expect(anisotropy(new Float64Array([1, 0, 0, 1, 1, 1]), 3, 2)).toBeCloseTo(Math.SQRT2 / 3, 14);
    // antipodal pair: -1 (no centring, no absolute value)
    expect(anisotropy(new Float64Array([1, 1, -2, -2]), 2, 2)).toBeCloseTo(-1, 14);
  });

  it('orthonormal rows of a random rotation give 0', () => {
    // Gram-Schmidt on random rows: an orthonormal set not aligned with the axes
    const d = 6, q = Float64Array.from(randomData(d * d, 41));
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < i; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[i * d + c] * q[j * d + c];
        for (let c = 0; c < d; c++) q[i * d + c] -= dot * q[j * d + c];
      }
      let nn = 0;
      for (let c = 0; c < d; c++) nn += q[i * d + c] ** 2;
      for (let c = 0; c < d; c++) q[i * d + c] /= Math.sqrt(nn);
    }
    expect(Math.abs(anisotropy(q, d, d))).toBeLessThan(1e-14);
  });

  it('equals the brute-force pair loop on random sets', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 30 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 1e6 }),
      (n, d, seed) => {
        const x = randomData(n * d, seed);
        // float64 sums of <= 435 terms of size <= 1: 1e-12 is far above the rounding
        expect(Math.abs(anisotropy(x, n, d) - bruteAnisotropy(x, n, d))).toBeLessThan(1e-12);
      }), { numRuns: 200 });
  });

  it('input errors', () => {
    expect(() => anisotropy(new Float32Array([1, 2]), 1, 2)).toThrow(/needs at least 2 rows/);
    expect(() => anisotropy(new Float32Array([1, 2, 0, 0]), 2, 2)).toThrow(/anisotropy: x row 1 has norm 0/);
    expect(() => anisotropy(new Float32Array([1, 2, 3]), 2, 2)).toThrow(EvalInputError);
    expect(() => anisotropy(new Float32Array([1, 2, 3, Infinity]), 2, 2)).toThrow(/x\[1, 1\] = Infinity/);
  });
});

describe('mutual kNN alignment', () => {
  it('hand-worked on the circle, k = 1', () => {
    // A at 0, 10, 30, 70 deg: nearest of each (self excluded) = 1, 0, 1, 2
    //   (0: 10 deg to item 1; 1: 10 deg to item 0 vs 20 to item 2; 2: 20 to 1 vs 30 to 0, 40 to 3; 3: 40 to 2)
    // B at 0, 25, 30, 70 deg: nearest = 1, 2, 1, 2  (1: 5 deg to item 2; 2: 5 deg to item 1)
    // agreements: items 0, 2, 3 -> 3 / 4
    const a = circle([0, 10, 30, 70]), b = circle([0, 25, 30, 70]);
    expect(Array.from(cosineKnn(a, 4, 2, 1))).toEqual([1, 0, 1, 2]);
    expect(Array.from(cosineKnn(b, 4, 2, 1))).toEqual([1, 2, 1, 2]);
    const r = mutualKnn(a, b, 4, 2, 2, 1);
    expect(r.score).toBe(0.75);
    expect(Array.from(r.perItem)).toEqual([1, 0, 1, 1]);
    // k = 2: A sets {1,2}, {0,2}, {1,0}, {2,1}; B sets {1,2}, {2,0}, {1,0}, {2,1} -> all agree
    expect(mutualKnn(a, b, 4, 2, 2, 2).score).toBe(1);
  });

  it('neighbours: nearest first, never self, ties to the lower index', () => {
    // rows 0..3 identical, row 4 orthogonal: row 0's neighbours are 1, 2, 3 (cos 1) then 4
    const x = new Float64Array([1, 0, 1, 0, 1, 0, 1, 0, 0, 1]);
    const nn = cosineKnn(x, 5, 2, 4);
    expect(Array.from(nn.subarray(0, 4))).toEqual([1, 2, 3, 4]);
    expect(Array.from(nn.subarray(8, 12))).toEqual([0, 1, 3, 4]); // row 2
    for (let i = 0; i < 5; i++) expect(Array.from(nn.subarray(i * 4, i * 4 + 4))).not.toContain(i);
  });

  it('identical, rescaled or rotated sets score 1; k = n - 1 scores 1 for any pair', () => {
    const n = 40, d = 8;
    const a = randomData(n * d, 51);
    expect(mutualKnn(a, a, n, d, d).score).toBe(1);
    // rows rescaled and a second copy rotated in the (0, 1) plane by 0.7 rad: cosines unchanged
    const b = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      const s = 0.1 + i;
      for (let c = 0; c < d; c++) b[i * d + c] = s * a[i * d + c];
      const [x0, x1] = [b[i * d], b[i * d + 1]];
      b[i * d] = Math.cos(0.7) * x0 - Math.sin(0.7) * x1;
      b[i * d + 1] = Math.sin(0.7) * x0 + Math.cos(0.7) * x1;
    }
    expect(mutualKnn(a, b, n, d, d).score).toBe(1);
    // k = n - 1: every item's neighbours are all the others, whatever A and B are
    const c = randomData(12 * 3, 52), e = randomData(12 * 5, 53);
    expect(mutualKnn(c, e, 12, 3, 5, 11).score).toBe(1);
  });

  it('independent random sets score about k / (n - 1)', () => {
    // expectation exactly k / (n - 1) = 10 / 199 = 0.0503; per-item overlap
    // variance ~0.45 / k^2, so the mean over 200 items has sd ~0.005; band 0.02.
    const n = 200;
    const a = randomData(n * 16, 61), b = randomData(n * 24, 62);
    const r = mutualKnn(a, b, n, 16, 24);
    expect(r.k).toBe(MUTUAL_KNN_K);
    expect(Math.abs(r.score - MUTUAL_KNN_K / (n - 1))).toBeLessThan(0.02);
    // a noisy copy sits in between
    const noise = randomData(n * 16, 63);
    const noisy = Float64Array.from(a, (v, i) => v + 0.3 * noise[i]);
    const mid = mutualKnn(a, noisy, n, 16, 16).score;
    expect(mid).toBeGreaterThan(0.2);
    expect(mid).toBeLessThan(1);
  });

  it('input errors', () => {
    const a = randomData(6 * 2, 1);
    expect(() => mutualKnn(a, a, 6, 2, 2)).toThrow(/k = 10 neighbours needs n >= k \+ 1 paired items/);
    expect(() => mutualKnn(a, a, 6, 2, 3, 2)).toThrow(/mutualKnn: b has 12 elements; \[6, 3\] needs 18/);
    expect(() => mutualKnn(a, new Float32Array(12), 6, 2, 2, 2)).toThrow(/mutualKnn: b row 0 has norm 0/);
    expect(() => mutualKnn(a, a, 6, 2, 2, 0)).toThrow(/k = 0 must be an integer >= 1/);
    expect(() => cosineKnn(a, 6, 2, 6)).toThrow(/k = 6 neighbours needs n >= k \+ 1 rows/);
  });
});
