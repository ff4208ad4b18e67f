// Retrieval metrics (nDCG@10, Recall@k, Acc@k, MRR@10, MAP@100) against
// values worked out by hand, ranking properties (perfect -> 1, reversed ->
// lower, invariance to relabelling documents and reordering queries), the
// top-k selection against a full sort; STS correlations against hand values
// (scipy's documented spearmanr example among them); input errors.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  averageRanks, pearson, rankTopK, retrievalFromEmbeddings, retrievalFromScores, similarityMatrix, spearman,
  stsFromEmbeddings, type Qrels, type QueryMetrics,
} from '../src/eval/metrics.ts';
import { EvalInputError } from '../src/eval/matrix.ts';
import { randomData } from './helpers.ts';

const TOL = 1e-12; // float64 sums of a handful of terms

const qrel = (pairs: [number, number][]) => new Map(pairs);

describe('retrieval: hand-checked', () => {
  // One query, 6 docs. scores d0..d5 = 0.1 0.9 0.4 0.7 0.2 0.6
  // ranking: d1 d3 d5 d2 d4 d0; qrels d3:2, d2:1, d0:1 (R = 3)
  // gains by rank: 0 2 0 1 0 1
  //   DCG@10  = 2/log2(3) + 1/log2(5) + 1/log2(7) = 1.2618595 + 0.4306766 + 0.3562072 = 2.0487433
  //   IDCG@10 = 2/log2(2) + 1/log2(3) + 1/log2(4) = 2 + 0.6309298 + 0.5 = 3.1309298
  //   nDCG@10 = 0.6543562
  //   Recall@1 = 0, Recall@5 = 2/3 (d3, d2 in the top 5), Recall@10 = 1
  //   Acc@1 = 0, Acc@5 = Acc@10 = 1; MRR@10 = 1/2 (first relevant at rank 2)
  //   MAP@100: relevant at ranks 2, 4, 6 -> (1/2 + 2/4 + 3/6) / 3 = 0.5
  const scores = new Float64Array([0.1, 0.9, 0.4, 0.7, 0.2, 0.6]);
  const rels = qrel([[3, 2], [2, 1], [0, 1]]);
  const expected: QueryMetrics = {
    ndcgAt10: (2 / Math.log2(3) + 1 / Math.log2(5) + 1 / Math.log2(7)) / (2 + 1 / Math.log2(3) + 0.5),
    recallAt1: 0, recallAt5: 2 / 3, recallAt10: 1,
    accuracyAt1: 0, accuracyAt5: 1, accuracyAt10: 1,
    mrrAt10: 0.5, mapAt100: 0.5,
  };

  it('graded nDCG, recall, accuracy, MRR, MAP of one query', () => {
    const r = retrievalFromScores(scores, 1, 6, [rels]);
    expect(r.ndcgAt10).toBeCloseTo(0.6543562, 7);
    for (const k of Object.keys(expected) as (keyof QueryMetrics)[]) expect(r[k], k).toBeCloseTo(expected[k], 12);
    expect(r.evaluated).toBe(1);
    expect(r.skipped).toBe(0);
  });

  it('a query whose judgements are all non-relevant scores 0 in every mean (trec_eval, MTEB); one absent from the qrels is skipped', () => {
    // query 1: only a judged-non-relevant doc (in the qrels, R = 0); query 2: no judgements at all
    const s3 = new Float64Array([...scores, ...scores, ...scores]);
    const r = retrievalFromScores(s3, 3, 6, [rels, qrel([[1, 0]]), qrel([])]);
    expect(r.evaluated).toBe(2);
    expect(r.skipped).toBe(1);
    expect(r.perQuery[1]).toEqual({ ndcgAt10: 0, recallAt1: 0, recallAt5: 0, recallAt10: 0, accuracyAt1: 0, accuracyAt5: 0, accuracyAt10: 0, mrrAt10: 0, mapAt100: 0 });
    expect(r.perQuery[2]).toBeNull();
    for (const k of Object.keys(expected) as (keyof QueryMetrics)[]) expect(r[k], k).toBeCloseTo(expected[k] / 2, 12); // (query 0 + 0) / 2
    // a negative grade is a judgement too (trec_eval reads it as non-relevant)
    expect(retrievalFromScores(s3, 3, 6, [rels, qrel([[1, -1]]), qrel([[2, 0], [4, 0]])]).evaluated).toBe(3);
  });

  it('ties are broken by document index, lower first', () => {
    // 6 equal scores: ranking d0..d5; the only relevant doc d4 sits at rank 5.
    //   MRR = 1/5, Recall@1 = 0, Recall@5 = 1, nDCG = (1/log2(6)) / 1, MAP = 1/5
    const r = retrievalFromScores(new Float64Array(6).fill(0.3), 1, 6, [qrel([[4, 1]])]);
    expect(r.mrrAt10).toBeCloseTo(0.2, 12);
    expect(r.recallAt1).toBe(0);
    expect(r.recallAt5).toBe(1);
    expect(r.ndcgAt10).toBeCloseTo(1 / Math.log2(6), 12);
    expect(r.mapAt100).toBeCloseTo(0.2, 12);
    expect(Array.from(rankTopK([5, 7, 5, 7, 5], 5))).toEqual([1, 3, 0, 2, 4]);
  });

  it('means over two queries; the cut-offs at 10 and 100 hold', () => {
    // 120 docs, score of doc j = -j (ranking d0, d1, ...).
    // q0: relevant d0 (rel 1) and d10 (rel 3), R = 2.
    //   nDCG@10 = (1/log2 2) / (3/log2 2 + 1/log2 3) = 1 / 3.6309298 = 0.2754115 (d10 is rank 11, outside)
    //   Recall@10 = 1/2, MRR = 1, MAP@100 = (1/1 + 2/11) / 2 = 0.5909091
    // q1: relevant d100 (rank 101) and d5 (rank 6), R = 2.
    //   nDCG@10 = (1/log2 7) / (1 + 1/log2 3) = 0.3562072 / 1.6309298 = 0.2184075
    //   Recall@10 = 1/2, MRR = 1/6, MAP@100 = (1/6) / 2 = 0.0833333 (rank 101 is past the cut)
    const n = 120;
    const s = new Float64Array(2 * n);
    for (let j = 0; j < n; j++) { s[j] = -j; s[n + j] = -j; }
    const r = retrievalFromScores(s, 2, n, [qrel([[0, 1], [10, 3]]), qrel([[100, 1], [5, 1]])]);
    const nd0 = 1 / (3 + 1 / Math.log2(3));
    const nd1 = (1 / Math.log2(7)) / (1 + 1 / Math.log2(3));
    expect(r.perQuery[0]!.ndcgAt10).toBeCloseTo(nd0, 12);
    expect(r.perQuery[1]!.ndcgAt10).toBeCloseTo(nd1, 12);
    expect(r.ndcgAt10).toBeCloseTo((0.2754115 + 0.2184075) / 2, 6);
    expect(r.recallAt10).toBeCloseTo(0.5, 12);
    expect(r.mrrAt10).toBeCloseTo((1 + 1 / 6) / 2, 12);
    expect(r.mapAt100).toBeCloseTo(((1 + 2 / 11) / 2 + 1 / 12) / 2, 12);
  });

  it('from embeddings: cosine ignores row scale, dot does not', () => {
    // query (1, 0); corpus d0 = (10, 10) at 45 deg, d1 = (0.5, 0) at 0 deg.
    // cosine: d1 (1) before d0 (0.707); dot: d0 (10) before d1 (0.5).
    const q = new Float32Array([1, 0]);
    const c = new Float32Array([10, 10, 0.5, 0]);
    const qr: Qrels = [qrel([[1, 1]])];
    expect(retrievalFromEmbeddings(q, c, 1, 2, 2, qr).mrrAt10).toBe(1);
    expect(retrievalFromEmbeddings(q, c, 1, 2, 2, qr, { similarity: 'dot' }).mrrAt10).toBe(0.5);
    const sim = similarityMatrix(q, c, 1, 2, 2);
    expect(sim[0]).toBeCloseTo(Math.SQRT1_2, 12);
    expect(sim[1]).toBeCloseTo(1, 12);
  });
});

/** Random qrels over n docs with grades 0..3, at least one relevant and one non-relevant doc. */
const corpusArb = fc.integer({ min: 2, max: 40 }).chain((n) =>
  fc.tuple(fc.constant(n), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }))
    .filter(([, g]) => g.some((v) => v >= 1) && g.some((v) => v === 0)));

function qrelsOf(grades: number[]): Map<number, number> {
  const m = new Map<number, number>();
  grades.forEach((g, d) => { if (g > 0) m.set(d, g); });
  return m;
}

describe('retrieval: properties', () => {
  it('the perfect ranking scores 1; its reverse scores lower on nDCG, MRR and MAP', () => {
    fc.assert(fc.property(corpusArb, ([n, grades]) => {
      const rels = qrelsOf(grades);
      const perfect = retrievalFromScores(Float64Array.from(grades), 1, n, [rels]);
      const R = grades.filter((g) => g >= 1).length;
      expect(perfect.ndcgAt10).toBeCloseTo(1, 12);
      expect(perfect.mrrAt10).toBe(1);
      expect(perfect.mapAt100).toBeCloseTo(1, 12);
      expect(perfect.recallAt10).toBeCloseTo(Math.min(10, R) / R, 12);
      const reversed = retrievalFromScores(Float64Array.from(grades, (g) => -g), 1, n, [rels]);
      expect(reversed.ndcgAt10).toBeLessThan(perfect.ndcgAt10 - 1e-9);
      expect(reversed.mrrAt10).toBeLessThan(1);
      expect(reversed.mapAt100).toBeLessThan(perfect.mapAt100 - 1e-9);
    }), { numRuns: 200 });
  });

  it('relabelling documents (distinct scores) changes nothing; reordering queries keeps the means', () => {
    const arb = corpusArb.chain(([n, grades]) => fc.tuple(
      fc.constant(n), fc.constant(grades),
      fc.uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: n, maxLength: n }),
      fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n }),
    ));
    fc.assert(fc.property(arb, ([n, grades, raw, perm]) => {
      const scores = Float64Array.from(raw);
      const base = retrievalFromScores(scores, 1, n, [qrelsOf(grades)]);
      // doc d becomes doc perm[d], carrying its score and grade
      const s2 = new Float64Array(n), g2 = new Array<number>(n);
      for (let d = 0; d < n; d++) { s2[perm[d]] = scores[d]; g2[perm[d]] = grades[d]; }
      const moved = retrievalFromScores(s2, 1, n, [qrelsOf(g2)]);
      expect(moved.perQuery).toEqual(base.perQuery);
      // two queries, swapped
      const two = new Float64Array([...scores, ...s2]);
      const a = retrievalFromScores(two, 2, n, [qrelsOf(grades), qrelsOf(g2)]);
      const b = retrievalFromScores(new Float64Array([...s2, ...scores]), 2, n, [qrelsOf(g2), qrelsOf(grades)]);
      expect(Math.abs(a.ndcgAt10 - b.ndcgAt10)).toBeLessThanOrEqual(TOL);
      expect(Math.abs(a.mapAt100 - b.mapAt100)).toBeLessThanOrEqual(TOL);
    }), { numRuns: 150 });
  });

  it('rankTopK equals a full sort by (score desc, index asc), with many ties', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 70 }),
      (s, k) => {
        const full = s.map((_, i) => i).sort((a, b) => s[b] - s[a] || a - b);
        expect(Array.from(rankTopK(s, k))).toEqual(full.slice(0, k));
      }), { numRuns: 300 });
  });
});

describe('retrieval: input errors', () => {
  const s = new Float32Array([0.1, 0.2, 0.3, 0.4]);
  const bad = (f: () => unknown, msg: RegExp) => expect(f).toThrow(msg);
  it('names the fault', () => {
    expect(() => retrievalFromScores(s, 2, 3, [qrel([[0, 1]]), qrel([])])).toThrow(EvalInputError);
    bad(() => retrievalFromScores(s, 2, 3, [qrel([[0, 1]]), qrel([])]), /scores has 4 elements; \[2, 3\] needs 6/);
    bad(() => retrievalFromScores(new Float32Array([0, NaN, 0, 0]), 2, 2, [qrel([]), qrel([])]), /scores\[0, 1\] = NaN/);
    bad(() => retrievalFromScores([0, 1] as unknown as Float32Array, 1, 2, [qrel([])]), /Float32Array or Float64Array.*Array/);
    bad(() => retrievalFromScores(s, 2, 2, [qrel([[2, 1]]), qrel([])]), /qrels\[0\] names document 2, outside \[0, 2\)/);
    bad(() => retrievalFromScores(s, 2, 2, [qrel([[1, 0.5]]), qrel([])]), /relevance 0.5; relevances are integers/);
    bad(() => retrievalFromScores(s, 2, 2, [qrel([])]), /qrels has 1 entries, expected one per query \(2\)/);
    bad(() => retrievalFromScores(s, 2, 2, [qrel([]), qrel([])]), /none of the 2 queries has a judgement/);
    bad(() => retrievalFromEmbeddings(new Float32Array([0, 0]), s, 1, 2, 2, [qrel([[0, 1]])]), /queries row 0 has norm 0/);
    bad(() => retrievalFromEmbeddings(new Float32Array([1, 0]), s, 1, 2, 2, [qrel([[0, 1]])], { similarity: 'l2' as 'dot' }),
      /similarity "l2"/);
  });
});

describe('STS correlations', () => {
  it('average ranks for ties (scipy rankdata "average")', () => {
    expect(Array.from(averageRanks([10, 20, 20, 30]))).toEqual([1, 2.5, 2.5, 4]);
    // sorted: 1 (rank 1), then three 3s spanning ranks 2..4 -> 3 each
    expect(Array.from(averageRanks([3, 1, 3, 3]))).toEqual([3, 1, 3, 3]);
    expect(Array.from(averageRanks([2, 2]))).toEqual([1.5, 1.5]);
  });

  it('Spearman and Pearson, worked by hand', () => {
    // scipy.stats.spearmanr([1,2,3,4,5], [5,6,7,8,7]) = 0.8207826816681233 (its docs).
    // ranks y = 1 2 3.5 5 3.5; deviations x: -2 -1 0 1 2, y: -2 -1 0.5 2 0.5
    // sum dx dy = 8, sum dx^2 = 10, sum dy^2 = 9.5 -> 8 / sqrt(95)
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(8 / Math.sqrt(95), 14);
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 14);
    // Pearson x = 1..5, y = 2 4 5 4 5: dy = -2 0 1 0 1, sum dx dy = 6, sum dy^2 = 6 -> 6 / sqrt(60)
    expect(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])).toBeCloseTo(6 / Math.sqrt(60), 14);
    expect(pearson([1, 2, 3], [-2, -4, -6])).toBeCloseTo(-1, 14);
    expect(spearman([1, 2, 3, 4], [1, 8, 27, 1000])).toBeCloseTo(1, 14);
    expect(spearman([1, 2, 3], [4, 4, 4])).toBeNaN(); // constant side: undefined, as scipy
    expect(pearson([1, 1], [1, 2])).toBeNaN();
  });

  it('Spearman is unchanged by strictly increasing maps of either side', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: -50, max: 50 }), fc.integer({ min: -50, max: 50 })), { minLength: 3, maxLength: 40 }),
      (pairs) => {
        const x = pairs.map((p) => p[0]), y = pairs.map((p) => p[1]);
        const r = spearman(x, y);
        const r2 = spearman(x.map((v) => v ** 3 + v), y.map((v) => Math.exp(v / 10)));
        if (Number.isNaN(r)) expect(r2).toBeNaN();
        else expect(Math.abs(r - r2)).toBeLessThanOrEqual(TOL);
      }), { numRuns: 200 });
  });

  it('STS from embeddings: cosines of the pairs against gold', () => {
    // a_i = (1, 0); b = (1, 0), (1, 1), (0, 1) -> cosines 1, 1/sqrt2, 0; gold 5, 3, 1
    // Spearman: both strictly decreasing -> 1.
    // Pearson: sum dgold * cos = 2*1 + 0 - 2*0 = 2; sum dgold^2 = 8;
    //   sum dcos^2 = 1 + 1/2 - (1 + 1/sqrt2)^2 / 3 = 1 - sqrt2/3 -> 2 / sqrt(8 (1 - sqrt2/3))
    const a = new Float32Array([1, 0, 1, 0, 1, 0]);
    const b = new Float32Array([1, 0, 3, 3, 0, 0.2]); // rows scaled: cosine ignores it
    const r = stsFromEmbeddings(a, b, 3, 2, [5, 3, 1]);
    expect(r.cosineSpearman).toBeCloseTo(1, 14);
    expect(r.cosinePearson).toBeCloseTo(2 / Math.sqrt(8 * (1 - Math.SQRT2 / 3)), 14);
    expect(r.cosines[1]).toBeCloseTo(Math.SQRT1_2, 14);
    // random data: cosines match a direct computation
    const ra = randomData(40 * 8, 1), rb = randomData(40 * 8, 2);
    const rr = stsFromEmbeddings(ra, rb, 40, 8, Array.from({ length: 40 }, (_, i) => i));
    let n0 = 0, n1 = 0, d = 0;
    for (let c = 0; c < 8; c++) { n0 += ra[c] ** 2; n1 += rb[c] ** 2; d += ra[c] * rb[c]; }
    expect(rr.cosines[0]).toBeCloseTo(d / Math.sqrt(n0 * n1), 12);
  });

  it('input errors', () => {
    expect(() => spearman([1, 2], [1, 2, 3])).toThrow(/spearman: y has 3 values, expected 2/);
    expect(() => pearson([1], [1])).toThrow(/need at least 2 paired values/);
    expect(() => pearson([1, NaN], [1, 2])).toThrow(/x\[1\] = NaN/);
    expect(() => stsFromEmbeddings(new Float32Array(4), new Float32Array(4), 2, 2, [1, 2])).toThrow(/a row 0 has norm 0/);
    expect(() => stsFromEmbeddings(new Float32Array([1, 0, 0, 1]), new Float32Array([1, 0, 0, 1]), 2, 2, [1])).toThrow(/gold has 1 values, expected 2/);
  });
});
