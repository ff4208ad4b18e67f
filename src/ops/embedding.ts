// Typed wrappers for kernels/embedding.wgsl: token embedding gather and its
// deterministic scatter-add backward. Token ids come from the CPU, so the
// wrappers take them as an Int32Array (validated, naming the bad position) or,
// for the forward, as an i32 tensor already on the GPU. The backward groups the
// positions by id on the CPU (groupIds) and uploads that grouping; build it
// once per batch, before recording the step, to keep the step one submit
// (an upload flushes the commands recorded before it).
import { grid1d, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import { Tensor } from '../gpu/tensor.ts';

/** Throws naming the first id outside [0, vocab), its position and value. */
export function checkIds(op: string, ids: ArrayLike<number>, vocab: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    check(Number.isInteger(id) && id >= 0 && id < vocab, op, () => `ids[${i}] = ${id} is out of range [0, ${vocab})`);
  }
}

/**
 * The positions of each distinct id, in increasing position order (CSR), packed
 * for scatter_add as u32 [distinct ids (U) | offsets (U + 1) | positions (N)].
 */
export class IdGroups {
  constructor(
    readonly tensor: Tensor<'u32'>,
    /** Number of ids (N). */
    readonly n: number,
    /** Number of distinct ids (U). */
    readonly distinct: number,
    readonly vocab: number,
  ) {}

  release(): void {
    this.tensor.release();
  }
}

/** The CSR grouping as a plain array (a stable counting sort by id, O(N + V)). */
export function groupIdsData(ids: ArrayLike<number>, vocab: number, op = 'groupIds'): { data: Uint32Array; distinct: number } {
  checkIds(op, ids, vocab);
  const n = ids.length;
  const count = new Uint32Array(vocab);
  for (let i = 0; i < n; i++) count[ids[i]]++;
  let distinct = 0;
  for (let v = 0; v < vocab; v++) if (count[v] > 0) distinct++;
  const data = new Uint32Array(2 * distinct + 1 + n);
  // Start of each id's positions, then fill in increasing position order.
  const start = new Uint32Array(vocab);
  let u = 0, at = 0;
  for (let v = 0; v < vocab; v++) {
    if (count[v] === 0) continue;
    data[u] = v;
    data[distinct + u] = at;
    start[v] = at;
    at += count[v];
    u++;
  }
  data[2 * distinct] = at;
  const pos = 2 * distinct + 1;
  for (let i = 0; i < n; i++) data[pos + start[ids[i]]++] = i;
  return { data, distinct };
}

/** Groups the positions of `ids` by id and uploads the grouping (flushes pending work). */
export function groupIds(gpu: Gpu, ids: ArrayLike<number>, vocab: number, op = 'groupIds'): IdGroups {
  const { data, distinct } = groupIdsData(ids, vocab, op);
  return new IdGroups(gpu.tensor(data, [data.length], 'u32', 'embedding.groups'), ids.length, distinct, vocab);
}

function checkTable(op: string, table: Tensor): { V: number; C: number } {
  check(table.dtype === 'f32' && table.shape.length === 2, op, () => `table ${table.describe()} must be f32 [V, C]`);
  return { V: table.shape[0], C: table.shape[1] };
}

/**
 * out[..., c] = table[ids[...], c]. table f32 [V, C]; ids an i32 tensor of any
 * shape (out is [...ids.shape, C]; an id outside [0, V) gives a zero row) or an
 * Int32Array (validated; out is [N, C]). Returns a new tensor or writes `out`.
 */
export function embedding(gpu: Gpu, table: Tensor, ids: Tensor | ArrayLike<number>, out?: Tensor): Tensor {
  const op = 'embedding';
  const { V, C } = checkTable(op, table);
  let idsT: Tensor;
  let uploaded = false;
  if (ids instanceof Tensor) {
    check(ids.dtype === 'i32', op, () => `ids ${ids.describe()} must be i32 (table ${table.describe()})`);
    idsT = ids;
  } else {
    checkIds(op, ids, V);
    idsT = gpu.tensor(ids, [ids.length], 'i32', 'embedding.ids');
    uploaded = true;
  }
  const shape = [...idsT.shape, C];
  if (out) {
    check(out.dtype === 'f32' && out.shape.length === shape.length && out.shape.every((d, i) => d === shape[i]), op,
      () => `out ${out.describe()} must be f32 ${fmtShape(shape)} for ids ${idsT.describe()} and table ${table.describe()}`);
  }
  const y = out ?? gpu.empty(shape, 'f32', op);
  gpu.dispatch({
    kernel: 'embedding',
    entry: 'gather',
    params: params().u32(idsT.size, C, V, 0, 0),
    inputs: [idsT, table],
    outputs: [y],
    workgroups: grid1d(idsT.size * C, 256, gpu),
    label: `${op} ${table.describe()} ${idsT.describe()}`,
  });
  if (uploaded) idsT.release(); // safe: the pool never overwrites a buffer under recorded work
  return y;
}

export type GradMode = 'accumulate' | 'overwrite';

/**
 * dtable[v, :] (+)= sum over positions i with ids[i] = v of dy[i, :], summed in
 * increasing i (deterministic, no atomics). dy f32 [..., C] with N rows; ids an
 * Int32Array of N ids (validated and grouped here, which flushes) or an
 * IdGroups from groupIds(). 'accumulate' adds to dtable (gradient
 * accumulation); 'overwrite' replaces it, rows of absent ids becoming zero.
 */
export function embeddingBackward(gpu: Gpu, dy: Tensor, ids: ArrayLike<number> | IdGroups, dtable: Tensor, mode: GradMode = 'accumulate'): Tensor {
  const op = 'embeddingBackward';
  const { V, C } = checkTable(op, dtable);
  check(dy.dtype === 'f32' && dy.shape.length >= 1 && dy.shape[dy.shape.length - 1] === C, op,
    () => `dy ${dy.describe()} must be f32 [..., C] with C = ${C} of dtable ${dtable.describe()}`);
  const rows = C === 0 ? 0 : dy.size / C;
  const groups = ids instanceof IdGroups ? ids : groupIds(gpu, ids, V, op);
  check(groups.n === rows, op, () => `${groups.n} ids for dy ${dy.describe()} with ${rows} rows`);
  check(groups.vocab === V, op, () => `ids were grouped for vocab ${groups.vocab}, dtable ${dtable.describe()} has ${V} rows`);
  if (mode === 'overwrite') gpu.fill(dtable, 0);
  gpu.dispatch({
    kernel: 'embedding',
    entry: 'scatter_add',
    params: params().u32(rows, C, V, groups.distinct, mode === 'accumulate' ? 1 : 0),
    inputs: [groups.tensor, dy],
    outputs: [dtable],
    workgroups: grid1d(groups.distinct, 1, gpu), // one workgroup per distinct id
    label: `${op} (${mode}) ${dy.describe()} ${groups.distinct} distinct ids -> ${dtable.describe()}`,
  });
  if (!(ids instanceof IdGroups)) groups.release();
  return dtable;
}
