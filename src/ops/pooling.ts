// Typed wrappers for kernels/pooling.wgsl: pooling hidden states h [B, T, C]
// by an attention mask [B, T] of dtype i32 (a token is valid where the mask is
// non-zero), for left, right or arbitrary padding. Each records its
// dispatches and returns new tensors (or writes the given ones); nothing is
// submitted.
import { grid1d, rowWorkgroupSize, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { DType, Tensor } from '../gpu/tensor.ts';

const WG = 256;
const COL_WG = 64; // CWG in the kernel

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkTensor(op: string, what: string, t: Tensor, dtype: DType, shape: readonly number[]): void {
  check(t.dtype === dtype && sameShape(t.shape, shape), op, () => `${what} ${t.describe()} must be ${dtype}${fmtShape(shape)}`);
}

/** Validates h [B, T, C] f32 and mask [B, T] i32; returns B, T, C. */
function checkHidden(op: string, h: Tensor, mask: Tensor): { B: number; T: number; C: number } {
  check(h.dtype === 'f32' && h.shape.length === 3, op, () => `h ${h.describe()} must be f32[B, T, C]`);
  const [B, T, C] = h.shape;
  checkTensor(op, 'mask', mask, 'i32', [B, T]);
  return { B, T, C };
}

/**
 * Last-token pooling: out[b] = h[b, t_b] with t_b the largest t where
 * mask[b, t] != 0. Returns out [B, C] and index [B] (i32, -1 for a row with no
 * valid token, whose out row is zeros).
 */
export function lastTokenPool(
  gpu: Gpu, h: Tensor, mask: Tensor, out: { out?: Tensor; index?: Tensor } = {},
): { out: Tensor; index: Tensor<'i32'> } {
  const op = 'lastTokenPool';
  const { B, T, C } = checkHidden(op, h, mask);
  if (out.out) checkTensor(op, 'out', out.out, 'f32', [B, C]);
  if (out.index) checkTensor(op, 'index', out.index, 'i32', [B]);
  const pooled = out.out ?? gpu.empty([B, C], 'f32', 'lastTokenPool.out');
  const index = (out.index as Tensor<'i32'> | undefined) ?? gpu.empty([B], 'i32', 'lastTokenPool.index');
  gpu.dispatch({
    kernel: 'pooling', entry: 'last_token_forward', constants: { WG: rowWorkgroupSize(gpu) }, params: params().u32(B, T, C),
    inputs: [mask, h], outputs: [pooled, index], workgroups: grid1d(B, 1, gpu),
    label: `${op} ${h.describe()} ${mask.describe()}`,
  });
  return { out: pooled, index };
}

/**
 * Gradient of lastTokenPool: dh [B, T, C] (every element written) holds dy[b]
 * at t = index[b] and zeros elsewhere; T is the time length of h.
 */
export function lastTokenPoolBackward(gpu: Gpu, index: Tensor, dy: Tensor, T: number, out?: Tensor): Tensor {
  const op = 'lastTokenPoolBackward';
  check(dy.dtype === 'f32' && dy.shape.length === 2, op, () => `dy ${dy.describe()} must be f32[B, C]`);
  const [B, C] = dy.shape;
  checkTensor(op, 'index', index, 'i32', [B]);
  check(Number.isInteger(T) && T >= 0, op, () => `T ${T} must be a non-negative integer`);
  if (out) checkTensor(op, 'dh', out, 'f32', [B, T, C]);
  const dh = out ?? gpu.empty([B, T, C], 'f32', 'lastTokenPool.dh');
  gpu.dispatch({
    kernel: 'pooling', entry: 'last_token_backward', params: params().u32(B, T, C),
    inputs: [index, dy], outputs: [dh], workgroups: grid1d(B * T * C, WG, gpu),
    label: `${op} ${index.describe()} ${dy.describe()} -> ${dh.describe()}`,
  });
  return dh;
}

/** Masked mean: out[b] = sum_t [mask[b, t] != 0] h[b, t] / max(count_b, 1); [B, C]. */
export function meanPool(gpu: Gpu, h: Tensor, mask: Tensor, out?: Tensor): Tensor {
  const op = 'meanPool';
  const { B, T, C } = checkHidden(op, h, mask);
  if (out) checkTensor(op, 'out', out, 'f32', [B, C]);
  const pooled = out ?? gpu.empty([B, C], 'f32', 'meanPool.out');
  gpu.dispatch({
    kernel: 'pooling', entry: 'mean_pool_forward', params: params().u32(B, T, C),
    inputs: [mask, h], outputs: [pooled], workgroups: grid1d(B * Math.ceil(C / COL_WG), 1, gpu),
    label: `${op} ${h.describe()} ${mask.describe()}`,
  });
  return pooled;
}

/**
 * Gradient of meanPool: dh[b, t] = [mask[b, t] != 0] dy[b] / max(count_b, 1),
 * dh [B, T, C]. Records two dispatches (per-row denominators, then dh).
 */
export function meanPoolBackward(gpu: Gpu, mask: Tensor, dy: Tensor, out?: Tensor): Tensor {
  const op = 'meanPoolBackward';
  check(mask.dtype === 'i32' && mask.shape.length === 2, op, () => `mask ${mask.describe()} must be i32[B, T]`);
  const [B, T] = mask.shape;
  check(dy.dtype === 'f32' && dy.shape.length === 2 && dy.shape[0] === B, op,
    () => `dy ${dy.describe()} must be f32[${B}, C] for mask ${mask.describe()}`);
  const C = dy.shape[1];
  if (out) checkTensor(op, 'dh', out, 'f32', [B, T, C]);
  const dh = out ?? gpu.empty([B, T, C], 'f32', 'meanPool.dh');
  const p = params().u32(B, T, C);
  // Released right after recording: the pool's reuse is ordered after these dispatches.
  const den = gpu.empty([B], 'f32', 'meanPool.den');
  gpu.dispatch({
    kernel: 'pooling', entry: 'mask_denominator', params: p,
    inputs: [mask], outputs: [den], workgroups: grid1d(B, COL_WG, gpu),
    label: `${op} denominators ${mask.describe()}`,
  });
  gpu.dispatch({
    kernel: 'pooling', entry: 'mean_pool_backward', params: p,
    inputs: [mask, den, dy], outputs: [dh], workgroups: grid1d(B * T * C, WG, gpu),
    label: `${op} ${mask.describe()} ${dy.describe()} -> ${dh.describe()}`,
  });
  den.release();
  return dh;
}
