// Float64 reference for kernels/l2norm.wgsl. Plain loops; the spec.
// x [rows, cols] row-major; normalises each row like torch.nn.functional.normalize.
type Arr = ArrayLike<number>;

/** n_i = ||x_i||; y_i = x_i / max(n_i, eps). */
export function l2norm(x: Arr, rows: number, cols: number, eps = 1e-12): { y: Float64Array; norm: Float64Array } {
  const y = new Float64Array(rows * cols);
  const norm = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += x[i * cols + c] ** 2;
    const n = Math.sqrt(ss);
    norm[i] = n;
    const d = Math.max(n, eps);
    for (let c = 0; c < cols; c++) y[i * cols + c] = x[i * cols + c] / d;
  }
  return { y, norm };
}

/**
 * dx_i = (dy_i - y_i dot(y_i, dy_i)) / n_i where n_i >= eps; dy_i / eps where
 * n_i < eps (the clamp max(n, eps) is the constant eps there). y and n are
 * recomputed from x.
 */
export function l2normBackward(x: Arr, dy: Arr, rows: number, cols: number, eps = 1e-12): Float64Array {
  const { y, norm } = l2norm(x, rows, cols, eps);
  const dx = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const n = norm[i];
    if (n < eps) {
      for (let c = 0; c < cols; c++) dx[i * cols + c] = dy[i * cols + c] / eps;
      continue;
    }
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += y[i * cols + c] * dy[i * cols + c];
    for (let c = 0; c < cols; c++) dx[i * cols + c] = (dy[i * cols + c] - y[i * cols + c] * dot) / n;
  }
  return dx;
}
