// A tensor is a GPU buffer with a shape and a dtype, row-major and dense.
// It is created and owned by a Gpu (see gpu.ts); release() hands the buffer
// back to the pool for reuse. Nothing is read back unless read() is called.
import type { Gpu } from './gpu.ts';
import { fmtShape } from './errors.ts';

/**
 * Element types. f16 is a storage type only (needs the `shader-f16` feature):
 * kernels that accept it convert each value to f32 as they load it; it is
 * written from and read back as f32 numbers (rounded to nearest even).
 */
export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export type TypedArrayOf<D extends DType> = D extends 'f32' | 'f16' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

export const BYTES_PER_ELEMENT: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: readonly number[], what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${what}: shape ${fmtShape(shape)} must hold non-negative integers`);
  }
}

export class Tensor<D extends DType = DType> {
  readonly size: number;
  #released = false;

  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: D,
    readonly label: string,
  ) {
    this.size = numel(shape);
  }

  /** Bytes of data (the buffer itself may be larger: pooled buffers come in size classes). */
  get byteLength(): number {
    return this.size * BYTES_PER_ELEMENT[this.dtype];
  }

  /** byteLength rounded up to 4, the unit of WebGPU copies and bindings (an odd-length f16 tensor). */
  get paddedByteLength(): number {
    return Math.ceil(this.byteLength / 4) * 4;
  }

  get released(): boolean {
    return this.#released;
  }

  /** "x f32[2, 3]" for messages. */
  describe(): string {
    return `${this.label} ${this.dtype}${fmtShape(this.shape)}`;
  }

  /** Submits pending work and copies the data back. */
  read(): Promise<TypedArrayOf<D>> {
    return this.gpu.read(this);
  }

  /** Overwrites the contents (flushes pending work first so earlier commands see the old data). */
  write(data: ArrayLike<number>): void {
    this.gpu.write(this, data);
  }

  /** A view with another shape over the same buffer (same element count). */
  reshape(shape: readonly number[]): Tensor<D> {
    checkShape(shape, 'reshape');
    if (numel(shape) !== this.size) {
      throw new RangeError(`reshape ${this.describe()}: ${fmtShape(shape)} has ${numel(shape)} elements, expected ${this.size}`);
    }
    return new Tensor(this.gpu, this.buffer, shape, this.dtype, this.label);
  }

  /** Returns the buffer to the pool. Using the tensor afterwards is an error. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.gpu.pool.release(this.buffer);
  }
}
