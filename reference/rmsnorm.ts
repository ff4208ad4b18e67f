// Float64 reference for kernels/rmsnorm.wgsl. Plain loops; the spec.
// x [rows, cols] row-major, w [cols].
type Arr = ArrayLike<number>;

/** rstd_i = 1 / sqrt(mean_c x_ic^2 + eps); y_ic = x_ic rstd_i w_c. */
export function rmsnorm(x: Arr, w: Arr, rows: number, cols: number, eps: number): { y: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(rows * cols);
  const rstd = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += x[i * cols + c] ** 2;
    const r = 1 / Math.sqrt(ss / cols + eps);
    rstd[i] = r;
    for (let c = 0; c < cols; c++) y[i * cols + c] = x[i * cols + c] * r * w[c];
  }
  return { y, rstd };
}

/**
 * dx_ic = rstd_i (w_c dy_ic - x_ic rstd_i^2 mean_c(w_c dy_ic x_ic));
 * dw_c = sum_i dy_ic x_ic rstd_i. rstd is recomputed from x.
 */
export function rmsnormBackward(
  x: Arr, w: Arr, dy: Arr, rows: number, cols: number, eps: number,
): { dx: Float64Array; dweight: Float64Array } {
  const { rstd } = rmsnorm(x, w, rows, cols, eps);
  const dx = new Float64Array(rows * cols);
  const dweight = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const r = rstd[i];
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += w[c] * dy[i * cols + c] * x[i * cols + c];
    const k = r * r * (dot / cols);
    for (let c = 0; c < cols; c++) {
      const j = i * cols + c;
      dx[j] = r * (w[c] * dy[j] - x[j] * k);
      dweight[c] += dy[j] * x[j] * r;
    }
  }
  return { dx, dweight };
}

/**
 * Per-element magnitudes the float32 rounding of y, dx and dweight grows with
 * (the tolerance scales of the tests and of `lco doctor`):
 *   y: |x w rstd|;  dx: rstd (|w dy| + |x| rstd^2 mean_c |w dy x|);  dw: sum_i |dy x rstd|.
 */
export function rmsnormErrorScales(x: Arr, w: Arr, dy: Arr, rows: number, cols: number, eps: number) {
  const { rstd } = rmsnorm(x, w, rows, cols, eps);
  const y = new Float64Array(rows * cols), dx = new Float64Array(rows * cols), dw = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const r = rstd[i];
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += Math.abs(w[c] * dy[i * cols + c] * x[i * cols + c]);
    for (let c = 0; c < cols; c++) {
      const j = i * cols + c;
      y[j] = Math.abs(x[j] * r * w[c]);
      dx[j] = r * (Math.abs(w[c] * dy[j]) + Math.abs(x[j]) * r * r * (dot / cols));
      dw[c] += Math.abs(dy[j] * x[j] * r);
    }
  }
  return { y, rstd, dx, dw };
}
