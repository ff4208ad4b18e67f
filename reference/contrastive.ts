// Float64 reference for kernels/contrastive.wgsl and src/ops/contrastive.ts.
// Plain loops; the spec.
//
// a [B, E] anchors, c [M, E] candidates with M = B (1 + k): c[i] (i < B) is
// anchor i's positive, c[B + j B + i] its j-th hard negative. Every anchor
// scores all M candidates.
//
//   S[i, j]  = (a_i . c_j) / t, or -inf where the MAMCL mask drops it:
//              labels given and labels[j] != labels[i] and j != i
//   forward  l_f[i] = logsumexp_j S[i, :] - S[i, i]                 (j over [0, M))
//   reverse  l_r[j] = logsumexp_i S[:, j] - S[j, j]                 (i over [0, B), j < B)
//   loss     one-way: mean l_f;  symmetric: (mean l_f + mean l_r) / 2
//   grad     dsim[i, j] = G/(B t) (w_f (P[i, j] - [i == j]) + w_r [j < B] (Q[i, j] - [i == j]))
//            P = softmax over each row, Q = softmax over each column of S[:, :B]
//            (0 where dropped); dA = dsim c, dC = dsim^T a.
//
// Matryoshka: L = sum_d w_d loss(normalize(a[:, :d]), normalize(c[:, :d])).
// The gradient through a prefix's re-normalisation y = x / ||x|| is
// dx = (dy - y (y . dy)) / ||x|| (reference/l2norm.ts), added into the first
// d columns; columns past d get nothing from that term.
import { l2norm, l2normBackward } from './l2norm.ts';

type Arr = ArrayLike<number>;

export interface ContrastiveRefOptions {
  temperature: number;
  /** UNITE stage 1: (forward + reverse) / 2. Default false. */
  symmetric?: boolean;
  /** MAMCL: one label per candidate [M]; absent or null: no mask. */
  labels?: Arr | null;
}

export interface ContrastiveRef {
  loss: number;
  /** S = a c^T / t [B, M], unmasked. */
  scores: Float64Array;
  /** S [B, M] with -inf where masked. */
  logits: Float64Array;
  /** sum_e |a_ie c_je| / t [B, M]: the size float32 rounding of S grows with. */
  magnitude: Float64Array;
  lseF: Float64Array;
  lossF: Float64Array;
  /** [B] (empty when one-way). */
  lseR: Float64Array;
  lossR: Float64Array;
}

function kept(labels: Arr | null | undefined, i: number, j: number): boolean {
  return !labels || i === j || labels[j] === labels[i];
}

function logSumExp(values: number[]): number {
  const m = Math.max(...values);
  let s = 0;
  for (const v of values) s += Math.exp(v - m);
  return m + Math.log(s);
}

export function contrastive(a: Arr, c: Arr, B: number, M: number, E: number, opts: ContrastiveRefOptions): ContrastiveRef {
  const t = opts.temperature;
  const labels = opts.labels ?? null;
  const scores = new Float64Array(B * M);
  const logits = new Float64Array(B * M);
  const magnitude = new Float64Array(B * M);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < M; j++) {
      let dot = 0, mag = 0;
      for (let e = 0; e < E; e++) {
        dot += a[i * E + e] * c[j * E + e];
        mag += Math.abs(a[i * E + e] * c[j * E + e]);
      }
      scores[i * M + j] = dot / t;
      logits[i * M + j] = kept(labels, i, j) ? dot / t : -Infinity;
      magnitude[i * M + j] = mag / t;
    }
  }
  const lseF = new Float64Array(B), lossF = new Float64Array(B);
  for (let i = 0; i < B; i++) {
    const row: number[] = [];
    for (let j = 0; j < M; j++) row.push(logits[i * M + j]);
    lseF[i] = logSumExp(row);
    lossF[i] = lseF[i] - logits[i * M + i];
  }
  const sym = opts.symmetric ?? false;
  const lseR = new Float64Array(sym ? B : 0), lossR = new Float64Array(sym ? B : 0);
  if (sym) {
    for (let j = 0; j < B; j++) {
      const col: number[] = [];
      for (let i = 0; i < B; i++) col.push(logits[i * M + j]);
      lseR[j] = logSumExp(col);
      lossR[j] = lseR[j] - logits[j * M + j];
    }
  }
  const mean = (x: Float64Array) => x.reduce((s, v) => s + v, 0) / B;
  const loss = sym ? (mean(lossF) + mean(lossR)) / 2 : mean(lossF);
  return { loss, scores, logits, magnitude, lseF, lossF, lseR, lossR };
}

/** dsim [B, M] = dL/d(a c^T) times gradScale, and dA [B, E], dC [M, E]. */
export function contrastiveBackward(a: Arr, c: Arr, B: number, M: number, E: number, opts: ContrastiveRefOptions,
  gradScale = 1): { dsim: Float64Array; dA: Float64Array; dC: Float64Array } {
  const f = contrastive(a, c, B, M, E, opts);
  const sym = opts.symmetric ?? false;
  const wf = sym ? 0.5 : 1, wr = sym ? 0.5 : 0;
  const g = gradScale / (B * opts.temperature);
  const dsim = new Float64Array(B * M);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < M; j++) {
      const s = f.logits[i * M + j];
      const eye = i === j ? 1 : 0;
      let d = wf * (Math.exp(s - f.lseF[i]) - eye);
      if (sym && j < B) d += wr * (Math.exp(s - f.lseR[j]) - eye);
      dsim[i * M + j] = g * d;
    }
  }
  const dA = new Float64Array(B * E), dC = new Float64Array(M * E);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < M; j++) {
      const d = dsim[i * M + j];
      for (let e = 0; e < E; e++) {
        dA[i * E + e] += d * c[j * E + e];
        dC[j * E + e] += d * a[i * E + e];
      }
    }
  }
  return { dsim, dA, dC };
}

/** The first d columns of x [rows, E], as [rows, d]. */
export function prefix(x: Arr, rows: number, E: number, d: number): Float64Array {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) for (let e = 0; e < d; e++) y[r * d + e] = x[r * E + e];
  return y;
}

export interface MatryoshkaRef {
  loss: number;
  /** The unweighted loss of each prefix. */
  parts: number[];
}

export function matryoshka(a: Arr, c: Arr, B: number, M: number, E: number, dims: readonly number[],
  weights: readonly number[], opts: ContrastiveRefOptions): MatryoshkaRef {
  const parts = dims.map((d) => {
    const ad = l2norm(prefix(a, B, E, d), B, d).y;
    const cd = l2norm(prefix(c, M, E, d), M, d).y;
    return contrastive(ad, cd, B, M, d, opts).loss;
  });
  return { loss: parts.reduce((s, l, n) => s + weights[n] * l, 0), parts };
}

export function matryoshkaBackward(a: Arr, c: Arr, B: number, M: number, E: number, dims: readonly number[],
  weights: readonly number[], opts: ContrastiveRefOptions, gradScale = 1): { dA: Float64Array; dC: Float64Array } {
  const dA = new Float64Array(B * E), dC = new Float64Array(M * E);
  dims.forEach((d, n) => {
    const ax = prefix(a, B, E, d), cx = prefix(c, M, E, d);
    const ad = l2norm(ax, B, d).y, cd = l2norm(cx, M, d).y;
    const g = contrastiveBackward(ad, cd, B, M, d, opts, gradScale * weights[n]);
    const da = l2normBackward(ax, g.dA, B, d), dc = l2normBackward(cx, g.dC, M, d);
    for (let r = 0; r < B; r++) for (let e = 0; e < d; e++) dA[r * E + e] += da[r * d + e];
    for (let r = 0; r < M; r++) for (let e = 0; e < d; e++) dC[r * E + e] += dc[r * d + e];
  });
  return { dA, dC };
}

/**
 * Per-element magnitudes the float32 rounding of the loss kernels grows with
 * (the tolerance scales of test/contrastive.test.ts and lco doctor), with
 * mag = sum_e |a c| / t and mx the line's largest mag:
 *   lse, per-line loss  1 + |value| + 2 mx;  the mean: the mean of the lines' scales
 *   dsim                |g| (p (1 + |S| + |lse| + 2 mx) + [i == j]) per direction
 *   dA, dC              dsim's scale carried through the matmuls by |c|, |a|.
 */
export function contrastiveErrorScales(
  x: { B: number; k: number; E: number; a: Arr; c: Arr; temperature: number; symmetric: boolean; gradScale: number },
  f: ContrastiveRef,
) {
  const { B, k, E, a, c, temperature: t, symmetric } = x;
  const M = B * (1 + k);
  const gf = Math.abs(x.gradScale) * (symmetric ? 0.5 : 1) / (B * t), gr = symmetric ? gf : 0;
  const maxRow = new Float64Array(B), maxCol = new Float64Array(B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < M; j++) {
      const m = f.magnitude[i * M + j];
      maxRow[i] = Math.max(maxRow[i], m);
      if (j < B && Number.isFinite(f.logits[i * M + j])) maxCol[j] = Math.max(maxCol[j], m);
    }
  }
  const lineF = Float64Array.from(f.lossF, (l, i) => 1 + Math.abs(l) + 2 * maxRow[i]);
  const lineR = Float64Array.from(f.lossR, (l, j) => 1 + Math.abs(l) + 2 * maxCol[j]);
  const lseF = Float64Array.from(f.lseF, (l, i) => 1 + Math.abs(l) + 2 * maxRow[i]);
  const lseR = Float64Array.from(f.lseR, (l, j) => 1 + Math.abs(l) + 2 * maxCol[j]);
  const mean = (v: Float64Array) => v.reduce((s, y) => s + y, 0) / B;
  const loss = symmetric ? (mean(lineF) + mean(lineR)) / 2 : mean(lineF);
  const dsim = new Float64Array(B * M);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < M; j++) {
      const s = f.logits[i * M + j];
      if (!Number.isFinite(s)) continue; // masked: exactly 0, the scale stays 0
      const eye = i === j ? 1 : 0;
      let v = gf * (Math.exp(s - f.lseF[i]) * (1 + Math.abs(s) + Math.abs(f.lseF[i]) + 2 * maxRow[i]) + eye);
      if (symmetric && j < B) v += gr * (Math.exp(s - f.lseR[j]) * (1 + Math.abs(s) + Math.abs(f.lseR[j]) + 2 * maxCol[j]) + eye);
      dsim[i * M + j] = v;
    }
  }
  const dA = new Float64Array(B * E), dC = new Float64Array(M * E);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < M; j++) {
      const d = dsim[i * M + j];
      for (let e = 0; e < E; e++) {
        dA[i * E + e] += d * Math.abs(c[j * E + e]);
        dC[j * E + e] += d * Math.abs(a[i * E + e]);
      }
    }
  }
  const lines = symmetric ? [...lineF, ...lineR] : [...lineF];
  const lses = symmetric ? [...lseF, ...lseR] : [...lseF];
  return { lines, lses, loss, dsim, dA, dC };
}
