// Float64 reference for kernels/embedding.wgsl. Plain loops; the spec.
type Arr = ArrayLike<number>;

/** out[n, c] = table[ids[n], c] for table [V, C]; an id outside [0, V) gives zeros. */
export function embedding(table: Arr, ids: Arr, C: number): Float64Array {
  const V = table.length / C;
  const out = new Float64Array(ids.length * C);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (id < 0 || id >= V) continue;
    for (let c = 0; c < C; c++) out[n * C + c] = table[id * C + c];
  }
  return out;
}

/**
 * dtable[v, c] = dtable0[v, c] + sum over n with ids[n] = v of dy[n, c]
 * (dtable0 = zeros when omitted: the overwrite mode).
 */
export function embeddingBackward(dy: Arr, ids: Arr, V: number, C: number, dtable0?: Arr): Float64Array {
  const dtable = dtable0 ? Float64Array.from(dtable0) : new Float64Array(V * C);
  for (let n = 0; n < ids.length; n++) for (let c = 0; c < C; c++) dtable[ids[n] * C + c] += dy[n * C + c];
  return dtable;
}
