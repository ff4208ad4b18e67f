// Typed wrappers for kernels/softmax.wgsl: softmax over the last dimension with
// an optional additive (broadcast) mask, and its backward. Each records one
// dispatch (one workgroup per row) and returns a new tensor or writes `out`.
import { grid1d, rowWorkgroupSize, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';

export interface SoftmaxOptions {
  /**
   * Additive mask, f32 [Rm, C] (or [C], or any shape whose last dim is C) where
   * Rm divides the row count R of x; row r uses mask row r % Rm. Entries
   * <= -1e30 (e.g. -3e38, -inf) mask: they output 0, and a row masked
   * everywhere outputs zeros.
   */
  mask?: Tensor;
  /** Output, same shape as x. */
  out?: Tensor<'f32'>;
}

function rowsCols(op: string, x: Tensor): { rows: number; cols: number } {
  check(x.dtype === 'f32', op, () => `${x.describe()} must be f32`);
  check(x.shape.length >= 1, op, () => `${x.describe()} needs a last dimension to reduce over`);
  const cols = x.shape[x.shape.length - 1];
  return { rows: cols === 0 ? 0 : x.size / cols, cols };
}

function output(gpu: Gpu, op: string, like: Tensor, out: Tensor<'f32'> | undefined, name: string): Tensor<'f32'> {
  if (!out) return gpu.empty(like.shape, 'f32', name);
  check(out.dtype === 'f32' && out.shape.length === like.shape.length && out.shape.every((d, i) => d === like.shape[i]), op,
    () => `out ${out.describe()} must be f32${fmtShape(like.shape)} like ${like.describe()}`);
  return out;
}

/** y = softmax(x + mask) over the last dimension of x [..., C]. */
export function softmax(gpu: Gpu, x: Tensor, opts: SoftmaxOptions = {}): Tensor<'f32'> {
  const op = 'softmax';
  const { rows, cols } = rowsCols(op, x);
  const { mask } = opts;
  let maskRows = 1;
  if (mask) {
    check(mask.dtype === 'f32', op, () => `mask ${mask.describe()} must be f32`);
    const mc = mask.shape.length >= 1 ? mask.shape[mask.shape.length - 1] : -1;
    maskRows = mc > 0 ? mask.size / mc : 0;
    check(mc === cols && (cols === 0 || (maskRows > 0 && rows % maskRows === 0)), op,
      () => `mask ${mask.describe()} must be [Rm, ${cols}] with Rm dividing the ${rows} rows of x ${x.describe()}`);
  }
  const y = output(gpu, op, x, opts.out, 'softmax.y');
  const label = `${op} ${x.describe()}${mask ? ` mask ${mask.describe()}` : ''}`;
  gpu.dispatch({
    kernel: 'softmax',
    entry: mask ? 'softmax_masked' : 'softmax',
    constants: { WG: rowWorkgroupSize(gpu) },
    params: params().u32(rows, cols, Math.max(1, maskRows)),
    inputs: mask ? [x, mask] : [x],
    outputs: [y],
    workgroups: grid1d(rows, 1, gpu),
    label,
  });
  return y;
}

/** dx = y * (dy - sum(dy * y)) per row, from the forward's output y. */
export function softmaxBackward(gpu: Gpu, y: Tensor, dy: Tensor, out?: Tensor<'f32'>): Tensor<'f32'> {
  const op = 'softmaxBackward';
  const { rows, cols } = rowsCols(op, y);
  check(dy.dtype === 'f32' && dy.shape.length === y.shape.length && dy.shape.every((d, i) => d === y.shape[i]), op,
    () => `dy ${dy.describe()} must be f32 shaped like y ${y.describe()}`);
  const dx = output(gpu, op, y, out, 'softmax.dx');
  gpu.dispatch({
    kernel: 'softmax',
    entry: 'softmax_backward',
    constants: { WG: rowWorkgroupSize(gpu) },
    params: params().u32(rows, cols, 1),
    inputs: [y, dy],
    outputs: [dx],
    workgroups: grid1d(rows, 1, gpu),
    label: `${op} ${y.describe()} ${dy.describe()}`,
  });
  return dx;
}
