// What one kernel check needs from the Gpu: uploads, NaN-poisoned outputs,
// and the release of every tensor it made, whether the check passed, failed
// or threw.
import type { Gpu } from '../gpu/gpu.ts';
import type { DType, Tensor } from '../gpu/tensor.ts';
import type { Comparison } from './compare.ts';

/** One op of one kernel family, checked once against its float64 reference. */
export interface KernelCheck {
  family: string;
  op: string;
  /** Records the op on seeded inputs, reads its outputs back and compares them. */
  run(scope: Scope): Promise<Comparison>;
}

// A NaN bit pattern, also written into integer outputs: no valid index or count has it.
const NAN_BITS = 0x7fc00000;

export class Scope {
  #tensors: Tensor[] = [];

  constructor(readonly gpu: Gpu) {}

  /** Uploads `data` as a new tensor (f32 unless told otherwise). */
  tensor<D extends DType = 'f32'>(data: ArrayLike<number>, shape: readonly number[], dtype: D = 'f32' as D): Tensor<D> {
    // Owned before the upload, so a refused upload (wrong length) still releases it.
    const t = this.own(this.gpu.empty(shape, dtype, 'doctor.input'));
    this.gpu.write(t, data);
    return t;
  }

  /** An output with every element NaN, so an element the kernel fails to write shows up. */
  poisoned<D extends DType = 'f32'>(shape: readonly number[], dtype: D = 'f32' as D): Tensor<D> {
    const t = this.own(this.gpu.empty(shape, dtype, 'doctor.output'));
    this.gpu.write(t, dtype === 'f32' ? new Float32Array(t.size).fill(NaN) : new Int32Array(t.size).fill(NAN_BITS));
    return t;
  }

  /**
   * For ops that allocate their outputs themselves (no `out` option): leaves
   * `count` NaN-filled buffers of this size idle in the pool, so the op's
   * gpu.empty() picks them up. This leans on the pool handing out the most
   * recently released buffer of a size class first; if it ever stops doing
   * so, the check still compares every element, it only loses the NaN marker
   * for unwritten ones.
   */
  poisonPool(shape: readonly number[], count: number): void {
    const ts = Array.from({ length: count }, () => this.gpu.empty(shape, 'f32', 'doctor.poison'));
    for (const t of ts) this.gpu.write(t, new Float32Array(t.size).fill(NaN));
    for (const t of ts) t.release();
  }

  /** Takes a tensor an op returned, to be released with the rest. */
  own<T extends Tensor>(t: T): T {
    this.#tensors.push(t);
    return t;
  }

  /** Releases every tensor of the check (release is idempotent, so shared ones are fine). */
  release(): void {
    for (const t of this.#tensors) t.release();
    this.#tensors = [];
  }
}

/**
 * Awkward sizes shared by the checks: primes, so no dimension is a multiple
 * of a workgroup (256 or 64 invocations), a register tile or a vec4.
 */
export const ROWS = 37;
export const COLS = 53;
/** A row longer than one 256-invocation workgroup, for the row reductions. */
export const WIDE = 301;
