// Typed wrappers for kernels/attention.wgsl: scaled dot-product attention over
// q [B, T, H, D], k and v [B, T, Hkv, D] (grouped-query when Hkv < H), with an
// optional key padding mask [B, T] (i32, nonzero = valid) and a causal mask.
//
//   attention          fused forward: o [B, T, H, D] and lse [B, H, T] (saved for backward)
//   attentionBackward  fused backward: dq, dk, dv from dO, o, lse (3 dispatches, deterministic)
//   attentionUnfused   the textbook path for comparison: scores = scale q k^T (matmul),
//                      softmax with an additive bias, o = P v (matmul); keeps P
//   attentionUnfusedBackward  its backward from the saved P
//
// A query with no allowed key gets o = 0, lse = LSE_EMPTY (-3e38) and zero gradients.
import { grid1d, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { matmulStrided } from './matmul.ts';
import { softmax, softmaxBackward } from './softmax.ts';

export { LSE_EMPTY } from '../../reference/attention.ts';

/** Rows per lane R and keys (or queries) per inner block TK of one fused entry point. */
export interface AttentionTile {
  LANES: number;
  R: number;
  TK: number;
  /**
   * Share the block's K / V (q / dO) loads through subgroup shuffles; default:
   * when the device's fixed subgroup size equals LANES and TK (lavapipe: 8).
   */
  subgroups?: boolean;
}

export interface AttentionPlan {
  forward: AttentionTile;
  dq: AttentionTile;
  dkdv: AttentionTile;
}

/**
 * Tiles per entry point. A workgroup covers LANES * R rows (lane l owns rows
 * r * LANES + l). On a CPU adapter (lavapipe) a workgroup is one 8-lane SIMD
 * vector and every storage load costs about as much as 2-3 FMAs whether or not
 * its address is uniform, so each lane keeps R rows and uses every K / V (or
 * q / dO) element it loads R times. Measured on lavapipe (causal, T = 1024,
 * H = 9, D = 64; see the kernel header): forward R = 1, 2, 4, 8, 16 at TK = 8
 * took about 700, 215, 145, 105, 90 ms, and R * TK = 256 (R = 32 or TK = 16
 * with R = 16) fell back to ~190-390 ms (the score tiles spill); the backward
 * kernels, which hold 3-4 D-vectors per row, were fastest at R = 8, TK = 8.
 * On a GPU private arrays of R * D floats would spill, so one row per
 * invocation and 64 invocations per workgroup (not measured).
 */
export function planAttention(cpu: boolean, T = Infinity): AttentionPlan {
  if (!cpu) {
    const t = { LANES: 64, R: 1, TK: 8 };
    return { forward: t, dq: t, dkdv: t };
  }
  // A workgroup covers 8 R rows: for a short sequence (embedding inputs are
  // 10-30 tokens) fewer rows per lane, so lanes do not compute clamped copies
  // of the last row. Powers of two keep the pipeline count small.
  // Measured on lavapipe: at T 64 the forward's R = 16 (half of the rows
  // clamped) was still as fast as R = 8, so R only shrinks below half a tile.
  const r = (max: number) => (T >= 4 * max ? max : Math.min(max, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(T / 8))))));
  return { forward: { LANES: 8, R: r(16), TK: 8 }, dq: { LANES: 8, R: r(8), TK: 8 }, dkdv: { LANES: 8, R: r(8), TK: 8 } };
}

/** The stats pass: one row per invocation, 8 per workgroup. */
const STATS_LANES = 8;

export interface AttentionOptions {
  /** Override the tiles (benchmarks, tests); default planAttention(gpu.isCpuAdapter). */
  plan?: Partial<AttentionPlan>;
  /** Key padding mask, i32 (or u32) [B, T]: nonzero = the key may be attended. Default: all valid. */
  mask?: Tensor;
  /** Query t attends keys s <= t only. Default true. */
  causal?: boolean;
  /** Score scale; default 1 / sqrt(D). */
  scale?: number;
}

export interface AttentionForwardOptions extends AttentionOptions {
  /** Output o, f32 [B, T, H, D]. */
  out?: Tensor<'f32'>;
  /** Output lse, f32 [B, H, T]. */
  lse?: Tensor<'f32'>;
}

export interface AttentionBackwardOptions extends AttentionOptions {
  dq?: Tensor<'f32'>;
  dk?: Tensor<'f32'>;
  dv?: Tensor<'f32'>;
}

interface Dims {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  causal: boolean;
  scale: number;
  mask: Tensor | undefined;
  what: string;
  plan: AttentionPlan;
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function dims(gpu: Gpu, op: string, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Dims {
  const what = `q ${q.describe()}, k ${k.describe()}, v ${v.describe()}`;
  check(q.dtype === 'f32' && k.dtype === 'f32' && v.dtype === 'f32', op, () => `${what} must be f32`);
  check(q.shape.length === 4 && k.shape.length === 4, op, () => `q must be [B, T, H, D] and k, v [B, T, Hkv, D]: ${what}`);
  const [B, T, H, D] = q.shape;
  const Hkv = k.shape[2];
  check(k.shape[0] === B && k.shape[1] === T && k.shape[3] === D, op,
    () => `k must be [B, T, Hkv, D] = [${B}, ${T}, Hkv, ${D}] like q: ${what}`);
  check(same(v.shape, k.shape), op, () => `v must have k's shape ${fmtShape(k.shape)}: ${what}`);
  check(Hkv > 0 && H % Hkv === 0, op, () => `H = ${H} must be a multiple of Hkv = ${Hkv}: ${what}`);
  check(D > 0, op, () => `head dim D must be positive: ${what}`);
  const mask = opts.mask;
  if (mask) {
    check((mask.dtype === 'i32' || mask.dtype === 'u32') && same(mask.shape, [B, T]), op,
      () => `mask ${mask.describe()} must be i32 [B, T] = [${B}, ${T}] for ${what}`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  check(Number.isFinite(scale), op, () => `scale ${scale} must be finite`);
  const maxGroups = gpu.limits.maxComputeWorkgroupsPerDimension;
  check(Math.ceil(T / STATS_LANES) <= maxGroups && H <= maxGroups && B <= maxGroups, op,
    () => `grid [${H}, ${Math.ceil(T / STATS_LANES)}, ${B}] exceeds maxComputeWorkgroupsPerDimension ${maxGroups}: ${what}`);
  const plan = { ...planAttention(gpu.isCpuAdapter, T), ...opts.plan };
  return { B, T, H, Hkv, D, causal: opts.causal ?? true, scale, mask, what, plan };
}

function output(gpu: Gpu, op: string, name: string, t: Tensor<'f32'> | undefined, shape: number[], label: string): Tensor<'f32'> {
  if (!t) return gpu.empty(shape, 'f32', label);
  check(t.dtype === 'f32' && same(t.shape, shape), op, () => `${name} ${t.describe()} must be f32 ${fmtShape(shape)}`);
  return t;
}

function constants(gpu: Gpu, d: Dims, t: AttentionTile) {
  const fits = gpu.subgroupSize === t.LANES && t.TK === t.LANES;
  const SUBGROUPS = t.subgroups ?? fits;
  check(!SUBGROUPS || fits, 'attention', () => `subgroup loads need TK == LANES == the device's fixed subgroup size (TK ${t.TK}, LANES ${t.LANES}, subgroup ${gpu.subgroupSize ?? 'none or variable'})`);
  return { D: d.D, LANES: t.LANES, R: t.R, TK: t.TK, SUBGROUPS };
}

/** [heads, row blocks, B] for a tile covering LANES * R rows. */
function grid(d: Dims, heads: number, t: AttentionTile): [number, number, number] {
  return [heads, Math.ceil(d.T / (t.LANES * t.R)), d.B];
}

function fusedParams(d: Dims) {
  return params().u32(d.B, d.T, d.H, d.Hkv, d.causal ? 1 : 0, d.mask ? 1 : 0).f32(d.scale).u32(d.D);
}

function describeMode(d: Dims): string {
  return `${d.causal ? 'causal' : 'bidirectional'}${d.mask ? ` mask ${d.mask.describe()}` : ''} scale ${d.scale}`;
}

/**
 * Fused forward: o = softmax(scale q k^T + masks) v per head, and the row
 * log-sum-exp lse [B, H, T] for the backward. One dispatch.
 */
export function attention(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, opts: AttentionForwardOptions = {}): { o: Tensor<'f32'>; lse: Tensor<'f32'> } {
  const op = 'attention';
  const d = dims(gpu, op, q, k, v, opts);
  const o = output(gpu, op, 'out', opts.out, [d.B, d.T, d.H, d.D], 'attention.o');
  const lse = output(gpu, op, 'lse', opts.lse, [d.B, d.H, d.T], 'attention.lse');
  gpu.dispatch({
    kernel: 'attention',
    entry: 'attention_forward',
    constants: constants(gpu, d, d.plan.forward),
    params: fusedParams(d),
    // Without a mask the kernel never reads binding 4; q stands in for it.
    inputs: [q, k, v, d.mask ?? q],
    outputs: [o, lse],
    workgroups: grid(d, d.H, d.plan.forward),
    label: `${op} ${d.what} ${describeMode(d)} -> ${o.describe()}, ${lse.describe()}`,
  });
  return { o, lse };
}

/**
 * Fused backward of attention(): dq [B, T, H, D], dk and dv [B, T, Hkv, D]
 * from dO, and the forward's o and lse. Three dispatches: row stats
 * (lse, dO . o), dq (keys looped per query row), dk/dv (queries of the G heads
 * looped per key row).
 */
export function attentionBackward(
  gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor, dO: Tensor, opts: AttentionBackwardOptions = {},
): { dq: Tensor<'f32'>; dk: Tensor<'f32'>; dv: Tensor<'f32'> } {
  const op = 'attentionBackward';
  const d = dims(gpu, op, q, k, v, opts);
  check(o.dtype === 'f32' && same(o.shape, q.shape) && dO.dtype === 'f32' && same(dO.shape, q.shape), op,
    () => `o ${o.describe()} and dO ${dO.describe()} must be f32 ${fmtShape(q.shape)} like q`);
  check(lse.dtype === 'f32' && same(lse.shape, [d.B, d.H, d.T]), op,
    () => `lse ${lse.describe()} must be f32 [B, H, T] = ${fmtShape([d.B, d.H, d.T])}`);
  const dq = output(gpu, op, 'dq', opts.dq, [d.B, d.T, d.H, d.D], 'attention.dq');
  const dk = output(gpu, op, 'dk', opts.dk, [d.B, d.T, d.Hkv, d.D], 'attention.dk');
  const dv = output(gpu, op, 'dv', opts.dv, [d.B, d.T, d.Hkv, d.D], 'attention.dv');
  const mode = describeMode(d);
  const stats = gpu.empty([d.B, d.H, d.T, 2], 'f32', 'attention.stats');
  gpu.dispatch({
    kernel: 'attention',
    entry: 'attention_stats',
    constants: { D: d.D, LANES: STATS_LANES },
    params: fusedParams(d),
    inputs: [o, dO, lse],
    outputs: [stats],
    workgroups: [d.H, Math.ceil(d.T / STATS_LANES), d.B],
    label: `${op} stats o ${o.describe()} dO ${dO.describe()} lse ${lse.describe()}`,
  });
  const inputs = [q, k, v, d.mask ?? q, dO, stats];
  gpu.dispatch({
    kernel: 'attention',
    entry: 'attention_backward_dq',
    constants: constants(gpu, d, d.plan.dq),
    params: fusedParams(d),
    inputs,
    outputs: [dq],
    workgroups: grid(d, d.H, d.plan.dq),
    label: `${op} dq ${d.what} ${mode} -> ${dq.describe()}`,
  });
  gpu.dispatch({
    kernel: 'attention',
    entry: 'attention_backward_dkdv',
    constants: constants(gpu, d, d.plan.dkdv),
    params: fusedParams(d),
    inputs,
    outputs: [dk, dv],
    workgroups: grid(d, d.Hkv, d.plan.dkdv),
    label: `${op} dk dv ${d.what} ${mode} -> ${dk.describe()}, ${dv.describe()}`,
  });
  stats.release(); // back to the pool; reused only by dispatches recorded later
  return { dq, dk, dv };
}

// ------------------------------------------------------------- unfused path

function layoutParams(n: number, d: Dims, H: number, HX: number) {
  return params().u32(n, d.B, d.T, H, HX, d.D, d.causal ? 1 : 0, d.mask ? 1 : 0);
}

/** [B, T, HX, D] -> [B, H, T, D], kv head h / (H / HX) repeated for query head h. */
function splitHeads(gpu: Gpu, x: Tensor, d: Dims, label: string): Tensor {
  const HX = x.shape[2];
  const y = gpu.empty([d.B, d.H, d.T, d.D], 'f32', label);
  gpu.dispatch({
    kernel: 'attention',
    entry: 'attention_split_heads',
    params: layoutParams(y.size, d, d.H, HX),
    inputs: [x],
    outputs: [y],
    workgroups: grid1d(y.size, 64, gpu),
    label: `attention split heads ${x.describe()} -> ${y.describe()}`,
  });
  return y;
}

/** [B, H, T, D] -> [B, T, HX, D], summing the H / HX heads of each group. */
function mergeHeads(gpu: Gpu, x: Tensor, d: Dims, HX: number, out: Tensor<'f32'>): Tensor<'f32'> {
  gpu.dispatch({
    kernel: 'attention',
    entry: 'attention_merge_heads',
    params: layoutParams(out.size, d, d.H, HX),
    inputs: [x],
    outputs: [out],
    workgroups: grid1d(out.size, 64, gpu),
    label: `attention merge heads ${x.describe()} -> ${out.describe()}`,
  });
  return out;
}

/** Batched [B*H] matmul over [T, *] head matrices. */
function headMatmul(gpu: Gpu, a: Tensor, b: Tensor, c: Tensor, d: Dims, s: { M: number; N: number; K: number; transA: boolean; transB: boolean; alpha: number }): void {
  matmulStrided(gpu, a, b, c, {
    ...s,
    batch: d.B * d.H,
    lda: s.transA ? s.M : s.K,
    ldb: s.transB ? s.K : s.N,
    ldc: s.N,
    strideA: s.M * s.K,
    strideB: s.K * s.N,
    strideC: s.M * s.N,
    beta: 0,
  });
}

/**
 * Additive bias [Rm, T] for the scores [B*H*T, T]: 0 where allowed, -3e38
 * where masked. Row r of the scores uses bias row r % Rm, so one batch needs
 * only [T, T]; several batches with a mask need every row.
 */
function attentionBias(gpu: Gpu, d: Dims, standIn: Tensor): Tensor {
  const rows = d.B === 1 || !d.mask ? d.T : d.B * d.H * d.T;
  const bias = gpu.empty([rows, d.T], 'f32', 'attention.bias');
  gpu.dispatch({
    kernel: 'attention',
    entry: 'attention_bias',
    params: layoutParams(bias.size, d, d.H, d.Hkv),
    inputs: [d.mask ?? standIn], // not read without a mask
    outputs: [bias],
    workgroups: grid1d(bias.size, 64, gpu),
    label: `attention bias ${d.mask ? d.mask.describe() : 'no mask'} ${d.causal ? 'causal' : 'bidirectional'} -> ${bias.describe()}`,
  });
  return bias;
}

export interface UnfusedResult {
  o: Tensor<'f32'>;
  /** Probabilities P [B, H, T, T] (for attentionUnfusedBackward). */
  probs: Tensor<'f32'>;
}

/**
 * The unfused forward: heads split to [B, H, T, D] (kv heads repeated),
 * scores = scale q k^T [B*H, T, T] (matmul), P = softmax(scores + bias)
 * (softmax), o = P v (matmul), heads merged back to [B, T, H, D].
 */
export function attentionUnfused(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions & { out?: Tensor<'f32'> } = {}): UnfusedResult {
  const op = 'attentionUnfused';
  const d = dims(gpu, op, q, k, v, opts);
  const o = output(gpu, op, 'out', opts.out, [d.B, d.T, d.H, d.D], 'attention.o');
  const { T, D } = d;
  const qh = splitHeads(gpu, q, d, 'attention.qh');
  const kh = splitHeads(gpu, k, d, 'attention.kh');
  const vh = splitHeads(gpu, v, d, 'attention.vh');
  const scores = gpu.empty([d.B, d.H, T, T], 'f32', 'attention.scores');
  headMatmul(gpu, qh, kh, scores, d, { M: T, N: T, K: D, transA: false, transB: true, alpha: d.scale });
  const bias = attentionBias(gpu, d, q);
  const probs = softmax(gpu, scores, { mask: bias });
  const oh = gpu.empty([d.B, d.H, T, D], 'f32', 'attention.oh');
  headMatmul(gpu, probs, vh, oh, d, { M: T, N: D, K: T, transA: false, transB: false, alpha: 1 });
  mergeHeads(gpu, oh, d, d.H, o);
  for (const t of [qh, kh, vh, scores, bias, oh]) t.release();
  return { o, probs };
}

/**
 * Backward of attentionUnfused from its P: dP = dO v^T, dS = softmax'(P, dP),
 * dq = scale dS k, dk = scale dS^T q, dv = P^T dO (all per head, matmul), then
 * dk, dv summed over the heads of each kv group.
 */
export function attentionUnfusedBackward(
  gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, probs: Tensor, dO: Tensor, opts: AttentionBackwardOptions = {},
): { dq: Tensor<'f32'>; dk: Tensor<'f32'>; dv: Tensor<'f32'> } {
  const op = 'attentionUnfusedBackward';
  const d = dims(gpu, op, q, k, v, opts);
  const { B, T, H, Hkv, D } = d;
  check(probs.dtype === 'f32' && same(probs.shape, [B, H, T, T]), op,
    () => `probs ${probs.describe()} must be f32 ${fmtShape([B, H, T, T])}`);
  check(dO.dtype === 'f32' && same(dO.shape, q.shape), op, () => `dO ${dO.describe()} must be f32 ${fmtShape(q.shape)} like q`);
  const dq = output(gpu, op, 'dq', opts.dq, [B, T, H, D], 'attention.dq');
  const dk = output(gpu, op, 'dk', opts.dk, [B, T, Hkv, D], 'attention.dk');
  const dv = output(gpu, op, 'dv', opts.dv, [B, T, Hkv, D], 'attention.dv');
  const qh = splitHeads(gpu, q, d, 'attention.qh');
  const kh = splitHeads(gpu, k, d, 'attention.kh');
  const vh = splitHeads(gpu, v, d, 'attention.vh');
  const doh = splitHeads(gpu, dO, d, 'attention.doh');
  const dp = gpu.empty([B, H, T, T], 'f32', 'attention.dprobs');
  headMatmul(gpu, doh, vh, dp, d, { M: T, N: T, K: D, transA: false, transB: true, alpha: 1 });
  const ds = softmaxBackward(gpu, probs, dp);
  const g = gpu.empty([B, H, T, D], 'f32', 'attention.dh');
  headMatmul(gpu, ds, kh, g, d, { M: T, N: D, K: T, transA: false, transB: false, alpha: d.scale });
  mergeHeads(gpu, g, d, H, dq);
  headMatmul(gpu, ds, qh, g, d, { M: T, N: D, K: T, transA: true, transB: false, alpha: d.scale });
  mergeHeads(gpu, g, d, Hkv, dk);
  headMatmul(gpu, probs, doh, g, d, { M: T, N: D, K: T, transA: true, transB: false, alpha: 1 });
  mergeHeads(gpu, g, d, Hkv, dv);
  for (const t of [qh, kh, vh, doh, dp, ds, g]) t.release();
  return { dq, dk, dv };
}
