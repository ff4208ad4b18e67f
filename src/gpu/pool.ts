// Buffer pool: storage buffers are recycled by size class so that a training
// step that allocates the same tensors every time allocates nothing after the
// first step. Size classes are 2^k and 1.5 * 2^k bytes (at most 33% slack).
//
// Reuse inside one recorded-but-unsubmitted step is safe: WebGPU runs the
// dispatches of a queue in order and synchronises storage writes between
// dispatches. Gpu.write() flushes pending work before queue.writeBuffer, so a
// recycled buffer is never overwritten under a command that still reads it.

export interface PoolStats {
  /** Bytes in buffers handed out and not yet released. */
  liveBytes: number;
  /** Highest liveBytes seen since creation or resetPeak(). */
  peakLiveBytes: number;
  /** Bytes held idle in free lists. */
  freeBytes: number;
  /** Buffers created on the device so far. */
  created: number;
}

export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 4) * 4);
  const p = 2 ** Math.floor(Math.log2(b));
  if (b === p) return p;
  if (b <= p * 1.5) return p * 1.5;
  return p * 2;
}

export class BufferPool {
  readonly #free = new Map<number, GPUBuffer[]>();
  readonly #live = new Set<GPUBuffer>();
  #stats: PoolStats = { liveBytes: 0, peakLiveBytes: 0, freeBytes: 0, created: 0 };

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, label: string): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.#free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.#stats.freeBytes -= size;
    } else {
      buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.#stats.created++;
    }
    buffer.label = label;
    this.#live.add(buffer);
    this.#stats.liveBytes += size;
    this.#stats.peakLiveBytes = Math.max(this.#stats.peakLiveBytes, this.#stats.liveBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.#live.delete(buffer)) return; // not ours, or released twice
    const size = buffer.size;
    this.#stats.liveBytes -= size;
    this.#stats.freeBytes += size;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, (list = []));
    list.push(buffer);
  }

  /**
   * Destroys idle buffers (the live ones stay). Idle buffers may still be
   * used by recorded, unsubmitted commands: call Gpu.trim(), which submits first.
   */
  trim(): void {
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
    this.#stats.freeBytes = 0;
  }

  resetPeak(): void {
    this.#stats.peakLiveBytes = this.#stats.liveBytes;
  }

  stats(): PoolStats {
    return { ...this.#stats };
  }

  destroyAll(): void {
    this.trim();
    for (const b of this.#live) b.destroy();
    this.#live.clear();
    this.#stats.liveBytes = 0;
  }
}

/**
 * Read-back staging buffers (MAP_READ | COPY_DST), kept by size class like the
 * storage pool, so repeated reads (a training step's loss, an embedding
 * batch) create no buffer after the first. At most KEEP idle per class; a
 * buffer handed back still mapped (a read that failed half-way) is destroyed.
 */
export class StagingPool {
  static readonly KEEP = 4;
  readonly #free = new Map<number, GPUBuffer[]>();
  /** Staging buffers created so far. */
  created = 0;

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const kept = this.#free.get(size)?.pop();
    if (kept) return kept;
    this.created++;
    return this.device.createBuffer({ size, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */, label: `read staging ${size}` });
  }

  release(buffer: GPUBuffer): void {
    const list = this.#free.get(buffer.size) ?? [];
    if (buffer.mapState !== 'unmapped' || list.length >= StagingPool.KEEP) {
      buffer.destroy();
      return;
    }
    list.push(buffer);
    this.#free.set(buffer.size, list);
  }

  /** Destroys the idle buffers. */
  trim(): void {
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
  }
}
