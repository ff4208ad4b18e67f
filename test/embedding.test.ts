import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/embedding.ts';
import * as ops from '../src/ops/embedding.ts';
import { expectClose, poisoned, randomData, rng, useGpu } from './helpers.ts';

const gpu = useGpu();

/** Ids in [0, V) where a third of them repeat one "padding" id, so one group is long. */
function skewedIds(n: number, V: number, seed: number): Int32Array {
  const r = rng(seed);
  const pad = Math.floor(r() * V);
  return Int32Array.from({ length: n }, () => (r() < 0.33 ? pad : Math.floor(r() * V)));
}

/** Largest number of repeats of one id. */
function maxCount(ids: Int32Array): number {
  const m = new Map<number, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return Math.max(1, ...m.values());
}

const caseArb = fc.record({
  V: fc.constantFrom(1, 7, 257, 1000, 49152),
  C: fc.constantFrom(1, 3, 64, 257, 576),
  N: fc.constantFrom(1, 13, 300, 1000),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

describe('embedding vs float64 reference', () => {
  it('gather copies rows exactly (ids as i32 tensor or CPU array)', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ V, C, N, seed }) => {
        fc.pre(V * C <= 4e6);
        const table = randomData(V * C, seed), ids = skewedIds(N, V, seed + 1);
        const tt = g.tensor(table, [V, C]), tids = g.tensor(ids, [N], 'i32');
        const y1 = ops.embedding(g, tt, tids, poisoned(g, [N, C]));
        const y2 = ops.embedding(g, tt, ids, poisoned(g, [N, C]));
        const expected = ref.embedding(table, ids, C);
        expectClose('embedding (tensor ids)', await y1.read(), expected, { rtol: 0 });
        expectClose('embedding (CPU ids)', await y2.read(), expected, { rtol: 0 });
        for (const t of [tt, tids, y1, y2]) t.release();
      }),
      { numRuns: 10 },
    );
  });

  it('gather keeps the ids shape and writes zeros for out-of-range GPU ids', async () => {
    const g = await gpu();
    const V = 5, C = 300;
    const table = randomData(V * C, 9);
    const ids = Int32Array.from([0, -1, 4, 5, 2 ** 31 - 1, -(2 ** 31), 3, 1]);
    const tt = g.tensor(table, [V, C]), tids = g.tensor(ids, [2, 4], 'i32');
    const y = ops.embedding(g, tt, tids, poisoned(g, [2, 4, C]));
    expect(y.shape).toEqual([2, 4, C]);
    expectClose('embedding out of range', await y.read(), ref.embedding(table, ids, C), { rtol: 0 });
    for (const t of [tt, tids, y]) t.release();
  });

  it('backward scatter-add, accumulate and overwrite, deterministic', async () => {
    const g = await gpu();
    let worst = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, fc.boolean(), async ({ V, C, N, seed }, accumulate) => {
        fc.pre(V * C <= 4e6);
        const dy = randomData(N * C, seed), ids = skewedIds(N, V, seed + 1);
        const d0 = randomData(V * C, seed + 2);
        const tdy = g.tensor(dy, [N, C]);
        const mk = () => (accumulate ? g.tensor(d0, [V, C]) : poisoned(g, [V, C]));
        const dt1 = ops.embeddingBackward(g, tdy, ids, mk(), accumulate ? 'accumulate' : 'overwrite');
        const groups = ops.groupIds(g, ids, V);
        const dt2 = ops.embeddingBackward(g, tdy, groups, mk(), accumulate ? 'accumulate' : 'overwrite');
        const expected = ref.embeddingBackward(dy, ids, V, C, accumulate ? d0 : undefined);
        const absDy = Float64Array.from(dy, Math.abs);
        const scale = ref.embeddingBackward(absDy, ids, V, C, accumulate ? Float64Array.from(d0, Math.abs) : undefined);
        // A sequential f32 sum of k rows: error grows with k, relative to sum |terms|.
        const tol = { rtol: 2e-6 * Math.max(1, Math.log2(maxCount(ids))) };
        const a1 = await dt1.read(), a2 = await dt2.read();
        expectClose('embeddingBackward', a1, expected, tol, scale);
        for (let i = 0; i < a1.length; i++) if (!Object.is(a1[i], a2[i])) expect.fail(`run to run: element ${i} ${a1[i]} vs ${a2[i]}`);
        for (let i = 0; i < a1.length; i++) worst = Math.max(worst, Math.abs(a1[i] - expected[i]) / scale[i] || 0);
        groups.release();
        for (const t of [tdy, dt1, dt2]) t.release();
      }),
      { numRuns: 12 },
    );
    console.log(`embeddingBackward: worst error ${worst.toExponential(2)} x sum |terms|`);
  });

  it('CSR grouping lists each id once, positions increasing', () => {
    const ids = Int32Array.from([3, 1, 3, 0, 3, 1]);
    const { data, distinct } = ops.groupIdsData(ids, 5);
    expect(distinct).toBe(3);
    expect(Array.from(data)).toEqual([0, 1, 3, /* offsets */ 0, 1, 3, 6, /* positions */ 3, 1, 5, 0, 2, 4]);
  });

  it('bad input is refused naming the op, the position and the shapes', async () => {
    const g = await gpu();
    const table = g.empty([10, 4]), dy = g.empty([3, 4]), dyBad = g.empty([3, 5]), idsF = g.empty([3]);
    expect(() => ops.embedding(g, table, Int32Array.from([1, 10, 2]))).toThrow(/embedding: ids\[1\] = 10 is out of range \[0, 10\)/);
    expect(() => ops.embedding(g, table, idsF)).toThrow(/embedding: ids .*f32\[3\] must be i32/);
    expect(() => ops.embeddingBackward(g, dy, Int32Array.from([1, 2, -4]), table)).toThrow(/embeddingBackward: ids\[2\] = -4/);
    expect(() => ops.embeddingBackward(g, dyBad, Int32Array.from([1, 2, 3]), table)).toThrow(/embeddingBackward: dy .*f32\[3, 5\].*C = 4.*f32\[10, 4\]/);
    expect(() => ops.embeddingBackward(g, dy, Int32Array.from([1, 2]), table)).toThrow(/embeddingBackward: 2 ids for dy .*f32\[3, 4\] with 3 rows/);
    for (const t of [table, dy, dyBad, idsF]) t.release();
  });
});

describe('embedding float64 reference', () => {
  it('backward matches central finite differences of sum(w * embedding(table))', () => {
    const V = 4, C = 3, ids = Int32Array.from([2, 0, 2, 3, 2]);
    const table = Float64Array.from(randomData(V * C, 1)), w = Float64Array.from(randomData(ids.length * C, 2));
    const loss = (t: Float64Array) => ref.embedding(t, ids, C).reduce((acc, v, i) => acc + v * w[i], 0);
    const grad = ref.embeddingBackward(w, ids, V, C);
    const h = 1e-6;
    for (let i = 0; i < table.length; i++) {
      const tp = Float64Array.from(table), tm = Float64Array.from(table);
      tp[i] += h;
      tm[i] -= h;
      expect(Math.abs((loss(tp) - loss(tm)) / (2 * h) - grad[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(grad[i])));
    }
  });
});

