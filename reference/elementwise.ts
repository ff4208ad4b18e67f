// Float64 reference for kernels/elementwise.wgsl. Plain loops; the spec.
type Arr = ArrayLike<number>;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function axpby(alpha: number, a: Arr, beta: number, b: Arr): Float64Array {
  return Float64Array.from(a, (v, i) => alpha * v + beta * b[i]);
}

export function scale(s: number, x: Arr): Float64Array {
  return Float64Array.from(x, (v) => s * v);
}

/** y + s * x (the in-place accumulate, returned as a new array). */
export function accumulate(y: Arr, x: Arr, s = 1): Float64Array {
  return Float64Array.from(y, (v, i) => v + s * x[i]);
}

export function mul(a: Arr, b: Arr): Float64Array {
  return Float64Array.from(a, (v, i) => v * b[i]);
}

export function mulBackward(a: Arr, b: Arr, dy: Arr): { da: Float64Array; db: Float64Array } {
  return { da: mul(dy, b), db: mul(dy, a) };
}

export function silu(x: Arr): Float64Array {
  return Float64Array.from(x, (v) => v * sigmoid(v));
}

export function siluBackward(x: Arr, dy: Arr): Float64Array {
  return Float64Array.from(x, (v, i) => {
    const s = sigmoid(v);
    return dy[i] * s * (1 + v * (1 - s));
  });
}

export function swiglu(g: Arr, u: Arr): Float64Array {
  return Float64Array.from(g, (v, i) => v * sigmoid(v) * u[i]);
}

export function swigluBackward(g: Arr, u: Arr, dy: Arr): { dg: Float64Array; du: Float64Array } {
  const dsilu = siluBackward(g, dy);
  const s = silu(g);
  return { dg: Float64Array.from(dsilu, (v, i) => v * u[i]), du: Float64Array.from(s, (v, i) => v * dy[i]) };
}

/** y[r, c] = x[r, c] + b[c] for x [rows, cols]. */
export function biasAdd(x: Arr, b: Arr, cols: number): Float64Array {
  return Float64Array.from(x, (v, i) => v + b[i % cols]);
}

/** db[c] = sum_r dy[r, c]. */
export function biasGrad(dy: Arr, rows: number, cols: number): Float64Array {
  const db = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) db[c] += dy[r * cols + c];
  return db;
}
