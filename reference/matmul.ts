// Float64 reference for kernels/matmul.wgsl:
//   C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b]
// with the same strided layout (lda, ldb, ldc, per-batch strides; stride 0
// broadcasts). Also returns, per element, alpha * sum_k |A(m,k) B(k,n)| + |beta C|:
// the magnitude a float32 dot product's rounding error grows with.

export interface MatmulLayout {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
  lda: number;
  ldb: number;
  ldc: number;
  strideA: number;
  strideB: number;
  strideC: number;
  alpha: number;
  beta: number;
}

export function matmul(
  L: MatmulLayout,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  C: ArrayLike<number> | null,
  cSize: number,
): { c: Float64Array; magnitude: Float64Array } {
  const out = new Float64Array(cSize);
  const magnitude = new Float64Array(cSize);
  if (C) for (let i = 0; i < cSize; i++) out[i] = C[i];
  for (let b = 0; b < L.batch; b++) {
    for (let m = 0; m < L.M; m++) {
      for (let n = 0; n < L.N; n++) {
        let acc = 0;
        let mag = 0;
        for (let k = 0; k < L.K; k++) {
          const a = A[b * L.strideA + (L.transA ? k * L.lda + m : m * L.lda + k)];
          const bb = B[b * L.strideB + (L.transB ? n * L.ldb + k : k * L.ldb + n)];
          acc += a * bb;
          mag += Math.abs(a * bb);
        }
        const i = b * L.strideC + m * L.ldc + n;
        const old = L.beta === 0 ? 0 : L.beta * out[i];
        out[i] = L.alpha * acc + old;
        magnitude[i] = Math.abs(L.alpha) * mag + Math.abs(old);
      }
    }
  }
  return { c: out, magnitude };
}

/** Gradients of loss = sum(dC * C) for C = op(A) op(B) (alpha = 1, beta = 0, batch 1, dense). */
export function matmulBackward(
  M: number, N: number, K: number, transA: boolean, transB: boolean,
  A: ArrayLike<number>, B: ArrayLike<number>, dC: ArrayLike<number>,
): { dA: Float64Array; dB: Float64Array } {
  const dA = new Float64Array(M * K);
  const dB = new Float64Array(K * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const g = dC[m * N + n];
      for (let k = 0; k < K; k++) {
        const ia = transA ? k * M + m : m * K + k;
        const ib = transB ? n * K + k : k * N + n;
        dA[ia] += g * B[ib];
        dB[ib] += g * A[ia];
      }
    }
  }
  return { dA, dB };
}
