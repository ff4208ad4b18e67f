// Uniform parameters of a dispatch: a flat struct of 4-byte scalars (u32, i32,
// f32), written in the same order as the WGSL `struct Params` of the kernel.
// Only scalars, so WGSL's uniform layout has no padding between fields.

export class Params {
  #view = new DataView(new ArrayBuffer(256));
  #bytes = 0;

  #next(): number {
    const at = this.#bytes;
    if (at + 4 > this.#view.byteLength) {
      const grown = new DataView(new ArrayBuffer(this.#view.byteLength * 2));
      new Uint8Array(grown.buffer).set(new Uint8Array(this.#view.buffer));
      this.#view = grown;
    }
    this.#bytes += 4;
    return at;
  }

  u32(...values: number[]): this {
    for (const v of values) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`Params.u32: ${v} is not a u32`);
      this.#view.setUint32(this.#next(), v, true);
    }
    return this;
  }

  i32(...values: number[]): this {
    for (const v of values) {
      if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`Params.i32: ${v} is not an i32`);
      this.#view.setInt32(this.#next(), v, true);
    }
    return this;
  }

  f32(...values: number[]): this {
    for (const v of values) this.#view.setFloat32(this.#next(), v, true);
    return this;
  }

  /** The struct bytes, padded to 16 (the uniform address space's struct alignment). */
  bytes(): Uint8Array {
    const padded = Math.max(16, Math.ceil(this.#bytes / 16) * 16);
    return new Uint8Array(this.#view.buffer, 0, padded);
  }
}

export function params(): Params {
  return new Params();
}
