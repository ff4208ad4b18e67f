// Float64 reference for kernels/lora.wgsl (see its header for the math):
//   y = x W^T + b + s * dropout(x) A^T B^T
// x [N, in], W [out, in], b [out] or null, A [r, in], B [out, r].
// The dropout mask is the kernel's counter-based hash, computed here with the
// same 32-bit integer arithmetic, so masks match bit for bit.

/** PCG-RXS-M-XS 32-bit output permutation, as in the kernel (u32 in, u32 out). */
export function pcg(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

export interface DropoutSpec {
  /** Probability of dropping an element, 0 <= p < 1. */
  p: number;
  /** Any u32; the same seed gives the same mask. */
  seed: number;
}

/** The kernel's integer threshold for p: keep when hash >= threshold. */
export function dropoutThreshold(p: number): number {
  return Math.min(0xffffffff, Math.round(p * 2 ** 32));
}

/** keep(i) for the element with flat index i (see the kernel header). */
export function dropoutKeep(i: number, spec: DropoutSpec): boolean {
  if (spec.p === 0) return true;
  const key = pcg(spec.seed >>> 0);
  return (pcg(pcg(i >>> 0) ^ key) >>> 0) >= dropoutThreshold(spec.p);
}

/** mask[i] / (1 - p): 0 for dropped elements, 1 / (1 - p) for kept ones. */
export function dropoutMask(n: number, spec: DropoutSpec): Float64Array {
  const m = new Float64Array(n);
  const inv = 1 / (1 - spec.p);
  for (let i = 0; i < n; i++) m[i] = dropoutKeep(i, spec) ? inv : 0;
  return m;
}

export function dropout(x: ArrayLike<number>, spec: DropoutSpec): Float64Array {
  const m = dropoutMask(x.length, spec);
  return Float64Array.from(m, (v, i) => v * x[i]);
}

/** s = alpha / r, or alpha / sqrt(r) for rsLoRA. */
export function loraScale(alpha: number, r: number, rslora = false): number {
  return rslora ? alpha / Math.sqrt(r) : alpha / r;
}

export interface LoraDims {
  N: number;
  inF: number;
  outF: number;
  r: number;
}

export interface LoraWeights {
  W: ArrayLike<number>;
  b: ArrayLike<number> | null;
  A: ArrayLike<number>;
  B: ArrayLike<number>;
  scale: number;
  dropout: DropoutSpec;
}

/** y [N, out] and u = dropout(x) A^T [N, r] (unscaled). */
export function loraForward(d: LoraDims, x: ArrayLike<number>, w: LoraWeights): { y: Float64Array; u: Float64Array } {
  const { N, inF, outF, r } = d;
  const xd = dropout(x, w.dropout);
  const u = new Float64Array(N * r);
  for (let m = 0; m < N; m++) {
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let k = 0; k < inF; k++) acc += xd[m * inF + k] * w.A[j * inF + k];
      u[m * r + j] = acc;
    }
  }
  const y = new Float64Array(N * outF);
  for (let m = 0; m < N; m++) {
    for (let n = 0; n < outF; n++) {
      let base = w.b ? w.b[n] : 0;
      for (let k = 0; k < inF; k++) base += x[m * inF + k] * w.W[n * inF + k];
      let lora = 0;
      for (let j = 0; j < r; j++) lora += u[m * r + j] * w.B[n * r + j];
      y[m * outF + n] = base + w.scale * lora;
    }
  }
  return { y, u };
}

/** Gradients of loss = sum(dy * y) with respect to x, A and B (W and b are frozen). */
export function loraBackward(
  d: LoraDims, x: ArrayLike<number>, w: LoraWeights, dy: ArrayLike<number>,
): { dx: Float64Array; dA: Float64Array; dB: Float64Array } {
  const { N, inF, outF, r } = d;
  const mask = dropoutMask(N * inF, w.dropout);
  const { u } = loraForward(d, x, w);
  const du = new Float64Array(N * r);
  const dB = new Float64Array(outF * r);
  for (let m = 0; m < N; m++) {
    for (let n = 0; n < outF; n++) {
      const g = dy[m * outF + n];
      for (let j = 0; j < r; j++) {
        du[m * r + j] += w.scale * g * w.B[n * r + j];
        dB[n * r + j] += w.scale * g * u[m * r + j];
      }
    }
  }
  const dA = new Float64Array(r * inF);
  const dx = new Float64Array(N * inF);
  for (let m = 0; m < N; m++) {
    for (let k = 0; k < inF; k++) {
      const i = m * inF + k;
      let lora = 0;
      for (let j = 0; j < r; j++) {
        dA[j * inF + k] += du[m * r + j] * mask[i] * x[i];
        lora += du[m * r + j] * w.A[j * inF + k];
      }
      let base = 0;
      for (let n = 0; n < outF; n++) base += dy[m * outF + n] * w.W[n * inF + k];
      dx[i] = base + mask[i] * lora;
    }
  }
  return { dx, dA, dB };
}
