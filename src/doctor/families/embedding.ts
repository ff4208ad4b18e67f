// embedding gather and its deterministic scatter-add backward: table
// [V 53, C 37], 41 ids of which a third repeat one "padding" id, so one
// group of the backward is long.
import * as ref from '../../../reference/embedding.ts';
import * as ops from '../../ops/embedding.ts';
import { compare, randomData, rng } from '../compare.ts';
import { COLS, ROWS, type KernelCheck } from '../scope.ts';

const V = COLS, C = ROWS, N = 41;

function skewedIds(seed: number): Int32Array {
  const r = rng(seed);
  const pad = Math.floor(r() * V);
  return Int32Array.from({ length: N }, () => (r() < 0.33 ? pad : Math.floor(r() * V)));
}

export const embeddingChecks: KernelCheck[] = [
  {
    family: 'embedding', op: 'gather',
    run: async (s) => {
      const table = randomData(V * C, 801), ids = skewedIds(802);
      const y = ops.embedding(s.gpu, s.tensor(table, [V, C]), s.tensor(ids, [N], 'i32'), s.poisoned([N, C]));
      // A copy: exact.
      return compare('y', await y.read(), ref.embedding(table, ids, C), { rtol: 0 });
    },
  },
  {
    family: 'embedding', op: 'scatter-add backward',
    run: async (s) => {
      const dy = randomData(N * C, 811), ids = skewedIds(812), d0 = randomData(V * C, 813);
      // Accumulate mode: the existing gradient d0 plus each id's rows of dy.
      const dtable = ops.embeddingBackward(s.gpu, s.tensor(dy, [N, C]), ids, s.tensor(d0, [V, C]), 'accumulate');
      const want = ref.embeddingBackward(dy, ids, V, C, d0);
      const scale = ref.embeddingBackward(Float64Array.from(dy, Math.abs), ids, V, C, Float64Array.from(d0, Math.abs));
      // A sequential float32 sum of k rows per id: the error grows with k (the tests' model).
      const counts = new Map<number, number>();
      for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
      const rtol = 2e-6 * Math.max(1, Math.log2(Math.max(...counts.values())));
      return compare('dtable', await dtable.read(), want, { rtol }, scale);
    },
  },
];
