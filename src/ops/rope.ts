// Typed wrappers for kernels/rope.wgsl: rotate-half RoPE on x [B, T, H, D] with
// positions pos [B, T] (i32). Each call records one dispatch; nothing is
// submitted. The cos/sin digit table (see the kernel header) is built on the
// CPU in float64 once per (Gpu, rotaryDim, theta) and kept for the Gpu's life.
import { grid1d, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';

export interface RopeOptions {
  /** Base of the frequencies (10000 Llama 2 / SmolLM, 1e6 Qwen2, ...). */
  theta: number;
  /** Channels rotated per head (even, <= D); default D (full rotary). */
  rotaryDim?: number;
  /** Output [B, T, H, D]; pass x itself to rotate in place. */
  out?: Tensor;
}

/** Digits of |pos| in base 256 that the table covers (4 digits: every u32). */
const LEVELS = 4;
const RADIX = 256;

/**
 * f32 [4, 256, R/2, 2]: (cos, sin) of d * 256^k * inv_freq_j, computed in
 * float64 (d * 256^k is exact, the product is one rounding, Math.cos/sin of
 * large arguments are range-reduced exactly by V8) and rounded once to f32.
 */
export function ropeTableData(theta: number, rotaryDim: number): Float32Array {
  const half = rotaryDim / 2;
  const out = new Float32Array(LEVELS * RADIX * half * 2);
  for (let k = 0; k < LEVELS; k++) {
    for (let d = 0; d < RADIX; d++) {
      const steps = d * RADIX ** k;
      for (let j = 0; j < half; j++) {
        const angle = steps * theta ** ((-2 * j) / rotaryDim);
        const at = ((k * RADIX + d) * half + j) * 2;
        out[at] = Math.cos(angle);
        out[at + 1] = Math.sin(angle);
      }
    }
  }
  return out;
}

const tables = new WeakMap<Gpu, Map<string, Tensor>>();

function ropeTable(gpu: Gpu, theta: number, rotaryDim: number): Tensor {
  let perGpu = tables.get(gpu);
  if (!perGpu) tables.set(gpu, (perGpu = new Map()));
  const key = `${rotaryDim}:${theta}`;
  let t = perGpu.get(key);
  if (!t || t.released) {
    t = gpu.tensor(ropeTableData(theta, rotaryDim), [LEVELS, RADIX, rotaryDim / 2, 2], 'f32', `rope.table(R=${rotaryDim}, theta=${theta})`);
    perGpu.set(key, t);
  }
  return t;
}

function record(op: string, gpu: Gpu, x: Tensor, pos: Tensor, opts: RopeOptions, sgn: 1 | -1): Tensor {
  check(x.dtype === 'f32' && x.shape.length === 4, op, () => `x ${x.describe()} must be f32 [B, T, H, D]`);
  const [B, T, H, D] = x.shape;
  const R = opts.rotaryDim ?? D;
  check(pos.dtype === 'i32' && pos.shape.length === 2 && pos.shape[0] === B && pos.shape[1] === T, op,
    () => `pos ${pos.describe()} must be i32 [B, T] = [${B}, ${T}] for x ${x.describe()}`);
  check(Number.isInteger(R) && R >= 2 && R % 2 === 0 && R <= D, op,
    () => `rotaryDim ${R} must be even, >= 2 and <= D = ${D} (x ${x.describe()})`);
  check(Number.isFinite(opts.theta) && opts.theta > 0, op, () => `theta ${opts.theta} must be a positive number`);
  const out = opts.out;
  if (out) {
    check(out.dtype === 'f32' && out.shape.length === 4 && out.shape.every((d, i) => d === x.shape[i]), op,
      () => `out ${out.describe()} must be f32 ${fmtShape(x.shape)} like x ${x.describe()}`);
  }
  const inPlace = out !== undefined && out.buffer === x.buffer;
  const y = out ?? gpu.empty(x.shape, 'f32', op);
  const table = ropeTable(gpu, opts.theta, R);
  const half = R / 2;
  gpu.dispatch({
    kernel: 'rope',
    entry: inPlace ? 'rope_inplace' : 'rope',
    params: params().u32(B * T, H, D, half).f32(sgn),
    inputs: inPlace ? [pos, table] : [pos, table, x],
    outputs: [y],
    workgroups: grid1d(B * T * half, 256, gpu),
    label: `${op}${inPlace ? ' (in place)' : ''} ${x.describe()} ${pos.describe()} R=${R} theta=${opts.theta}`,
  });
  return y;
}

/**
 * y = RoPE(x) (HF apply_rotary_pos_emb, rotate-half). x [B, T, H, D] f32,
 * pos [B, T] i32 (any integers; left-padded rows just carry their own
 * positions). Returns a new tensor, or writes opts.out (which may be x).
 */
export function rope(gpu: Gpu, x: Tensor, pos: Tensor, opts: RopeOptions): Tensor {
  return record('rope', gpu, x, pos, opts, 1);
}

/** dx = RoPE^T(dy): the inverse rotation. Same shapes and options as rope(). */
export function ropeBackward(gpu: Gpu, dy: Tensor, pos: Tensor, opts: RopeOptions): Tensor {
  return record('ropeBackward', gpu, dy, pos, opts, -1);
}
