// Typed wrappers for kernels/elementwise.wgsl. Each returns a new tensor
// (or writes `out` when given) and records one dispatch; nothing is submitted.
import { grid1d, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params, type Params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';

function sameShape(op: string, ...ts: Tensor[]): void {
  const [first] = ts;
  for (const t of ts) {
    check(t.dtype === 'f32', op, () => `${t.describe()} must be f32`);
    check(t.size === first.size && t.shape.length === first.shape.length && t.shape.every((d, i) => d === first.shape[i]), op,
      () => `shapes differ: ${ts.map((x) => x.describe()).join(', ')}`);
  }
}

function output(gpu: Gpu, like: Tensor, op: string, out?: Tensor): Tensor {
  if (!out) return gpu.empty(like.shape, 'f32', op);
  sameShape(op, like, out);
  return out;
}

/**
 * Records one elementwise dispatch over n f32 elements (the kernel's element
 * type E is vec4<f32> when n is a multiple of 4, so each invocation does 4).
 * `p` builds the params from the element count in units of E.
 */
function record(gpu: Gpu, op: string, entry: string, p: (n: number) => Params, inputs: Tensor[], outputs: Tensor[], n: number): void {
  const width = n % 4 === 0 ? 4 : 1;
  const label = `${op} ${inputs.map((t) => t.describe()).join(' ')}${width === 4 ? ' (vec4)' : ''}`;
  gpu.dispatch({
    kernel: 'elementwise', entry, constants: { E: width === 4 ? 'vec4<f32>' : 'f32' },
    params: p(n / width), inputs, outputs, workgroups: grid1d(n / width, 256, gpu), label,
  });
}

/** The bias ops over [rows, cols]: vec4 along the row when cols is a multiple of 4. */
function recordBias(gpu: Gpu, op: string, entry: string, rows: number, cols: number, inputs: Tensor[], outputs: Tensor[], perColumn: boolean): void {
  const width = cols % 4 === 0 ? 4 : 1;
  const c = cols / width;
  const label = `${op} ${inputs.map((t) => t.describe()).join(' ')}${width === 4 ? ' (vec4)' : ''}`;
  gpu.dispatch({
    kernel: 'elementwise', entry, constants: { E: width === 4 ? 'vec4<f32>' : 'f32' },
    params: params().u32(rows, c), inputs, outputs, workgroups: grid1d(perColumn ? c : rows * c, 256, gpu), label,
  });
}

/** y = alpha * a + beta * b. */
export function axpby(gpu: Gpu, alpha: number, a: Tensor, beta: number, b: Tensor, out?: Tensor): Tensor {
  sameShape('axpby', a, b);
  const y = output(gpu, a, 'axpby', out);
  record(gpu, 'axpby', 'axpby', (n) => params().u32(n).f32(alpha, beta), [a, b], [y], a.size);
  return y;
}

/** y = a + b. Backward: da = db = dy. */
export function add(gpu: Gpu, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  return axpby(gpu, 1, a, 1, b, out);
}

/** y = s * x. Backward: dx = s * dy (scale again). */
export function scale(gpu: Gpu, s: number, x: Tensor, out?: Tensor): Tensor {
  sameShape('scale', x);
  const y = output(gpu, x, 'scale', out);
  record(gpu, 'scale', 'scale', (n) => params().u32(n).f32(s), [x], [y], x.size);
  return y;
}

/**
 * y += s * x in place (gradient accumulation: the only op here that reads
 * and writes the same tensor, through its own entry point).
 */
export function accumulate(gpu: Gpu, y: Tensor, x: Tensor, s = 1): Tensor {
  sameShape('accumulate', y, x);
  check(y.buffer !== x.buffer, 'accumulate', () => `y ${y.describe()} and x ${x.describe()} must be different buffers`);
  record(gpu, 'accumulate', 'accumulate', (n) => params().u32(n).f32(s), [x], [y], x.size);
  return y;
}

/** y = a * b. */
export function mul(gpu: Gpu, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  sameShape('mul', a, b);
  const y = output(gpu, a, 'mul', out);
  record(gpu, 'mul', 'mul', (n) => params().u32(n).f32(1, 1), [a, b], [y], a.size);
  return y;
}

/** da = dy * b, db = dy * a. */
export function mulBackward(gpu: Gpu, a: Tensor, b: Tensor, dy: Tensor): { da: Tensor; db: Tensor } {
  sameShape('mulBackward', a, b, dy);
  const da = gpu.empty(a.shape, 'f32', 'mul.da');
  const db = gpu.empty(a.shape, 'f32', 'mul.db');
  record(gpu, 'mulBackward', 'mul_backward', (n) => params().u32(n).f32(1, 1), [a, b, dy], [da, db], a.size);
  return { da, db };
}

/** y = x * sigmoid(x). */
export function silu(gpu: Gpu, x: Tensor, out?: Tensor): Tensor {
  sameShape('silu', x);
  const y = output(gpu, x, 'silu', out);
  record(gpu, 'silu', 'silu', (n) => params().u32(n).f32(1), [x], [y], x.size);
  return y;
}

/** dx = dy * silu'(x). */
export function siluBackward(gpu: Gpu, x: Tensor, dy: Tensor, out?: Tensor): Tensor {
  sameShape('siluBackward', x, dy);
  const dx = output(gpu, x, 'silu.dx', out);
  record(gpu, 'siluBackward', 'silu_backward', (n) => params().u32(n).f32(1, 1), [x, dy], [dx], x.size);
  return dx;
}

/** y = silu(g) * u (the gated MLP of Llama/Qwen2). */
export function swiglu(gpu: Gpu, g: Tensor, u: Tensor, out?: Tensor): Tensor {
  sameShape('swiglu', g, u);
  const y = output(gpu, g, 'swiglu', out);
  record(gpu, 'swiglu', 'swiglu', (n) => params().u32(n).f32(1, 1), [g, u], [y], g.size);
  return y;
}

/** dg = dy * u * silu'(g), du = dy * silu(g). */
export function swigluBackward(gpu: Gpu, g: Tensor, u: Tensor, dy: Tensor): { dg: Tensor; du: Tensor } {
  sameShape('swigluBackward', g, u, dy);
  const dg = gpu.empty(g.shape, 'f32', 'swiglu.dg');
  const du = gpu.empty(g.shape, 'f32', 'swiglu.du');
  record(gpu, 'swigluBackward', 'swiglu_backward', (n) => params().u32(n).f32(1, 1), [g, u, dy], [dg, du], g.size);
  return { dg, du };
}

function checkBias(op: string, x: Tensor, b: Tensor): { rows: number; cols: number } {
  check(x.dtype === 'f32' && b.dtype === 'f32', op, () => `${x.describe()} and ${b.describe()} must be f32`);
  check(x.shape.length >= 1 && b.shape.length === 1 && b.shape[0] === x.shape[x.shape.length - 1], op,
    () => `bias ${fmtShape(b.shape)} must be [C] with C the last dim of ${x.describe()}`);
  const cols = b.shape[0];
  return { rows: cols === 0 ? 0 : x.size / cols, cols };
}

/** y[..., c] = x[..., c] + b[c]. */
export function biasAdd(gpu: Gpu, x: Tensor, b: Tensor, out?: Tensor): Tensor {
  const { rows, cols } = checkBias('biasAdd', x, b);
  const y = output(gpu, x, 'biasAdd', out);
  recordBias(gpu, 'biasAdd', 'bias_add', rows, cols, [x, b], [y], false);
  return y;
}

/** db[c] = sum over rows of dy[..., c] (the bias gradient). */
export function biasGrad(gpu: Gpu, dy: Tensor, out?: Tensor): Tensor {
  check(dy.shape.length >= 1, 'biasGrad', () => `dy ${dy.describe()} needs a last dimension`);
  const cols = dy.shape[dy.shape.length - 1];
  const db = out ?? gpu.empty([cols], 'f32', 'bias.db');
  const { rows } = checkBias('biasGrad', dy, db);
  recordBias(gpu, 'biasGrad', 'bias_grad', rows, cols, [dy], [db], true);
  return db;
}
