// Linear probe: multinomial logistic regression on frozen embeddings, trained
// with L-BFGS (written here, no line-search library), scored by test accuracy.
//
// Features are standardised with the training split's statistics:
//   z = (x - mean) / std per dimension (population std, ddof 0, as sklearn's
//   StandardScaler; a constant dimension gets std 1, so it becomes 0).
// (MTEB feeds raw embeddings to sklearn; standardising makes the fixed
// regularisation strength comparable across models of different scales.)
//
// Model: logits_i = W z_i + b, W [K, D], b [K]; p_i = softmax(logits_i).
// Objective (sklearn LogisticRegression(C) divided by n, same minimiser):
//   L(W, b) = (1/n) sum_i -ln p_i[y_i] + (1 / (2 C n)) ||W||^2   (b not penalised)
//   dL/dW = (1/n) sum_i (p_i - onehot(y_i)) z_i^T + W / (C n)
//   dL/db = (1/n) sum_i (p_i - onehot(y_i))
// L is convex; the start W = 0, b = 0 and every step are deterministic.
//
// L-BFGS: memory m pairs (s = x_{k+1} - x_k, y = g_{k+1} - g_k), direction
// d = -H g by the two-loop recursion with H0 = (s.y / y.y) I of the newest
// pair; backtracking (halving) line search to the Armijo condition
// f(x + t d) <= f(x) + 1e-4 t g.d from t = 1 (t = 1 / ||g|| on the first
// step); a pair is stored only when s.y > 0 (keeps H positive definite).
// Stops when max |g_i| <= gradTol, when the relative decrease of f is
// <= ftol (both count as converged), or after maxIters accepted steps.
import { checkInt, checkMatrix, encodeLabels, fail, type Labels, type Matrix } from './matrix.ts';

// ---------------------------------------------------------------------------
// L-BFGS

export interface LbfgsOptions {
  /** Most accepted steps. Default 100. */
  maxIters?: number;
  /** Pairs kept. Default 10. */
  memory?: number;
  /** Stop when max |g_i| <= gradTol. Default 1e-5. */
  gradTol?: number;
  /** Stop when (f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol. Default 64 * 2^-52 (sklearn's). */
  ftol?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  /** Accepted steps. */
  iterations: number;
  /** True when a tolerance was met (not when maxIters ran out or the line search failed). */
  converged: boolean;
}

/** f and its gradient: writes df/dx into grad, returns f. */
export type ObjectiveFn = (x: Float64Array, grad: Float64Array) => number;

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Minimises a smooth function from x0 by L-BFGS with a backtracking Armijo line search. */
export function lbfgs(fg: ObjectiveFn, x0: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  const where = 'lbfgs';
  const maxIters = options.maxIters ?? 100;
  const memory = options.memory ?? 10;
  const gradTol = options.gradTol ?? 1e-5;
  const ftol = options.ftol ?? 64 * Number.EPSILON;
  checkInt(where, 'maxIters', maxIters, 0);
  checkInt(where, 'memory', memory);
  if (!(gradTol >= 0) || !(ftol >= 0)) fail(where, `gradTol ${gradTol} and ftol ${ftol} must be >= 0`);
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let f = fg(x, g);
  if (!Number.isFinite(f)) fail(where, `objective is ${f} at the starting point`);
  const S: Float64Array[] = [], Y: Float64Array[] = [], rho: number[] = [];
  const d = new Float64Array(n);
  const alpha = new Float64Array(memory);
  let iterations = 0, converged = false;
  while (true) {
    let gmax = 0;
    for (let i = 0; i < n; i++) gmax = Math.max(gmax, Math.abs(g[i]));
    if (gmax <= gradTol) { converged = true; break; }
    if (iterations >= maxIters) break;

    // d = -H g (two-loop recursion over the stored pairs, newest first).
    for (let i = 0; i < n; i++) d[i] = -g[i];
    for (let j = S.length - 1; j >= 0; j--) {
      alpha[j] = rho[j] * dot(S[j], d);
      const y = Y[j];
      for (let i = 0; i < n; i++) d[i] -= alpha[j] * y[i];
    }
    if (S.length > 0) {
      const last = S.length - 1;
      const gamma = dot(S[last], Y[last]) / dot(Y[last], Y[last]);
      for (let i = 0; i < n; i++) d[i] *= gamma;
    }
    for (let j = 0; j < S.length; j++) {
      const beta = rho[j] * dot(Y[j], d);
      const s = S[j];
      for (let i = 0; i < n; i++) d[i] += (alpha[j] - beta) * s[i];
    }
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Rounding made the quasi-Newton direction useless: restart from steepest descent.
      S.length = 0; Y.length = 0; rho.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i];
      slope = dot(g, d);
    }

    let t = S.length === 0 ? 1 / Math.sqrt(dot(g, g)) : 1;
    const xn = new Float64Array(n), gn = new Float64Array(n);
    let fn = NaN, accepted = false;
    for (let tries = 0; tries < 60; tries++) {
      for (let i = 0; i < n; i++) xn[i] = x[i] + t * d[i];
      fn = fg(xn, gn);
      if (Number.isFinite(fn) && fn <= f + 1e-4 * t * slope) { accepted = true; break; }
      t *= 0.5;
    }
    if (!accepted) break; // no decrease representable along d: stalled

    const s = new Float64Array(n), y = new Float64Array(n);
    for (let i = 0; i < n; i++) { s[i] = xn[i] - x[i]; y[i] = gn[i] - g[i]; }
    const sy = dot(s, y);
    if (sy > 0) {
      if (S.length === memory) { S.shift(); Y.shift(); rho.shift(); }
      S.push(s); Y.push(y); rho.push(1 / sy);
    }
    const decrease = (f - fn) / Math.max(Math.abs(f), Math.abs(fn), 1);
    x = xn; g = gn; f = fn;
    iterations++;
    if (decrease <= ftol) { converged = true; break; }
  }
  return { x, f, iterations, converged };
}

// ---------------------------------------------------------------------------
// The probe

export interface ProbeOptions {
  /** Inverse regularisation strength, sklearn's C. Default 1. */
  c?: number;
  /** Most L-BFGS steps. Default 100 (MTEB's max_iter). */
  maxIters?: number;
  /** L-BFGS gradient tolerance on the mean objective. Default 1e-5. */
  gradTol?: number;
}

export interface LogisticProbe {
  /** The class values seen in training, sorted; predictions index into it. */
  classes: (number | string)[];
  dim: number;
  /** [K, dim], acting on standardised features. */
  weights: Float64Array;
  /** [K]. */
  bias: Float64Array;
  /** Training mean and std per dimension [dim] used to standardise. */
  mean: Float64Array;
  std: Float64Array;
  /** Final objective value, L-BFGS steps, whether a tolerance was met. */
  loss: number;
  iterations: number;
  converged: boolean;
}

/** Standardised copy z [n, dim] of x with the given mean and std. */
function standardise(x: Matrix, n: number, dim: number, mean: Float64Array, std: Float64Array): Float64Array {
  const z = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) for (let c = 0; c < dim; c++) z[i * dim + c] = (x[i * dim + c] - mean[c]) / std[c];
  return z;
}

/**
 * The probe objective and its gradient at theta = [W (K*D, row-major), b (K)]
 * for standardised features z [n, D] and class codes y in [0, K); lambda = 1 / (C n).
 */
export function probeObjective(theta: Float64Array, grad: Float64Array, z: Float64Array, y: Int32Array, n: number, dim: number, K: number, lambda: number): number {
  const W = theta.subarray(0, K * dim), b = theta.subarray(K * dim);
  const gW = grad.subarray(0, K * dim), gb = grad.subarray(K * dim);
  grad.fill(0);
  const logits = new Float64Array(K);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const zo = i * dim;
    let mx = -Infinity;
    for (let k = 0; k < K; k++) {
      let s = b[k];
      const wo = k * dim;
      for (let c = 0; c < dim; c++) s += W[wo + c] * z[zo + c];
      logits[k] = s;
      if (s > mx) mx = s;
    }
    // log-sum-exp around the max keeps exp() in range
    let se = 0;
    for (let k = 0; k < K; k++) se += Math.exp(logits[k] - mx);
    const lse = mx + Math.log(se);
    loss += lse - logits[y[i]];
    for (let k = 0; k < K; k++) {
      const r = (Math.exp(logits[k] - lse) - (k === y[i] ? 1 : 0)) / n; // (p - onehot) / n
      gb[k] += r;
      const wo = k * dim;
      for (let c = 0; c < dim; c++) gW[wo + c] += r * z[zo + c];
    }
  }
  loss /= n;
  let ww = 0;
  for (let j = 0; j < K * dim; j++) {
    ww += W[j] * W[j];
    gW[j] += lambda * W[j];
  }
  return loss + 0.5 * lambda * ww;
}

/** Trains the probe on x [n, dim] with labels [n] (at least two classes). */
export function trainProbe(x: Matrix, n: number, dim: number, labels: Labels, options: ProbeOptions = {}): LogisticProbe {
  const where = 'trainProbe';
  checkMatrix(where, 'x', x, n, dim);
  const { codes, classes } = encodeLabels(where, 'labels', labels, n);
  const K = classes.length;
  if (K < 2) fail(where, `training labels hold ${K} class; a classifier needs at least 2`);
  const c = options.c ?? 1;
  if (!Number.isFinite(c) || c <= 0) fail(where, `c (inverse regularisation) = ${c} must be finite and > 0`);

  const mean = new Float64Array(dim), std = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += x[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) std[j] += (x[i * dim + j] - mean[j]) ** 2;
  for (let j = 0; j < dim; j++) {
    const s = Math.sqrt(std[j] / n);
    std[j] = s > 0 ? s : 1;
  }
  const z = standardise(x, n, dim, mean, std);
  const lambda = 1 / (c * n);
  const res = lbfgs(
    (theta, grad) => probeObjective(theta, grad, z, codes, n, dim, K, lambda),
    new Float64Array(K * dim + K),
    { maxIters: options.maxIters ?? 100, gradTol: options.gradTol ?? 1e-5 },
  );
  return {
    classes, dim,
    weights: res.x.slice(0, K * dim), bias: res.x.slice(K * dim),
    mean, std, loss: res.f, iterations: res.iterations, converged: res.converged,
  };
}

/** Predicted class index (into probe.classes) of each row of x [n, probe.dim]; ties go to the lower index. */
export function predictProbe(probe: LogisticProbe, x: Matrix, n: number): Int32Array {
  const where = 'predictProbe';
  const dim = probe.dim, K = probe.classes.length;
  checkMatrix(where, 'x', x, n, dim);
  const z = standardise(x, n, dim, probe.mean, probe.std);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, bestS = -Infinity;
    for (let k = 0; k < K; k++) {
      let s = probe.bias[k];
      for (let c = 0; c < dim; c++) s += probe.weights[k * dim + c] * z[i * dim + c];
      if (s > bestS) { bestS = s; best = k; }
    }
    out[i] = best;
  }
  return out;
}

/** Fraction of rows whose predicted class equals the label; a label unseen in training is never matched. */
export function probeAccuracyOn(probe: LogisticProbe, x: Matrix, n: number, labels: Labels): { accuracy: number; correct: number } {
  const where = 'probeAccuracyOn';
  checkInt(where, 'n', n);
  const { codes, classes } = encodeLabels(where, 'labels', labels, n);
  const trainIndex = new Map<number | string, number>();
  probe.classes.forEach((v, i) => trainIndex.set(v, i));
  const pred = predictProbe(probe, x, n);
  let correct = 0;
  for (let i = 0; i < n; i++) if (trainIndex.get(classes[codes[i]]) === pred[i]) correct++;
  return { accuracy: correct / n, correct };
}

/** A labelled split: x [n, dim] row-major, labels [n]. */
export interface ProbeSplit {
  x: Matrix;
  n: number;
  labels: Labels;
}

export interface ProbeResult {
  /** Accuracy on the test split. */
  accuracy: number;
  correct: number;
  total: number;
  trainAccuracy: number;
  probe: LogisticProbe;
}

/** Trains on `train`, returns the accuracy on `test` (both [n, dim]). */
export function probeAccuracy(train: ProbeSplit, test: ProbeSplit, dim: number, options: ProbeOptions = {}): ProbeResult {
  const probe = trainProbe(train.x, train.n, dim, train.labels, options);
  const tr = probeAccuracyOn(probe, train.x, train.n, train.labels);
  const te = probeAccuracyOn(probe, test.x, test.n, test.labels);
  return { accuracy: te.accuracy, correct: te.correct, total: test.n, trainAccuracy: tr.accuracy, probe };
}
