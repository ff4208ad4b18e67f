// Uniform parameters of one step: every dispatch's Params struct is packed
// into a few arena buffers at aligned offsets, and each arena is uploaded with
// one writeBuffer just before the step's submit. queue.writeBuffer runs in
// queue order, after the previous submit, so reusing an arena for the next
// step never changes what an earlier step reads.

const UNIFORM = 0x40;
const COPY_DST = 0x8;
const ARENA_BYTES = 64 * 1024;

class Arena {
  readonly cpu = new Uint8Array(ARENA_BYTES);
  used = 0;
  constructor(readonly buffer: GPUBuffer) {}
}

export class UniformArenas {
  #arenas: Arena[] = [];
  #current = 0;

  /** Arena buffers created so far (they are reused from step to step). */
  get created(): number {
    return this.#arenas.length;
  }

  constructor(
    private readonly device: GPUDevice,
    /** minUniformBufferOffsetAlignment */
    private readonly align: number,
  ) {}

  /** Places a uniform struct; returns the binding range. */
  place(bytes: Uint8Array): { buffer: GPUBuffer; offset: number; size: number } {
    if (bytes.length > ARENA_BYTES) throw new RangeError(`uniform struct of ${bytes.length} bytes exceeds the arena (${ARENA_BYTES})`);
    let arena = this.#arenas[this.#current];
    if (arena && arena.used + bytes.length > ARENA_BYTES) arena = this.#arenas[++this.#current];
    if (!arena) {
      arena = new Arena(this.device.createBuffer({ size: ARENA_BYTES, usage: UNIFORM | COPY_DST, label: 'uniform arena' }));
      this.#arenas[this.#current] = arena;
    }
    const offset = arena.used;
    arena.cpu.set(bytes, offset);
    arena.used = Math.ceil((offset + bytes.length) / this.align) * this.align;
    return { buffer: arena.buffer, offset, size: bytes.length };
  }

  /** Uploads this step's uniforms (call just before submit) and starts afresh. */
  upload(): void {
    for (let i = 0; i <= this.#current && i < this.#arenas.length; i++) {
      const a = this.#arenas[i];
      if (a.used > 0) this.device.queue.writeBuffer(a.buffer, 0, a.cpu, 0, a.used);
      a.used = 0;
    }
    this.#current = 0;
  }

  destroy(): void {
    for (const a of this.#arenas) a.buffer.destroy();
    this.#arenas = [];
  }
}
