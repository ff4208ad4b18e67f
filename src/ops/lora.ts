// Typed wrappers for kernels/lora.wgsl: a frozen Linear layer with a LoRA
// update, y = x W^T (+ b) + s * dropout(x) A^T B^T, and its backward (dx, dA,
// dB; the frozen W and b get nothing).
//
//   loraForward   dropout (p > 0 only), su = s * dropout(x) A^T (matmul), then
//                 one fused dispatch y = [x | su] [W | B]^T (+ b)
//   loraBackward  du = s * dy B, dB = dy^T su, dA = du^T dropout(x) (matmuls;
//                 the mask is recomputed from the seed, never stored), then one
//                 fused dispatch dx = dy W + dropout'(du A)
//   dropout       the counter-based dropout on its own (its backward is itself)
//
// `fused: false` runs the textbook path instead (separate matmuls, beta = 1
// accumulation, bias add), kept for the benchmark and as a cross-check.
import { grid1d, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { dropoutThreshold, loraScale, pcg, type DropoutSpec } from '../../reference/lora.ts';
import { biasAdd } from './elementwise.ts';
import { checkSubgroupTile, matmul, matmulDevice, registerTile, type MatmulDevice } from './matmul.ts';

export { loraScale, type DropoutSpec };

export interface LoraWeights {
  /** Frozen base weight [out, in]. */
  W: Tensor;
  /** Frozen bias [out], optional. */
  b?: Tensor | null;
  /** Down projection [r, in]. */
  A: Tensor;
  /** Up projection [out, r]. */
  B: Tensor;
  /** s: loraScale(alpha, r, rslora). */
  scale: number;
  /** Dropout on the LoRA branch's input; absent or p = 0: none. */
  dropout?: DropoutSpec;
}

export interface LoraTile {
  TM: number;
  TN: number;
  /** Force the subgroup kernel on or off (default: planLora's choice). */
  subgroup?: boolean;
}

export interface LoraForwardOptions {
  /** Where to write y [..., out]. */
  out?: Tensor;
  /** Default true; false runs the unfused path (benchmarks, cross-checks). */
  fused?: boolean;
  /** Force the register tile of the fused kernel and of the matmuls (tests). */
  tile?: LoraTile;
}

/**
 * What loraBackward needs: x and the weights by reference (keep them alive
 * until the backward), and su, owned by this object (release() frees it). The
 * dropout mask is not stored; the backward recomputes it from the seed, and a
 * GradCache replay of the forward with the same seed reproduces it exactly.
 */
export interface LoraSaved {
  x: Tensor;
  weights: LoraWeights;
  /** s * dropout(x) A^T, [N, r] (N = tokens, x's leading dims flattened). */
  su: Tensor;
  dims: { N: number; inF: number; outF: number; r: number };
  release(): void;
}

export interface LoraBackwardOptions {
  /** Add to existing dA, dB (gradient accumulation); needs opts.dA and opts.dB. */
  accumulate?: boolean;
  dA?: Tensor;
  dB?: Tensor;
  dx?: Tensor;
  fused?: boolean;
  tile?: LoraTile;
}

/**
 * Register tile and version of the fused kernel for C [M, N]: matmul's choice
 * (planMatmul). On a CPU adapter a workgroup is one 8-lane SIMD vector, and
 * when that is the subgroup the A loads are shared with subgroup shuffles
 * (kernels/lora_subgroup.wgsl); on a GPU it gets 64 lanes and the same tile.
 */
export function planLora(M: number, N: number, dev: MatmulDevice, tile?: LoraTile): { TM: number; TN: number; LANES: number; subgroup: boolean } {
  const LANES = dev.cpu ? 8 : 64;
  const subgroup = tile?.subgroup ?? (dev.cpu && dev.subgroupSize === LANES);
  // The subgroup kernel's 32 x 4 tile, as matmul's regblock_sg with a
  // transposed operand: 8-17% faster than 16 x 8 for a forward + backward
  // (bench/NOTES.md).
  const tall = subgroup && M >= 32 && !tile;
  return { ...registerTile(M, N, LANES, { tall, subgroup, force: tile }), LANES, subgroup };
}

function checkDropout(op: string, spec: DropoutSpec | undefined): DropoutSpec {
  const d = spec ?? { p: 0, seed: 0 };
  check(Number.isFinite(d.p) && d.p >= 0 && d.p < 1, op, () => `dropout p = ${d.p} must be in [0, 1)`);
  check(Number.isInteger(d.seed) && d.seed >= 0 && d.seed <= 0xffffffff, op, () => `dropout seed ${d.seed} must be a u32`);
  return d;
}

function dropoutParams(d: DropoutSpec) {
  return { key: pcg(d.seed >>> 0), threshold: dropoutThreshold(d.p), invKeep: 1 / (1 - d.p) };
}

/**
 * dropout(x)[i] = keep(seed, i) ? x[i] / (1 - p) : 0 with the counter-based
 * mask of kernels/lora.wgsl (i = flat index). Also its own backward: pass dy
 * with the same spec. p = 0 copies x (no kernel).
 */
export function dropout(gpu: Gpu, x: Tensor, spec: DropoutSpec, out?: Tensor): Tensor {
  const op = 'dropout';
  const d = checkDropout(op, spec);
  check(x.dtype === 'f32', op, () => `x ${x.describe()} must be f32`);
  const y = out ?? gpu.empty(x.shape, 'f32', 'dropout.y');
  check(y.dtype === 'f32' && y.size === x.size, op, () => `out ${y.describe()} must be f32 with the size of x ${x.describe()}`);
  if (d.p === 0) {
    gpu.copy(x, y);
    return y;
  }
  const k = dropoutParams(d);
  const width = x.size % 4 === 0 ? 4 : 1; // dropout4: 4 elements per invocation through vec4 loads
  gpu.dispatch({
    kernel: 'lora',
    entry: width === 4 ? 'dropout4' : 'dropout',
    params: params().u32(x.size / width, k.key, k.threshold).f32(k.invKeep),
    inputs: [x],
    outputs: [y],
    workgroups: grid1d(x.size / width, 256, gpu),
    label: `dropout p=${d.p} seed=${d.seed} ${x.describe()}${width === 4 ? ' (vec4)' : ''}`,
  });
  return y;
}

/** Validates the weights against x [..., in]; returns the dims. */
function checkWeights(op: string, x: Tensor, w: LoraWeights): LoraSaved['dims'] {
  const all = () => `x ${x.describe()}, W ${w.W.describe()}, A ${w.A.describe()}, B ${w.B.describe()}${w.b ? `, b ${w.b.describe()}` : ''}`;
  for (const t of [x, w.W, w.A, w.B, ...(w.b ? [w.b] : [])]) check(t.dtype === 'f32', op, () => `${t.describe()} must be f32 (${all()})`);
  check(w.W.shape.length === 2, op, () => `W must be [out, in] (${all()})`);
  const [outF, inF] = w.W.shape;
  check(x.shape.length >= 1 && x.shape[x.shape.length - 1] === inF, op, () => `x must be [..., in] with in = ${inF} from W (${all()})`);
  check(w.A.shape.length === 2 && w.A.shape[1] === inF && w.A.shape[0] >= 1, op, () => `A must be [r, in] = [r, ${inF}] (${all()})`);
  const r = w.A.shape[0];
  check(w.B.shape.length === 2 && w.B.shape[0] === outF && w.B.shape[1] === r, op,
    () => `B must be [out, r] = ${fmtShape([outF, r])} (${all()})`);
  check(!w.b || (w.b.shape.length === 1 && w.b.shape[0] === outF), op, () => `b must be [out] = [${outF}] (${all()})`);
  check(Number.isFinite(w.scale), op, () => `scale ${w.scale} must be finite`);
  return { N: inF === 0 ? 0 : x.size / inF, inF, outF, r };
}

/**
 * Records C = mask * (A2 B2) + A1 B1 (+ bias) over C [M, Ncol] (the fused
 * entry points; see the kernel header for the operand layouts).
 */
function fused(
  gpu: Gpu, label: string, M: number, Ncol: number,
  a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor, bias: Tensor | null | undefined, c: Tensor,
  transB: boolean, drop: DropoutSpec, tile?: LoraTile,
): void {
  const plan = planLora(M, Ncol, matmulDevice(gpu), tile);
  if (plan.subgroup) checkSubgroupTile(gpu, 'lora', 'the subgroup kernel', plan.LANES, plan.TM);
  const K1 = transB ? b1.shape[1] : b1.shape[0];
  const K2 = transB ? b2.shape[1] : b2.shape[0];
  const k = dropoutParams(drop);
  gpu.dispatch({
    kernel: plan.subgroup ? 'lora_subgroup' : 'lora',
    entry: `${bias ? 'lora_fused_bias' : 'lora_fused'}${plan.subgroup ? '_sg' : ''}`,
    constants: { TRANS_B: transB, DROPOUT: drop.p > 0, TM: plan.TM, TN: plan.TN, LANES: plan.LANES },
    params: params().u32(M, Ncol, K1, K2, k.key, k.threshold).f32(k.invKeep),
    inputs: bias ? [a1, b1, a2, b2, bias] : [a1, b1, a2, b2],
    outputs: [c],
    workgroups: [Math.ceil(Ncol / (plan.LANES * plan.TN)), Math.ceil(M / plan.TM), 1],
    label: `${label} TM${plan.TM} TN${plan.TN}${plan.subgroup ? ' subgroup' : ''}`,
  });
}

/** y = x W^T (+ b) + s * dropout(x) A^T B^T for x [..., in]; y [..., out]. */
export function loraForward(gpu: Gpu, x: Tensor, w: LoraWeights, opts: LoraForwardOptions = {}): { y: Tensor; saved: LoraSaved } {
  const op = 'lora';
  const dims = checkWeights(op, x, w);
  const drop = checkDropout(op, w.dropout);
  const { N, inF, outF } = dims;
  const yShape = [...x.shape.slice(0, -1), outF];
  const y = opts.out ?? gpu.empty(yShape, 'f32', 'lora.y');
  check(y.dtype === 'f32' && y.size === N * outF, op, () => `out ${y.describe()} must be f32 ${fmtShape(yShape)} for x ${x.describe()}`);
  const x2 = x.reshape([N, inF]);
  const y2 = y.reshape([N, outF]);
  const tile = opts.tile;

  const xd = drop.p > 0 ? dropout(gpu, x2, drop) : x2;
  const su = matmul(gpu, xd, w.A, { transB: true, alpha: w.scale, tile });
  if (xd !== x2) xd.release(); // safe: the pool never overwrites a buffer under recorded work
  const what = `x ${x.describe()} W ${w.W.describe()} A ${w.A.describe()} B ${w.B.describe()}${w.b ? ` b ${w.b.describe()}` : ''}`;

  if (opts.fused ?? true) {
    fused(gpu, `lora forward ${what}`, N, outF, x2, w.W, su, w.B, w.b, y2, true, { p: 0, seed: 0 }, tile);
  } else {
    const base = w.b ? gpu.empty([N, outF], 'f32', 'lora.xW') : y2;
    matmul(gpu, x2, w.W, { transB: true, out: base, tile });
    matmul(gpu, su, w.B, { transB: true, beta: 1, out: base, tile });
    if (w.b) {
      biasAdd(gpu, base, w.b, y2);
      base.release();
    }
  }
  const saved: LoraSaved = { x, weights: w, su, dims, release: () => su.release() };
  return { y, saved };
}

/** dx, dA, dB of loss(y) given dy = dloss/dy [..., out]; W and b are frozen (no gradient). */
export function loraBackward(gpu: Gpu, saved: LoraSaved, dy: Tensor, opts: LoraBackwardOptions = {}): { dx: Tensor; dA: Tensor; dB: Tensor } {
  const op = 'loraBackward';
  const { x, weights: w, su } = saved;
  const { N, inF, outF, r } = saved.dims;
  const drop = checkDropout(op, w.dropout);
  check(!su.released, op, () => `saved su ${su.describe()} was released`);
  check(dy.dtype === 'f32' && dy.size === N * outF && dy.shape[dy.shape.length - 1] === outF, op,
    () => `dy ${dy.describe()} must be f32 [..., ${outF}] with ${N} rows (x ${x.describe()}, W ${w.W.describe()})`);
  const accumulate = opts.accumulate ?? false;
  check(!accumulate || (opts.dA !== undefined && opts.dB !== undefined), op, () => 'accumulate needs existing dA and dB (opts.dA, opts.dB)');
  check(!opts.dA || (opts.dA.dtype === 'f32' && opts.dA.size === r * inF), op, () => `dA ${opts.dA!.describe()} must be f32 ${fmtShape([r, inF])}`);
  check(!opts.dB || (opts.dB.dtype === 'f32' && opts.dB.size === outF * r), op, () => `dB ${opts.dB!.describe()} must be f32 ${fmtShape([outF, r])}`);
  check(!opts.dx || (opts.dx.dtype === 'f32' && opts.dx.size === N * inF), op, () => `dx ${opts.dx!.describe()} must be f32 with the shape of x ${x.describe()}`);
  const beta = accumulate ? 1 : 0;
  const tile = opts.tile;
  const x2 = x.reshape([N, inF]);
  const dy2 = dy.reshape([N, outF]);

  // du = s dy B [N, r]; dB = dy^T su [out, r]; dA = du^T dropout(x) [r, in].
  const du = matmul(gpu, dy2, w.B, { alpha: w.scale, tile });
  const dB = matmul(gpu, dy2, su, { transA: true, beta, out: opts.dB ?? gpu.empty([outF, r], 'f32', 'lora.dB'), tile });
  const xd = drop.p > 0 ? dropout(gpu, x2, drop) : x2;
  const dA = matmul(gpu, du, xd, { transA: true, beta, out: opts.dA ?? gpu.empty([r, inF], 'f32', 'lora.dA'), tile });
  if (xd !== x2) xd.release();

  // dx = dy W + dropout'(du A) [N, in].
  const dx = opts.dx ?? gpu.empty(x.shape, 'f32', 'lora.dx');
  const dx2 = dx.reshape([N, inF]);
  if (opts.fused ?? true) {
    fused(gpu, `lora backward dx dy ${dy.describe()} W ${w.W.describe()} A ${w.A.describe()}`, N, inF, dy2, w.W, du, w.A, null, dx2, false, drop, tile);
  } else if (drop.p > 0) {
    const t = matmul(gpu, du, w.A, { tile });
    dropout(gpu, t, drop, dx2);
    t.release();
    matmul(gpu, dy2, w.W, { beta: 1, out: dx2, tile });
  } else {
    matmul(gpu, du, w.A, { out: dx2, tile });
    matmul(gpu, dy2, w.W, { beta: 1, out: dx2, tile });
  }
  du.release();
  return { dx, dA, dB };
}
