// Typed wrappers for kernels/contrastive.wgsl: InfoNCE over L2-normalised
// embeddings (one-way as LCO-Emb, or symmetric as UNITE stage 1), UNITE's
// modality mask (MAMCL), and the Matryoshka sum over nested prefixes.
//
// a [B, E] anchors, c [M, E] candidates, M = B (1 + k): the B positives first
// (c[i] is anchor i's positive), then k blocks of B hard negatives (c[B + jB + i]
// is anchor i's j-th). The forward records the logits matmul S = a c^T / t
// [B, M], the per-line log-sum-exp and the mean; the backward records the
// scores' gradient dsim [B, M] and two matmuls, dA = dsim c and dC = dsim^T a.
// Gradients are with respect to a and c as given (the caller's l2norm
// backward takes them to the raw embeddings). Nothing is submitted.
//
// Matryoshka (matryoshkaContrastiveLoss): L = sum_n w_n loss(normalize(a[:, :d_n]),
// normalize(c[:, :d_n])), composed here from prefix_copy, l2norm, the loss
// above and, backward, l2normBackward and prefix_accumulate. The prefix of a
// unit vector is not a unit vector, so each prefix is re-normalised; its
// gradient is dx = (dy - y (y . dy)) / ||x[:d]|| on the first d columns. The
// full-width term is re-normalised too (its norm is ~1, so the value is the
// same) and its gradient is then the tangential part of the plain one; after
// the caller's l2norm backward of the full embedding the two agree.
import { grid1d, rowWorkgroupSize, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { accumulate } from './elementwise.ts';
import { L2NORM_EPS, l2norm, l2normBackward } from './l2norm.ts';
import { matmul } from './matmul.ts';

/** LCO-Emb's and UNITE's temperature. */
export const CONTRASTIVE_TEMPERATURE = 0.03;

export interface ContrastiveOptions {
  /** t in S = a c^T / t; finite and > 0. Default 0.03. */
  temperature?: number;
  /** UNITE stage 1: (CE(anchor -> candidates) + CE(positive -> anchors)) / 2. Default false (one-way). */
  symmetric?: boolean;
  /**
   * MAMCL: the modality label of every candidate, u32 [M] (UNITE's bit set:
   * text 1, image 2, video 4, OR-ed for mixtures). Candidate j is dropped from
   * anchor i's softmax when labels[j] != labels[i] (the positive's label).
   * Absent: nothing is masked.
   */
  labels?: Tensor<'u32'> | ArrayLike<number>;
}

export interface ContrastiveForward {
  /** The loss, f32 [1]. */
  loss: Tensor<'f32'>;
  /** Per-line losses [dirs, B]: row 0 anchor -> candidates, row 1 (symmetric) positive -> anchors. */
  losses: Tensor<'f32'>;
  /** Per-line log-sum-exp [dirs, B], saved for the backward. */
  lse: Tensor<'f32'>;
  /** S = a c^T / t [B, M], unmasked (the mask is applied inside the kernels), saved for the backward. */
  logits: Tensor<'f32'>;
  /** The labels as a u32 tensor (the one given, or the upload of the given data); null without a mask. */
  labels: Tensor<'u32'> | null;
  /** What the backward must agree on. */
  batch: number;
  candidates: number;
  temperature: number;
  symmetric: boolean;
}

export interface ContrastiveOutputs {
  loss?: Tensor;
  losses?: Tensor;
  lse?: Tensor;
  logits?: Tensor;
}

export interface ContrastiveBackwardOptions {
  /** Upstream gradient of the loss. Default 1. */
  gradScale?: number;
  /** Output dA, f32 [B, E]. */
  dA?: Tensor;
  /** Output dC, f32 [M, E]. */
  dC?: Tensor;
  /** Where to write dsim [B, M] (kept for the caller); default: a scratch tensor released after use. */
  dsim?: Tensor;
}

function isTensor<T>(x: Tensor | T): x is Tensor {
  return typeof x === 'object' && x !== null && 'buffer' in x && 'shape' in x;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkOut(op: string, name: string, t: Tensor, shape: readonly number[]): void {
  check(t.dtype === 'f32' && sameShape(t.shape, shape), op, () => `${name} ${t.describe()} must be f32${fmtShape(shape)}`);
}

/** B, M, E from a [B, E] and c [M, E] with M a positive multiple of B. */
function geometry(op: string, a: Tensor, c: Tensor): { B: number; M: number; E: number } {
  check(a.dtype === 'f32' && c.dtype === 'f32', op, () => `anchors ${a.describe()} and candidates ${c.describe()} must be f32`);
  check(a.shape.length === 2 && a.shape[0] >= 1 && a.shape[1] >= 1, op, () => `anchors ${a.describe()} must be [B, E] with B, E >= 1`);
  const [B, E] = a.shape;
  check(c.shape.length === 2 && c.shape[1] === E, op, () => `candidates ${c.describe()} must be [M, ${E}] for anchors ${a.describe()}`);
  const M = c.shape[0];
  check(M >= B && M % B === 0, op,
    () => `candidates ${c.describe()} must hold B (1 + k) rows for B = ${B} anchors (the ${B} positives, then k blocks of ${B} hard negatives)`);
  return { B, M, E };
}

function checkTemperature(op: string, t: number): void {
  check(Number.isFinite(t) && t > 0, op, () => `temperature ${t} must be finite and > 0`);
}

/** Labels given as data are checked and uploaded; a tensor must be u32 [M]. */
function labelTensor(gpu: Gpu, op: string, labels: Tensor<'u32'> | ArrayLike<number>, M: number): Tensor<'u32'> {
  if (isTensor(labels)) {
    check(labels.dtype === 'u32' && sameShape(labels.shape, [M]), op,
      () => `labels ${labels.describe()} must be u32[${M}] (one per candidate)`);
    return labels as Tensor<'u32'>;
  }
  const data = labels as ArrayLike<number>;
  check(data.length === M, op, () => `${data.length} labels given for ${M} candidates`);
  for (let j = 0; j < M; j++) {
    const v = data[j];
    check(Number.isInteger(v) && v >= 0 && v <= 0xffffffff, op, () => `label ${v} of candidate ${j} must be a u32`);
  }
  return gpu.tensor(data, [M], 'u32', 'contrastive.labels');
}

function conParams(B: number, M: number, symmetric: boolean, masked: boolean, gradScale: number, t: number) {
  const wf = symmetric ? 0.5 : 1, wr = symmetric ? 0.5 : 0;
  const g = gradScale / (B * t);
  return params().u32(B, M, symmetric ? 2 : 1, masked ? 1 : 0).f32(wf, wr, g * wf, g * wr);
}

/**
 * InfoNCE over a [B, E] and c [M, E]: S = a c^T / t, the per-row cross-entropy
 * with row i's target at column i (and, symmetric, the per-column one over
 * S[:, :B]), their mean. Returns the tensors contrastiveLossBackward reads.
 */
export function contrastiveLoss(gpu: Gpu, a: Tensor, c: Tensor, opts: ContrastiveOptions & { out?: ContrastiveOutputs } = {}): ContrastiveForward {
  const op = 'contrastiveLoss';
  const { B, M } = geometry(op, a, c);
  const temperature = opts.temperature ?? CONTRASTIVE_TEMPERATURE;
  checkTemperature(op, temperature);
  const symmetric = opts.symmetric ?? false;
  const dirs = symmetric ? 2 : 1;
  const out = opts.out ?? {};
  for (const [name, shape] of [['loss', [1]], ['losses', [dirs, B]], ['lse', [dirs, B]], ['logits', [B, M]]] as const) {
    const given = out[name];
    if (given) checkOut(op, `out.${name}`, given, shape);
  }
  const labels = opts.labels === undefined ? null : labelTensor(gpu, op, opts.labels, M);
  const logits = matmul(gpu, a, c, { transB: true, alpha: 1 / temperature, out: out.logits });
  const losses = out.losses ?? gpu.empty([dirs, B], 'f32', 'contrastive.losses');
  const lse = out.lse ?? gpu.empty([dirs, B], 'f32', 'contrastive.lse');
  const loss = out.loss ?? gpu.empty([1], 'f32', 'contrastive.loss');
  const p = conParams(B, M, symmetric, labels !== null, 1, temperature);
  const label = `${op} anchors ${a.describe()} candidates ${c.describe()} t=${temperature}${symmetric ? ' symmetric' : ''}${labels ? ' masked' : ''}`;
  gpu.dispatch({ kernel: 'contrastive', entry: 'con_lse', constants: { WG: rowWorkgroupSize(gpu) }, params: p, inputs: [logits, labels ?? logits], outputs: [losses, lse],
    workgroups: grid1d(dirs * B, 1, gpu), label });
  gpu.dispatch({ kernel: 'contrastive', entry: 'con_reduce', params: p, inputs: [losses], outputs: [loss],
    workgroups: [1], label: `${label} (mean)` });
  return { loss: loss as Tensor<'f32'>, losses: losses as Tensor<'f32'>, lse: lse as Tensor<'f32'>, logits: logits as Tensor<'f32'>,
    labels, batch: B, candidates: M, temperature, symmetric };
}

/**
 * dA [B, E] and dC [M, E]: the gradients of gradScale * loss with respect to
 * the anchors and candidates given to the forward (`saved`).
 */
export function contrastiveLossBackward(gpu: Gpu, a: Tensor, c: Tensor, saved: ContrastiveForward,
  opts: ContrastiveBackwardOptions = {}): { dA: Tensor; dC: Tensor } {
  const op = 'contrastiveLossBackward';
  const { B, M, E } = geometry(op, a, c);
  check(saved.batch === B && saved.candidates === M, op,
    () => `the forward saw B = ${saved.batch}, M = ${saved.candidates}; anchors ${a.describe()} and candidates ${c.describe()} differ`);
  const dirs = saved.symmetric ? 2 : 1;
  checkOut(op, 'logits', saved.logits, [B, M]);
  checkOut(op, 'lse', saved.lse, [dirs, B]);
  if (saved.labels) {
    check(saved.labels.dtype === 'u32' && sameShape(saved.labels.shape, [M]), op,
      () => `labels ${saved.labels!.describe()} must be u32[${M}]`);
  }
  checkTemperature(op, saved.temperature);
  const grad = opts.gradScale ?? 1;
  check(Number.isFinite(grad), op, () => `gradScale ${grad} must be finite`);
  if (opts.dA) checkOut(op, 'dA', opts.dA, [B, E]);
  if (opts.dC) checkOut(op, 'dC', opts.dC, [M, E]);
  if (opts.dsim) checkOut(op, 'dsim', opts.dsim, [B, M]);
  const dsim = opts.dsim ?? gpu.empty([B, M], 'f32', 'contrastive.dsim');
  gpu.dispatch({
    kernel: 'contrastive', entry: 'con_backward',
    params: conParams(B, M, saved.symmetric, saved.labels !== null, grad, saved.temperature),
    inputs: [saved.logits, saved.labels ?? saved.logits, saved.lse], outputs: [dsim],
    workgroups: grid1d(B * M, 256, gpu),
    label: `${op} anchors ${a.describe()} candidates ${c.describe()} t=${saved.temperature}${saved.symmetric ? ' symmetric' : ''}${saved.labels ? ' masked' : ''}`,
  });
  const dA = matmul(gpu, dsim, c, { out: opts.dA });                 // [B, M] x [M, E]
  const dC = matmul(gpu, dsim, a, { transA: true, out: opts.dC });   // [B, M]^T x [B, E]
  // Reuse of the pooled buffer later in this step is safe: dispatches run in order.
  if (!opts.dsim) dsim.release();
  return { dA, dC };
}

// ------------------------------------------------------------ prefix ops

function checkPrefix(op: string, x: Tensor, d: number): { N: number; E: number } {
  check(x.dtype === 'f32' && x.shape.length === 2, op, () => `x ${x.describe()} must be f32 [N, E]`);
  const [N, E] = x.shape;
  check(Number.isInteger(d) && d >= 1 && d <= E, op, () => `width ${d} must be an integer in [1, ${E}] for x ${x.describe()}`);
  return { N, E };
}

/** y [N, d] = x[:, :d] for x [N, E]. */
export function prefixColumns(gpu: Gpu, x: Tensor, d: number, out?: Tensor): Tensor {
  const op = 'prefixColumns';
  const { N, E } = checkPrefix(op, x, d);
  if (out) checkOut(op, 'y', out, [N, d]);
  const y = out ?? gpu.empty([N, d], 'f32', 'prefix.y');
  gpu.dispatch({
    kernel: 'contrastive', entry: 'prefix_copy', params: params().u32(N, E, d), inputs: [x], outputs: [y],
    workgroups: grid1d(N * d, 256, gpu), label: `${op} ${x.describe()} -> ${d} columns`,
  });
  return y;
}

/** dx[:, :d] += dy for dx [N, E] and dy [N, d], in place (the gradient of prefixColumns). */
export function accumulatePrefix(gpu: Gpu, dx: Tensor, dy: Tensor): Tensor {
  const op = 'accumulatePrefix';
  check(dy.dtype === 'f32' && dy.shape.length === 2, op, () => `dy ${dy.describe()} must be f32 [N, d]`);
  const { N, E } = checkPrefix(op, dx, dy.shape[1]);
  check(dy.shape[0] === N, op, () => `dy ${dy.describe()} must have the ${N} rows of dx ${dx.describe()}`);
  check(dx.buffer !== dy.buffer, op, () => `dx ${dx.describe()} and dy ${dy.describe()} must be different buffers`);
  const d = dy.shape[1];
  gpu.dispatch({
    kernel: 'contrastive', entry: 'prefix_accumulate', params: params().u32(N, E, d), inputs: [dy], outputs: [dx],
    workgroups: grid1d(N * d, 256, gpu), label: `${op} ${dx.describe()} += ${dy.describe()}`,
  });
  return dx;
}

// ------------------------------------------------------------ Matryoshka

export interface MatryoshkaOptions extends ContrastiveOptions {
  /** Nested prefix widths d_1 < d_2 < ... <= E (e.g. 32, 64, 128, E). */
  dims: readonly number[];
  /** w_n per width (finite); default 1 each (sentence-transformers' MatryoshkaLoss). */
  weights?: readonly number[];
}

/** One prefix's saved state: the re-normalised prefixes and that loss's forward. */
export interface MatryoshkaPart {
  dim: number;
  weight: number;
  a: { y: Tensor; norm: Tensor };
  c: { y: Tensor; norm: Tensor };
  fw: ContrastiveForward;
}

export interface MatryoshkaForward {
  /** sum_n w_n L_n, f32 [1]. */
  loss: Tensor;
  parts: MatryoshkaPart[];
  /** The labels tensor shared by the parts, when this call uploaded it (else null). */
  ownLabels: Tensor | null;
  /** Releases every tensor this forward allocated (loss included; not the inputs or given labels). */
  release(): void;
}

/**
 * L = sum_n w_n contrastiveLoss(normalize(a[:, :d_n]), normalize(c[:, :d_n])).
 * Works for raw or normalised a, c: every prefix is re-normalised.
 */
export function matryoshkaContrastiveLoss(gpu: Gpu, a: Tensor, c: Tensor, opts: MatryoshkaOptions): MatryoshkaForward {
  const op = 'matryoshkaContrastiveLoss';
  const { B, M, E } = geometry(op, a, c);
  const dims = opts.dims;
  check(dims.length >= 1, op, () => 'dims must name at least one prefix width');
  dims.forEach((d, n) => {
    check(Number.isInteger(d) && d >= 1 && d <= E, op, () => `dims[${n}] = ${d} must be an integer in [1, ${E}]`);
    check(n === 0 || d > dims[n - 1], op, () => `dims must increase: dims[${n}] = ${d} after ${dims[n - 1]}`);
  });
  const weights = opts.weights ?? dims.map(() => 1);
  check(weights.length === dims.length, op, () => `${weights.length} weights for ${dims.length} dims`);
  weights.forEach((w, n) => check(Number.isFinite(w), op, () => `weights[${n}] = ${w} must be finite`));
  const temperature = opts.temperature ?? CONTRASTIVE_TEMPERATURE;
  checkTemperature(op, temperature);
  const ownLabels = opts.labels !== undefined && !isTensor(opts.labels) ? labelTensor(gpu, op, opts.labels, M) : null;
  const labels = ownLabels ?? (opts.labels as Tensor<'u32'> | undefined);

  const loss = gpu.zeros([1], 'f32', 'matryoshka.loss');
  const parts = dims.map((dim, n): MatryoshkaPart => {
    const ax = prefixColumns(gpu, a, dim);
    const cx = prefixColumns(gpu, c, dim);
    const an = l2norm(gpu, ax), cn = l2norm(gpu, cx);
    ax.release();
    cx.release();
    const fw = contrastiveLoss(gpu, an.y, cn.y, { temperature, symmetric: opts.symmetric, labels });
    accumulate(gpu, loss, fw.loss, weights[n]);
    return { dim, weight: weights[n], a: an, c: cn, fw };
  });
  let released = false;
  return {
    loss, parts, ownLabels,
    release() {
      if (released) return;
      released = true;
      loss.release();
      for (const p of parts) {
        for (const t of [p.a.y, p.a.norm, p.c.y, p.c.norm, p.fw.loss, p.fw.losses, p.fw.lse, p.fw.logits]) t.release();
      }
      ownLabels?.release();
    },
  };
}

/** dA [B, E] and dC [M, E]: the gradients of gradScale * sum_n w_n L_n. */
export function matryoshkaContrastiveLossBackward(gpu: Gpu, a: Tensor, c: Tensor, saved: MatryoshkaForward,
  opts: { gradScale?: number; dA?: Tensor; dC?: Tensor } = {}): { dA: Tensor; dC: Tensor } {
  const op = 'matryoshkaContrastiveLossBackward';
  const { B, M, E } = geometry(op, a, c);
  const grad = opts.gradScale ?? 1;
  check(Number.isFinite(grad), op, () => `gradScale ${grad} must be finite`);
  if (opts.dA) checkOut(op, 'dA', opts.dA, [B, E]);
  if (opts.dC) checkOut(op, 'dC', opts.dC, [M, E]);
  for (const p of saved.parts) {
    check(p.dim <= E && sameShape(p.a.y.shape, [B, p.dim]) && sameShape(p.c.y.shape, [M, p.dim]), op,
      () => `the forward's ${p.dim}-wide prefixes ${p.a.y.describe()}, ${p.c.y.describe()} do not fit anchors ${a.describe()} and candidates ${c.describe()}`);
  }
  const dA = opts.dA ?? gpu.empty([B, E], 'f32', 'matryoshka.dA');
  const dC = opts.dC ?? gpu.empty([M, E], 'f32', 'matryoshka.dC');
  gpu.fill(dA, 0);
  gpu.fill(dC, 0);
  for (const p of saved.parts) {
    const g = contrastiveLossBackward(gpu, p.a.y, p.c.y, p.fw, { gradScale: grad * p.weight });
    const da = l2normBackward(gpu, p.a.y, p.a.norm, g.dA, L2NORM_EPS);
    const dc = l2normBackward(gpu, p.c.y, p.c.norm, g.dC, L2NORM_EPS);
    accumulatePrefix(gpu, dA, da);
    accumulatePrefix(gpu, dC, dc);
    for (const t of [g.dA, g.dC, da, dc]) t.release();
  }
  return { dA, dC };
}
