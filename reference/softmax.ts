// Float64 reference for kernels/softmax.wgsl. Plain loops; the spec.
//
// x is [rows, cols]; the optional additive mask is [maskRows, cols] with
// rows % maskRows == 0 (row r uses mask row r % maskRows). An entry is masked
// when x <= -1e30 or mask <= -1e30: it gets 0 and takes no part in the row's
// max and sum; a row with every entry masked is all zeros.
type Arr = ArrayLike<number>;

export const MASKED = -1e30;

export function softmax(x: Arr, rows: number, cols: number, mask?: Arr, maskRows = 1): Float64Array {
  const y = new Float64Array(rows * cols);
  const v = new Float64Array(cols);
  const live = new Uint8Array(cols);
  for (let r = 0; r < rows; r++) {
    const mr = (r % maskRows) * cols;
    let m = -Infinity;
    for (let c = 0; c < cols; c++) {
      const xv = x[r * cols + c];
      const k = mask ? mask[mr + c] : 0;
      live[c] = xv <= MASKED || k <= MASKED ? 0 : 1;
      v[c] = xv + k;
      if (live[c] && v[c] > m) m = v[c];
    }
    let s = 0;
    for (let c = 0; c < cols; c++) if (live[c]) s += Math.exp(v[c] - m);
    for (let c = 0; c < cols; c++) y[r * cols + c] = live[c] ? Math.exp(v[c] - m) / s : 0;
  }
  return y;
}

/** dx = y * (dy - sum(dy * y)) per row. */
export function softmaxBackward(y: Arr, dy: Arr, rows: number, cols: number): Float64Array {
  const dx = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let d = 0;
    for (let c = 0; c < cols; c++) d += dy[r * cols + c] * y[r * cols + c];
    for (let c = 0; c < cols; c++) dx[r * cols + c] = y[r * cols + c] * (dy[r * cols + c] - d);
  }
  return dx;
}
