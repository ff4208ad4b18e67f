// Typed wrappers for kernels/l2norm.wgsl: y = x / max(||x||, eps) over the
// last dim of x [..., D], like torch.nn.functional.normalize(x, dim=-1).
// Each records one dispatch and returns new tensors (or writes the given
// ones); nothing is submitted.
import { grid1d, rowWorkgroupSize, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';

/** torch.nn.functional.normalize's default. */
export const L2NORM_EPS = 1e-12;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkRows(op: string, what: string, x: Tensor): { rows: number; cols: number; rowShape: number[] } {
  check(x.dtype === 'f32', op, () => `${what} ${x.describe()} must be f32`);
  check(x.shape.length >= 2 && x.shape[x.shape.length - 1] >= 1, op,
    () => `${what} ${x.describe()} must be [..., D] with at least two dims and D >= 1`);
  const cols = x.shape[x.shape.length - 1];
  return { rows: x.size / cols, cols, rowShape: x.shape.slice(0, -1) };
}

function checkTensor(op: string, what: string, t: Tensor, shape: readonly number[]): void {
  check(t.dtype === 'f32' && sameShape(t.shape, shape), op, () => `${what} ${t.describe()} must be f32${fmtShape(shape)}`);
}

function checkEps(op: string, eps: number): void {
  check(Number.isFinite(eps) && eps > 0, op, () => `eps ${eps} must be finite and > 0`);
}

/** y = x / max(||x||, eps) per row; returns y [..., D] and the norms ||x|| [...] (for the backward). */
export function l2norm(gpu: Gpu, x: Tensor, eps = L2NORM_EPS, out: { y?: Tensor; norm?: Tensor } = {}): { y: Tensor; norm: Tensor } {
  const op = 'l2norm';
  const { rows, cols, rowShape } = checkRows(op, 'x', x);
  checkEps(op, eps);
  if (out.y) checkTensor(op, 'y', out.y, x.shape);
  if (out.norm) checkTensor(op, 'norm', out.norm, rowShape);
  const y = out.y ?? gpu.empty(x.shape, 'f32', 'l2norm.y');
  const norm = out.norm ?? gpu.empty(rowShape, 'f32', 'l2norm.norm');
  gpu.dispatch({
    kernel: 'l2norm', entry: 'l2norm_forward', constants: { WG: rowWorkgroupSize(gpu) }, params: params().u32(rows, cols).f32(eps),
    inputs: [x], outputs: [y, norm], workgroups: grid1d(rows, 1, gpu), label: `${op} ${x.describe()}`,
  });
  return { y, norm };
}

/**
 * dx = (dy - y * dot(y, dy)) / ||x|| from the forward's y and norm; where the
 * norm is below eps the forward was x / eps, so dx = dy / eps.
 */
export function l2normBackward(gpu: Gpu, y: Tensor, norm: Tensor, dy: Tensor, eps = L2NORM_EPS, out?: Tensor): Tensor {
  const op = 'l2normBackward';
  const { rows, cols, rowShape } = checkRows(op, 'y', y);
  checkEps(op, eps);
  checkTensor(op, 'norm', norm, rowShape);
  checkTensor(op, 'dy', dy, y.shape);
  if (out) checkTensor(op, 'dx', out, y.shape);
  const dx = out ?? gpu.empty(y.shape, 'f32', 'l2norm.dx');
  gpu.dispatch({
    kernel: 'l2norm', entry: 'l2norm_backward', constants: { WG: rowWorkgroupSize(gpu) }, params: params().u32(rows, cols).f32(eps),
    inputs: [y, norm, dy], outputs: [dx], workgroups: grid1d(rows, 1, gpu),
    label: `${op} ${y.describe()} ${norm.describe()} ${dy.describe()}`,
  });
  return dx;
}
