// Typed wrapper for kernels/matmul.wgsl: C = alpha * op(A) op(B) + beta * C,
// batched, with the version and register tile chosen by shape.
//
// matmul(gpu, a, b, opts): a is [..., M, K] ([..., K, M] when transA), b is
// [..., K, N] ([..., N, K] when transB). Batch dims of a and b must match, or
// one side is a plain matrix shared by the whole batch. The gradient of
// C = A B is dA = dC B^T and dB = A^T dC: the same op with transposes (see
// matmulBackward), accumulating into existing gradients with beta = 1.
import { grid1d, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { MatmulLayout } from '../../reference/matmul.ts';

export type MatmulVersion = 'naive' | 'regblock' | 'regblock4' | 'regblock_sg' | 'regblock_sg_n4';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** Weight of the existing C; needs `out`. Default 0 (C is not read). */
  beta?: number;
  /** Where to write C (required when beta != 0). */
  out?: Tensor;
  /** Force a version (benchmarks and tests); default: chosen by shape. */
  version?: MatmulVersion;
  /** Force the register tile of regblock / regblock4. */
  tile?: { TM: number; TN: number };
  /** Force the number of split-K chunks (1 = no split; not for naive). */
  splits?: number;
}

/** Low-level strided form: every layout number given explicitly (the reference's layout). */
export type MatmulStrided = MatmulLayout;

export interface MatmulPlan {
  version: MatmulVersion;
  TM: number;
  TN: number;
  LANES: number;
  /** Split-K chunks (1: none) and the k length of each. */
  splits: number;
  kChunk: number;
}

const nextPow2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

/** What the planner needs to know about the device. */
export interface MatmulDevice {
  /** A CPU implementation (lavapipe): a workgroup of 8 is one SIMD vector. */
  cpu: boolean;
  /** The fixed subgroup size, when the device has `subgroups` (Gpu.subgroupSize). */
  subgroupSize: number | null;
}

/** The planner's view of a Gpu. */
export function matmulDevice(gpu: Gpu): MatmulDevice {
  return { cpu: gpu.isCpuAdapter, subgroupSize: gpu.subgroupSize };
}

/**
 * The register tile of the register-blocked kernels (matmul's and LoRA's) for
 * C [M, N]: 16 x 8, shrunk to the next power of two that covers a small M or
 * N / LANES; or, `tall`, 32 x 4 (see planMatmul). A subgroup kernel's TM is
 * at least its LANES (each lane loads TM / LANES rows). `force` wins.
 */
export function registerTile(M: number, N: number, LANES: number, o: { tall: boolean; subgroup: boolean; force?: { TM?: number; TN?: number } }): { TM: number; TN: number } {
  const TM = o.force?.TM ?? (o.tall ? 32 : Math.min(16, nextPow2(M)));
  return {
    TM: o.subgroup ? Math.max(LANES, TM) : TM,
    TN: o.force?.TN ?? Math.min(o.tall ? 4 : 8, nextPow2(Math.ceil(N / LANES))),
  };
}

/** Refuses a subgroup kernel on a device whose subgroup is not its LANES, or a TM that is not a multiple of them. */
export function checkSubgroupTile(gpu: Gpu, op: string, what: string, LANES: number, TM: number): void {
  check(gpu.subgroupSize === LANES && TM % LANES === 0, op,
    () => `${what} needs a fixed subgroup size of ${LANES} (this device: ${gpu.subgroupSize ?? 'none or variable'}) and TM a multiple of it (TM ${TM})`);
}

/** regblock_sg_n4 loads B as vec4 along n: B not transposed and f32, N, ldb, B's batch stride and size whole vec4s. */
function n4Fits(L: MatmulStrided, sizes: { b: number; bHalf?: boolean }): boolean {
  return !L.transB && !sizes.bHalf && [L.N, L.ldb, L.strideB, sizes.b].every((x) => x % 4 === 0);
}

/**
 * The version and register tile for a shape (see the kernel headers for why).
 *
 * On a CPU adapter (lavapipe) a workgroup is one 8-lane SIMD vector. There
 * regblock_sg (A's loads shared through subgroup shuffles) is the fastest
 * when the subgroup is those 8 lanes. Under Dawn on lavapipe, regblock4 was
 * slower than the scalar regblock at every shape we measured, because a
 * per-lane vec4 load becomes four gathers. But the CPU adapters that lack
 * 8-lane subgroups (Deno's wgpu on lavapipe, Chromium's SwiftShader) run
 * regblock4 1.2-2.1x faster than regblock, so they get it (bench/NOTES.md
 * items 9 and 15). On a GPU, 8-invocation
 * workgroups would leave most of a warp idle, so it gets 64 lanes and vec4
 * loads where the layout allows; those GPU choices are not yet measured.
 */
export function planMatmul(L: MatmulStrided, sizes: { a: number; b: number; bHalf?: boolean }, dev: MatmulDevice, force?: MatmulOptions): MatmulPlan {
  const LANES = dev.cpu ? 8 : 64;
  // regblock_sg with a transposed operand: a 32 x 4 tile (4 + 4 loads per
  // k-step for the same 128 accumulators as 16 x 8's 2 + 8, and half the B
  // rows per workgroup, which keeps a long K in cache) measured 9-25% faster
  // at the decoder's x W^T and dY^T X shapes; even on plain products (NOTES).
  const tall = (version: MatmulVersion) => version === 'regblock_sg' && !force?.tile && L.M >= 32 && (L.transA || L.transB);
  const tile = (version: MatmulVersion) =>
    registerTile(L.M, L.N, LANES, { tall: tall(version), subgroup: version.startsWith('regblock_sg'), force: force?.tile });
  const plan = (version: MatmulVersion): MatmulPlan => {
    const { TM, TN } = tile(version);
    const tiles = Math.ceil(L.N / (LANES * TN)) * Math.ceil(L.M / TM) * L.batch;
    const splits = version === 'naive' ? 1 : force?.splits ?? splitK(tiles, L.K, dev.cpu);
    // Chunks are a multiple of 4 (regblock4 steps k by 4); the last may be shorter.
    const kChunk = splits > 1 ? 4 * Math.ceil(L.K / splits / 4) : L.K;
    return { version, TM, TN, LANES, splits: splits > 1 ? Math.ceil(L.K / kChunk) : 1, kChunk };
  };
  if (force?.version) return plan(force.version);
  if (L.M * L.N * L.K <= 16 * 16 * 16) return plan('naive');
  // regblock_sg_n4 also wants whole vec4s of columns per lane (TN % 4) and N >= 2 * 4 * LANES.
  const n4 = n4Fits(L, sizes) && L.N >= 8 * LANES && tile('regblock_sg_n4').TN % 4 === 0;
  if (dev.cpu && dev.subgroupSize === LANES) return plan(n4 ? 'regblock_sg_n4' : 'regblock_sg');
  // Without 8-lane subgroups: vec4 loads where the layout allows. On the CPU
  // adapters that get here, they measured 1.2-2.1x faster than scalar
  // regblock (512³ and the tiny decoder's shapes: Deno's wgpu on lavapipe,
  // Chromium's SwiftShader with subgroups of 4; bench/NOTES.md item 15).
  const vec4 = !sizes.bHalf && [L.K, L.lda, L.ldb, L.strideA, L.strideB, sizes.a, sizes.b].every((x) => x % 4 === 0);
  return plan(vec4 ? 'regblock4' : 'regblock');
}

/**
 * Split-K chunks for a product with `tiles` register tiles and inner length
 * K: enough to give the device MIN_GROUPS workgroups (a CPU adapter runs a few
 * per core; a GPU needs many per multiprocessor), each chunk at least
 * MIN_CHUNK long so the extra pass over the partials stays small.
 */
function splitK(tiles: number, K: number, cpu: boolean): number {
  const MIN_GROUPS = cpu ? 8 : 256;
  const MIN_CHUNK = 256;
  if (tiles >= MIN_GROUPS || K < 2 * MIN_CHUNK) return 1;
  return Math.min(Math.ceil(MIN_GROUPS / tiles), Math.floor(K / MIN_CHUNK), 64);
}

export function matmul(gpu: Gpu, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const op = 'matmul';
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  check(a.dtype === 'f32' && (b.dtype === 'f32' || b.dtype === 'f16'), op, () => `A ${a.describe()} must be f32 and B ${b.describe()} f32 or f16`);
  check(a.shape.length >= 2 && b.shape.length >= 2, op, () => `A ${a.describe()} and B ${b.describe()} must be at least 2-D`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transB ? [bc, br] : [br, bc];
  const what = () => `A ${a.describe()}${transA ? '^T' : ''} x B ${b.describe()}${transB ? '^T' : ''}`;
  check(K === Kb, op, () => `inner dimensions differ: ${what()} (K ${K} vs ${Kb})`);

  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batchDims = batchA.length >= batchB.length ? batchA : batchB;
  const sameBatch = batchA.length === batchB.length && batchA.every((d, i) => d === batchB[i]);
  check(sameBatch || batchA.length === 0 || batchB.length === 0, op,
    () => `batch dimensions ${fmtShape(batchA)} and ${fmtShape(batchB)} differ: ${what()}`);
  const batch = batchDims.reduce((x, y) => x * y, 1);
  const outShape = [...batchDims, M, N];

  const beta = opts.beta ?? 0;
  check(beta === 0 || opts.out !== undefined, op, () => `beta = ${beta} needs an existing C (opts.out)`);
  const out = opts.out ?? gpu.empty(outShape, 'f32', 'matmul.C');
  check(out.dtype === 'f32' && out.size === batch * M * N, op,
    () => `C ${out.describe()} must be f32 ${fmtShape(outShape)} for ${what()}`);

  matmulStrided(gpu, a, b, out, {
    M, N, K, batch, transA, transB,
    lda: ac, ldb: bc, ldc: N,
    strideA: batchA.length === 0 ? 0 : M * K,
    strideB: batchB.length === 0 ? 0 : K * N,
    strideC: M * N,
    alpha: opts.alpha ?? 1,
    beta,
  }, opts);
  return out;
}

/** Records C = alpha op(A) op(B) + beta C with an explicit layout (bounds are checked). */
export function matmulStrided(gpu: Gpu, a: Tensor, b: Tensor, c: Tensor, L: MatmulStrided, force?: MatmulOptions): void {
  const op = 'matmul';
  const { M, N, K, batch } = L;
  const last = (stride: number, rows: number, ld: number, cols: number) =>
    rows === 0 || cols === 0 || batch === 0 ? -1 : (batch - 1) * stride + (rows - 1) * ld + cols - 1;
  const needA = L.transA ? last(L.strideA, K, L.lda, M) : last(L.strideA, M, L.lda, K);
  const needB = L.transB ? last(L.strideB, N, L.ldb, K) : last(L.strideB, K, L.ldb, N);
  const needC = last(L.strideC, M, L.ldc, N);
  const layout = () => `M ${M} N ${N} K ${K} batch ${batch} lda ${L.lda} ldb ${L.ldb} ldc ${L.ldc}`;
  check(needA < a.size && needB < b.size && needC < c.size, op,
    () => `layout (${layout()}) reads past A ${a.describe()}, B ${b.describe()} or C ${c.describe()}`);
  check(L.lda >= (L.transA ? M : K) && L.ldb >= (L.transB ? K : N) && L.ldc >= N, op,
    () => `leading dimensions too small for the matrices (${layout()})`);

  const half = b.dtype === 'f16';
  const plan = planMatmul(L, { a: a.size, b: b.size, bHalf: half }, matmulDevice(gpu), force);
  check(a.dtype === 'f32' && (b.dtype === 'f32' || half) && c.dtype === 'f32' && !(half && plan.version === 'regblock4'), op,
    () => `A ${a.describe()} and C ${c.describe()} must be f32, B ${b.describe()} f32 or f16 (f16 B: not with regblock4)`);
  if (plan.version.startsWith('regblock_sg')) checkSubgroupTile(gpu, op, plan.version, plan.LANES, plan.TM);
  if (plan.version === 'regblock_sg_n4') {
    check(n4Fits(L, { b: b.size, bHalf: half }) && plan.TN % 4 === 0, op,
      () => `regblock_sg_n4 needs B not transposed and f32, N, ldb, B's batch stride and size multiples of 4, and TN a multiple of 4 (${layout()}, TN ${plan.TN})`);
  }
  check(Number.isInteger(plan.splits) && plan.splits >= 1 && (plan.splits === 1 || plan.version !== 'naive'), op,
    () => `split-K needs a positive integer count and a regblock version (got ${plan.splits} for ${plan.version})`);
  const split = plan.splits > 1;
  const label = `matmul ${plan.version}${split ? ` split-K ${plan.splits}` : ''} A ${a.describe()}${L.transA ? '^T' : ''} B ${b.describe()}${L.transB ? '^T' : ''} C ${c.describe()} (${layout()})`;
  const workgroups: [number, number, number] =
    plan.version === 'naive'
      ? [Math.ceil(N / 8), Math.ceil(M / 8), batch]
      : [Math.ceil(N / (plan.LANES * plan.TN)), Math.ceil(M / plan.TM), batch * plan.splits];
  const constants: Record<string, number | boolean | string> = { TRANS_A: L.transA, TRANS_B: L.transB };
  if (half) constants.BT = 'f16'; // B loads convert half to f32 (kernels/lib/matmul_common.wgsl)
  if (plan.version !== 'naive') Object.assign(constants, { TM: plan.TM, TN: plan.TN, LANES: plan.LANES });
  // With split-K the tiles write raw partial sums into P [splits * batch, M, N].
  const partials = split ? gpu.empty([plan.splits * batch, M, N], 'f32', 'matmul.splitK') : null;
  const [ldc, strideC, alpha, beta] = partials ? [N, M * N, 1, 0] : [L.ldc, L.strideC, L.alpha, L.beta];
  gpu.dispatch({
    kernel: plan.version.startsWith('regblock_sg') ? 'matmul_subgroup' : 'matmul',
    entry: plan.version,
    constants,
    params: params().u32(M, N, K, L.lda, L.ldb, ldc, L.strideA, L.strideB, strideC).f32(alpha, beta).u32(batch, plan.kChunk),
    inputs: [a, b],
    outputs: [partials ?? c],
    workgroups: K === 0 && L.beta === 1 ? [0] : workgroups,
    label,
  });
  if (partials) {
    gpu.dispatch({
      kernel: 'matmul',
      entry: 'matmul_reduce_splits',
      params: params().u32(M, N, batch, plan.splits, L.ldc, L.strideC).f32(L.alpha, L.beta),
      inputs: [partials],
      outputs: [c],
      workgroups: grid1d(batch * M * N, 256, gpu),
      label: `${label}: sum of the ${plan.splits} partials`,
    });
    partials.release(); // the pool reuses it only after the work recorded so far
  }
}

/**
 * Gradients of C = op(A) op(B) for dense, unbatched or equally batched A, B.
 * Writes (or, with accumulate, adds to) dA and dB; either may be skipped.
 */
export function matmulBackward(
  gpu: Gpu,
  a: Tensor,
  b: Tensor,
  dC: Tensor,
  opts: { transA?: boolean; transB?: boolean; dA?: Tensor | null; dB?: Tensor | null; accumulate?: boolean; skipA?: boolean; skipB?: boolean } = {},
): { dA: Tensor | null; dB: Tensor | null } {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const beta = opts.accumulate ? 1 : 0;
  let dA: Tensor | null = null;
  let dB: Tensor | null = null;
  if (!opts.skipA) {
    // op(A) = dC op(B)^T; when A itself is stored transposed, A = op(B) dC^T.
    dA = transA
      ? matmul(gpu, b, dC, { transA: transB, transB: true, beta, out: opts.dA ?? undefined })
      : matmul(gpu, dC, b, { transA: false, transB: !transB, beta, out: opts.dA ?? undefined });
  }
  if (!opts.skipB) {
    // op(B) = op(A)^T dC; when B is stored transposed, B = dC^T op(A).
    dB = transB
      ? matmul(gpu, dC, a, { transA: true, transB: transA, beta, out: opts.dB ?? undefined })
      : matmul(gpu, a, dC, { transA: !transA, transB: false, beta, out: opts.dB ?? undefined });
  }
  return { dA, dB };
}
