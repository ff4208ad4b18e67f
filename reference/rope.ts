// Float64 reference for kernels/rope.wgsl: rotate-half RoPE on x [B, T, H, D]
// with positions pos [B, T]; the first rotaryDim channels of each head rotate,
// the rest pass through. Plain loops; the spec.
type Arr = ArrayLike<number>;

export interface RopeShape {
  B: number;
  T: number;
  H: number;
  D: number;
  theta: number;
  /** Rotated channels per head (even, <= D); default D. */
  rotaryDim?: number;
}

/** inv_freq_j = theta^(-2j / R) for j < R / 2. */
export function invFreq(theta: number, rotaryDim: number): Float64Array {
  return Float64Array.from({ length: rotaryDim / 2 }, (_, j) => theta ** ((-2 * j) / rotaryDim));
}

function rotate(x: Arr, pos: Arr, s: RopeShape, sgn: 1 | -1): Float64Array {
  const { B, T, H, D, theta } = s;
  const R = s.rotaryDim ?? D;
  const half = R / 2;
  const freq = invFreq(theta, R);
  const y = Float64Array.from(x);
  for (let tok = 0; tok < B * T; tok++) {
    for (let j = 0; j < half; j++) {
      const angle = pos[tok] * freq[j];
      const c = Math.cos(angle), sn = sgn * Math.sin(angle);
      for (let h = 0; h < H; h++) {
        const base = (tok * H + h) * D;
        const a = x[base + j], b = x[base + j + half];
        y[base + j] = a * c - b * sn;
        y[base + j + half] = b * c + a * sn;
      }
    }
  }
  return y;
}

/** y_j = x_j cos - x_{j+R/2} sin; y_{j+R/2} = x_{j+R/2} cos + x_j sin; angle = pos * inv_freq_j. */
export function rope(x: Arr, pos: Arr, s: RopeShape): Float64Array {
  return rotate(x, pos, s, 1);
}

/** dx = transposed rotation of dy (sin negated). */
export function ropeBackward(dy: Arr, pos: Arr, s: RopeShape): Float64Array {
  return rotate(dy, pos, s, -1);
}
