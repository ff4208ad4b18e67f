// Typed wrappers for kernels/rmsnorm.wgsl: RMSNorm over the last dim of
// x [..., C] with a weight [C]. Each records its dispatches and returns new
// tensors (or writes the given ones); nothing is submitted.
import { grid1d, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';

const COL_WG = 64; // CWG in the kernel
const MIN_BLOCK_ROWS = 64; // rows per partial sum of dweight
const LANES = 8; // rows per workgroup of the *_lanes kernels

/**
 * The row kernels' layout: one row per invocation on CPU adapters (no
 * barriers), one workgroup per row elsewhere (see the kernel header);
 * gpu.tuning.rowPerLane overrides it (tests).
 */
function rowDispatch(gpu: Gpu, entry: string, rows: number): { entry: string; workgroups: [number, number] } {
  return gpu.tuning.rowPerLane ?? gpu.isCpuAdapter
    ? { entry: `${entry}_lanes`, workgroups: grid1d(rows, LANES, gpu) }
    : { entry, workgroups: grid1d(rows, 1, gpu) };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Validates x [..., C] (rank >= 2, C >= 1) and w [C]; returns the row count and C. */
function checkInput(op: string, x: Tensor, w: Tensor): { rows: number; cols: number; rowShape: number[] } {
  check(x.dtype === 'f32' && w.dtype === 'f32', op, () => `${x.describe()} and ${w.describe()} must be f32`);
  check(x.shape.length >= 2 && x.shape[x.shape.length - 1] >= 1, op,
    () => `x ${x.describe()} must be [..., C] with at least two dims and C >= 1`);
  const cols = x.shape[x.shape.length - 1];
  check(w.shape.length === 1 && w.shape[0] === cols, op,
    () => `weight ${w.describe()} must be [${cols}] for x ${x.describe()}`);
  return { rows: x.size / cols, cols, rowShape: x.shape.slice(0, -1) };
}

function checkOut(op: string, what: string, t: Tensor, shape: readonly number[]): void {
  check(t.dtype === 'f32' && sameShape(t.shape, shape), op, () => `${what} ${t.describe()} must be f32${fmtShape(shape)}`);
}

/**
 * y = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps) per row.
 * Returns y [..., C] and rstd [...] (kept for the backward).
 */
export function rmsnorm(
  gpu: Gpu, x: Tensor, weight: Tensor, eps: number, out: { y?: Tensor; rstd?: Tensor } = {},
): { y: Tensor; rstd: Tensor } {
  const op = 'rmsnorm';
  const { rows, cols, rowShape } = checkInput(op, x, weight);
  check(Number.isFinite(eps) && eps >= 0, op, () => `eps ${eps} must be finite and >= 0`);
  if (out.y) checkOut(op, 'y', out.y, x.shape);
  if (out.rstd) checkOut(op, 'rstd', out.rstd, rowShape);
  const y = out.y ?? gpu.empty(x.shape, 'f32', 'rmsnorm.y');
  const rstd = out.rstd ?? gpu.empty(rowShape, 'f32', 'rmsnorm.rstd');
  gpu.dispatch({
    kernel: 'rmsnorm', ...rowDispatch(gpu, 'rmsnorm_forward', rows), params: params().u32(rows, cols).f32(eps).u32(0),
    inputs: [x, weight], outputs: [y, rstd],
    label: `${op} ${x.describe()} ${weight.describe()}`,
  });
  return { y, rstd };
}

/**
 * dx [..., C] of rmsnorm alone, for a frozen weight (LoRA training): one
 * dispatch, no dweight buffer.
 */
export function rmsnormBackwardDx(gpu: Gpu, x: Tensor, weight: Tensor, rstd: Tensor, dy: Tensor, out?: Tensor): Tensor {
  const op = 'rmsnormBackward';
  const { rows, cols, rowShape } = checkInput(op, x, weight);
  checkOut(op, 'rstd', rstd, rowShape);
  checkOut(op, 'dy', dy, x.shape);
  if (out) checkOut(op, 'dx', out, x.shape);
  const dx = out ?? gpu.empty(x.shape, 'f32', 'rmsnorm.dx');
  gpu.dispatch({
    kernel: 'rmsnorm', ...rowDispatch(gpu, 'rmsnorm_backward_dx', rows), params: params().u32(rows, cols).f32(0).u32(0),
    inputs: [x, weight, rstd, dy], outputs: [dx],
    label: `${op} dx ${x.describe()} ${weight.describe()} ${rstd.describe()} ${dy.describe()}`,
  });
  return dx;
}

/**
 * Gradients of rmsnorm given the forward's rstd: dx [..., C] and dweight [C].
 * dweight is summed in a fixed order (blocks of rows, then the blocks), so it
 * is identical from run to run. Records three dispatches.
 */
export function rmsnormBackward(
  gpu: Gpu, x: Tensor, weight: Tensor, rstd: Tensor, dy: Tensor, out: { dx?: Tensor; dweight?: Tensor } = {},
): { dx: Tensor; dweight: Tensor } {
  const op = 'rmsnormBackward';
  const { rows, cols, rowShape } = checkInput(op, x, weight);
  checkOut(op, 'rstd', rstd, rowShape);
  checkOut(op, 'dy', dy, x.shape);
  if (out.dx) checkOut(op, 'dx', out.dx, x.shape);
  if (out.dweight) checkOut(op, 'dweight', out.dweight, [cols]);
  const dx = rmsnormBackwardDx(gpu, x, weight, rstd, dy, out.dx);
  const dweight = out.dweight ?? gpu.empty([cols], 'f32', 'rmsnorm.dweight');
  const tensors = `${x.describe()} ${weight.describe()} ${rstd.describe()} ${dy.describe()}`;

  // Row blocks index the grid's y dimension, so they must fit its limit.
  const maxGroups = gpu.limits.maxComputeWorkgroupsPerDimension;
  const blockRows = Math.max(MIN_BLOCK_ROWS, Math.ceil(rows / maxGroups));
  const blocks = Math.max(1, Math.ceil(rows / blockRows));
  const colGroups = Math.ceil(cols / COL_WG);
  const p = params().u32(rows, cols).f32(0).u32(blockRows);
  // Released right after recording: the pool's reuse is ordered after these dispatches.
  const partial = gpu.empty([blocks, cols], 'f32', 'rmsnorm.dweight.partial');
  gpu.dispatch({
    kernel: 'rmsnorm', entry: 'rmsnorm_dweight_partial', params: p,
    inputs: [x, rstd, dy], outputs: [partial], workgroups: [colGroups, blocks],
    label: `${op} dweight partial ${tensors} -> ${partial.describe()}`,
  });
  gpu.dispatch({
    kernel: 'rmsnorm', entry: 'rmsnorm_dweight_reduce', params: p,
    inputs: [partial], outputs: [dweight], workgroups: [colGroups],
    label: `${op} dweight reduce ${partial.describe()}`,
  });
  partial.release();
  return { dx, dweight };
}
