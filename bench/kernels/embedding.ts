// Token embedding at a small decoder's shapes (V = 49152, C = 576, 2048 and
// 8192 tokens): the gather, and the scatter-add backward with the CSR grouping
// built once in setup (as a trainer does per batch) so run() uploads nothing.
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { embedding, embeddingBackward, groupIds } from '../../src/ops/embedding.ts';

function data(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.9 + 0.05);
}

/** Token-like ids: a skewed (Zipf-ish) draw so frequent ids repeat, as in text. */
function tokenIds(N: number, V: number): Int32Array {
  return Int32Array.from({ length: N }, (_, i) => Math.floor(V * ((Math.sin(i * 78.233) * 0.5 + 0.5) ** 3)) % V);
}

function distinct(ids: Int32Array): number {
  return new Set(ids).size;
}

function inputs(gpu: Gpu, N: number, V: number, C: number) {
  const ids = tokenIds(N, V);
  const table = gpu.tensor(data(V * C, 1), [V, C], 'f32', 'table');
  const idsT = gpu.tensor(ids, [N], 'i32', 'ids');
  const dy = gpu.tensor(data(N * C, 2), [N, C], 'f32', 'dy');
  const out = gpu.empty([N, C], 'f32', 'out');
  const dtable = gpu.zeros([V, C], 'f32', 'dtable');
  const groups = groupIds(gpu, ids, V);
  return {
    ids, table, idsT, dy, out, dtable, groups,
    dispose: () => {
      [table, idsT, dy, out, dtable].forEach((t) => t.release());
      groups.release();
    },
  };
}

function gather(N: number, V: number, C: number): BenchCase {
  return {
    name: `embedding gather V=${V} [${N}, ${C}]`,
    kernel: 'embedding',
    bytes: 4 * (2 * N * C + N), // read N rows of the table and the ids, write out
    setup(gpu) {
      const t = inputs(gpu, N, V, C);
      return { run: () => void embedding(gpu, t.table, t.idsT, t.out), dispose: t.dispose };
    },
  };
}

function backward(N: number, V: number, C: number): BenchCase {
  const U = distinct(tokenIds(N, V));
  return {
    name: `embedding backward (accumulate) V=${V} [${N}, ${C}], ${U} distinct`,
    kernel: 'embedding',
    // Read dy and the grouping; read and write the U touched rows of dtable.
    bytes: 4 * (N * C + 2 * U + 1 + N + 2 * U * C),
    flops: N * C,
    setup(gpu) {
      const t = inputs(gpu, N, V, C);
      return { run: () => void embeddingBackward(gpu, t.dy, t.groups, t.dtable, 'accumulate'), dispose: t.dispose };
    },
  };
}

export const cases: BenchCase[] = [
  gather(2048, 49152, 576),
  backward(2048, 49152, 576),
  gather(8192, 49152, 576),
  backward(8192, 49152, 576),
];
