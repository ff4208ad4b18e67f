// Float64 reference for kernels/pooling.wgsl. Plain loops; the spec.
// h [B, T, C] row-major, mask [B, T] with a token valid where mask != 0.
type Arr = ArrayLike<number>;

/** idx_b = largest t with mask_bt != 0 (-1 if none); out_b = h_b,idx_b (zeros if none). */
export function lastTokenPool(h: Arr, mask: Arr, B: number, T: number, C: number): { out: Float64Array; index: Int32Array } {
  const out = new Float64Array(B * C);
  const index = new Int32Array(B).fill(-1);
  for (let b = 0; b < B; b++) {
    for (let t = T - 1; t >= 0; t--) {
      if (mask[b * T + t] !== 0) {
        index[b] = t;
        break;
      }
    }
    const t = index[b];
    if (t >= 0) for (let c = 0; c < C; c++) out[b * C + c] = h[(b * T + t) * C + c];
  }
  return { out, index };
}

/** dh_btc = dy_bc at t = idx_b, 0 elsewhere (all zeros for idx_b = -1). */
export function lastTokenPoolBackward(index: Arr, dy: Arr, B: number, T: number, C: number): Float64Array {
  const dh = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    const t = index[b];
    if (t >= 0 && t < T) for (let c = 0; c < C; c++) dh[(b * T + t) * C + c] = dy[b * C + c];
  }
  return dh;
}

function denominators(mask: Arr, B: number, T: number): Float64Array {
  const den = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let k = 0;
    for (let t = 0; t < T; t++) if (mask[b * T + t] !== 0) k++;
    den[b] = Math.max(k, 1);
  }
  return den;
}

/** out_b = sum over valid t of h_bt / max(count_b, 1). */
export function meanPool(h: Arr, mask: Arr, B: number, T: number, C: number): Float64Array {
  const den = denominators(mask, B, T);
  const out = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      if (mask[b * T + t] === 0) continue;
      for (let c = 0; c < C; c++) out[b * C + c] += h[(b * T + t) * C + c];
    }
    for (let c = 0; c < C; c++) out[b * C + c] /= den[b];
  }
  return out;
}

/** dh_btc = [mask_bt != 0] dy_bc / max(count_b, 1). */
export function meanPoolBackward(mask: Arr, dy: Arr, B: number, T: number, C: number): Float64Array {
  const den = denominators(mask, B, T);
  const dh = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      if (mask[b * T + t] === 0) continue;
      for (let c = 0; c < C; c++) dh[(b * T + t) * C + c] = dy[b * C + c] / den[b];
    }
  }
  return dh;
}
