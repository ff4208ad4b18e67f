// The Gpu: one device, its buffer pool, pipeline cache and the command
// encoder of the step being recorded.
//
// Ops record dispatches with gpu.dispatch(); nothing is submitted until
// flush(), read() or sync(). A training step is therefore one submit. Every
// dispatch of a step is labelled ("matmul A f32[64, 32] ..."); WebGPU errors
// raised while the step was recorded or run are collected in error scopes and
// thrown at the next read()/sync() as a GpuError that names those labels.
// Device loss rejects every pending read instead of hanging.
import { acquireDevice, describeAdapterInfo, type AcquireOptions } from './device.ts';
import { DeviceLostError, GpuError, OpInputError, fmtShape } from './errors.ts';
import { KERNEL_FILES, kernelSource } from './kernel-source.ts';
import { BufferPool, StagingPool } from './pool.ts';
import { f16BitsToNumber, numberToF16Bits } from '../io/dtypes.ts';
import { quietWait } from './quiet-wait.ts';
import { PipelineCache } from './pipelines.ts';
import { UniformArenas } from './uniforms.ts';
import { params, type Params } from './params.ts';
import { BYTES_PER_ELEMENT, Tensor, checkShape, numel, type DType, type TypedArrayOf } from './tensor.ts';

const COPY_DST = 0x8;
const COPY_SRC = 0x4;
const MAP_READ = 0x1;
const QUERY_RESOLVE = 0x200;

export interface Dispatch {
  /** File in kernels/, without .wgsl. */
  kernel: string;
  /** Entry point; default "main". */
  entry?: string;
  /** Values for the kernel's `override` declarations (part of the pipeline cache key). */
  constants?: Record<string, number | boolean | string>;
  /** Uniform struct at @binding(0), when the kernel has one. */
  params?: Params;
  /** Read-only storage bindings, in binding order after the uniform. */
  inputs: Tensor[];
  /** Read-write storage bindings, after the inputs. */
  outputs: Tensor[];
  /** Workgroup counts. */
  workgroups: readonly [number, number?, number?];
  /** Names the op and its shapes in error messages. */
  label: string;
}

interface PendingStep {
  labels: string[];
  scopes: Promise<(GPUError | null)[]>;
}

export class Gpu {
  readonly pool: BufferPool;
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  readonly adapterName: string;
  /**
   * A CPU implementation (lavapipe / llvmpipe, SwiftShader): it runs a
   * workgroup's invocations as SIMD lanes, which changes which kernel shapes
   * are fast (see kernels/matmul.wgsl).
   */
  readonly isCpuAdapter: boolean;
  /**
   * The subgroup size when the device has `subgroups` and the adapter reports
   * one fixed size (lavapipe: 8, the SIMD width); otherwise null. Kernels
   * that assume a workgroup is one subgroup check this.
   */
  readonly subgroupSize: number | null;

  #sources = new Map<string, string>();
  #pipelines: PipelineCache;
  #uniforms: UniformArenas;
  #staging: StagingPool;

  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #labels: string[] = [];
  #pending: PendingStep[] = [];
  #uncaptured: string[] = [];
  #lost: string | null = null;
  #lostPromise: Promise<never>;
  #release: () => void;
  #destroyed = false;

  #profile: { querySet: GPUQuerySet; names: string[]; labels: string[]; capacity: number } | null = null;

  /**
   * Overrides of per-adapter kernel choices, for tests that check every
   * layout on one machine (rowWorkgroup: see rowWorkgroupSize; rowPerLane:
   * RMSNorm's one-row-per-invocation layout, default on CPU adapters).
   */
  readonly tuning: { rowWorkgroup?: number; rowPerLane?: boolean } = {};

  /** Dispatches recorded since creation (for the benchmark's per-step counts). */
  dispatchCount = 0;
  submitCount = 0;

  private constructor(
    info: GPUAdapterInfo | undefined,
    readonly device: GPUDevice,
    release: () => void,
    /** False for a device the caller handed in (fromDevice): destroy() leaves it alive. */
    readonly ownsDevice: boolean,
  ) {
    this.#release = release;
    this.pool = new BufferPool(device);
    this.#pipelines = new PipelineCache(device, this.#sources);
    this.#uniforms = new UniformArenas(device, device.limits.minUniformBufferOffsetAlignment);
    this.#staging = new StagingPool(device);
    this.limits = device.limits;
    this.features = new Set([...device.features].map(String));
    this.adapterName = describeAdapterInfo(info);
    const sg = (info ?? {}) as Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean; subgroupMinSize?: number; subgroupMaxSize?: number };
    this.subgroupSize = this.features.has('subgroups') && sg.subgroupMinSize && sg.subgroupMinSize === sg.subgroupMaxSize ? sg.subgroupMinSize : null;
    this.isCpuAdapter = Boolean(sg.isFallbackAdapter) || /llvmpipe|lavapipe|swiftshader|software/i.test(this.adapterName);
    this.#lostPromise = device.lost.then((info) => {
      this.#lost = `${info.reason}: ${info.message}`;
      throw new DeviceLostError(`GPU device lost (${this.#lost})`);
    });
    this.#lostPromise.catch(() => {}); // observed by reads; never an unhandled rejection
    device.addEventListener('uncapturederror', (ev) => {
      this.#uncaptured.push((ev as GPUUncapturedErrorEvent).error.message);
    });
  }

  /** A Gpu on a device of its own: Dawn in Node, navigator.gpu elsewhere, or options.gpu (device.ts). */
  static async create(options: AcquireOptions = {}): Promise<Gpu> {
    const { adapter, device, release } = await acquireDevice(options);
    return Gpu.#withKernels(new Gpu(adapter.info, device, release, true));
  }

  /**
   * A Gpu on a device the caller made (e.g. to share it with a renderer).
   * Features and limits are the device's: request 'subgroups' / 'shader-f16'
   * and the adapter's limits to get the fast kernels. destroy() frees our
   * buffers and leaves the device alive. `adapterInfo` is read from the
   * device when the runtime has GPUDevice.adapterInfo.
   */
  static async fromDevice(device: GPUDevice, adapterInfo?: GPUAdapterInfo): Promise<Gpu> {
    const info = adapterInfo ?? (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return Gpu.#withKernels(new Gpu(info, device, () => {}, false));
  }

  static async #withKernels(gpu: Gpu): Promise<Gpu> {
    try {
      for (const name of KERNEL_FILES) gpu.#sources.set(name, await kernelSource(name));
    } catch (err) {
      gpu.destroy();
      throw err;
    }
    return gpu;
  }

  get isLost(): boolean {
    return this.#lost !== null;
  }

  hasFeature(name: string): boolean {
    return this.features.has(name);
  }

  // ---------------------------------------------------------------- tensors

  /** An uninitialised tensor (contents are whatever the pooled buffer held). */
  empty<D extends DType = 'f32'>(shape: readonly number[], dtype: D = 'f32' as D, label = 'tensor'): Tensor<D> {
    this.#assertUsable();
    checkShape(shape, label);
    if (dtype === 'f16' && !this.hasFeature('shader-f16')) {
      throw new OpInputError(`${label}: f16 tensors need the adapter feature shader-f16, which ${this.adapterName} lacks`);
    }
    const bytes = Math.ceil((numel(shape) * BYTES_PER_ELEMENT[dtype]) / 4) * 4;
    const max = this.limits.maxBufferSize;
    if (bytes > max) {
      throw new OpInputError(`${label}: ${dtype}${fmtShape(shape)} needs ${bytes} bytes, over the adapter's maxBufferSize ${max}`);
    }
    return new Tensor(this, this.pool.acquire(bytes, label), shape, dtype, label);
  }

  /** A tensor holding `data` (uploaded now; flushes pending work first, see write()). */
  tensor<D extends DType = 'f32'>(data: ArrayLike<number>, shape: readonly number[], dtype: D = 'f32' as D, label = 'tensor'): Tensor<D> {
    const t = this.empty(shape, dtype, label);
    try {
      this.write(t, data);
    } catch (err) {
      t.release();
      throw err;
    }
    return t;
  }

  zeros<D extends DType = 'f32'>(shape: readonly number[], dtype: D = 'f32' as D, label = 'zeros'): Tensor<D> {
    const t = this.empty(shape, dtype, label);
    this.fill(t, 0);
    return t;
  }

  /** Records a clear to a constant (0 uses clearBuffer; others a fill kernel). */
  fill(t: Tensor, value: number): void {
    if (value === 0 && !Object.is(value, -0)) {
      this.#endPass();
      this.#encoderNow().clearBuffer(t.buffer, 0, t.paddedByteLength);
      return;
    }
    if (t.dtype === 'f16') throw new OpInputError(`fill ${t.describe()}: only 0 can fill an f16 tensor (write() converts other values)`);
    this.dispatch({
      kernel: 'elementwise',
      entry: t.dtype === 'f32' ? 'fill_f32' : 'fill_u32',
      params: params().u32(t.size).f32(t.dtype === 'f32' ? value : 0).u32(t.dtype === 'f32' ? 0 : value >>> 0),
      inputs: [],
      outputs: [t],
      workgroups: grid1d(t.size, 256, this),
      label: `fill ${t.describe()} with ${value}`,
    });
  }

  /**
   * Overwrites a tensor's data. If commands are recorded but not submitted they
   * are submitted first: queue.writeBuffer runs before any later submit, so it
   * must not overtake commands recorded earlier that still read this buffer.
   */
  write(t: Tensor, data: ArrayLike<number>): void {
    this.#assertUsable();
    if (data.length !== t.size) {
      throw new OpInputError(`write ${t.describe()}: got ${data.length} values, expected ${t.size}`);
    }
    if (this.#encoder) this.flush();
    const typed = toTyped(data, t.dtype);
    this.device.queue.writeBuffer(t.buffer, 0, typed.buffer, typed.byteOffset, typed.byteLength);
  }

  // --------------------------------------------------------------- dispatch

  dispatch(d: Dispatch): void {
    this.#assertUsable();
    const maxBinding = this.limits.maxStorageBufferBindingSize;
    for (const t of [...d.inputs, ...d.outputs]) {
      if (t.released) throw new OpInputError(`${d.label}: ${t.describe()} was released`);
      if (t.gpu !== this) throw new OpInputError(`${d.label}: ${t.describe()} belongs to another Gpu`);
      if (t.byteLength > maxBinding) {
        throw new OpInputError(
          `${d.label}: ${t.describe()} is ${t.byteLength} bytes, over the adapter's maxStorageBufferBindingSize ${maxBinding}`,
        );
      }
    }
    // WebGPU refuses a buffer bound writable and also bound anywhere else in
    // the same dispatch (in place needs an entry point that binds it once).
    const bound = [...d.inputs, ...d.outputs];
    d.outputs.forEach((o, k) => {
      const at = d.inputs.length + k;
      const other = bound.find((t, i) => i !== at && t.buffer === o.buffer);
      if (other) {
        throw new OpInputError(`${d.label}: output ${o.describe()} is also bound as ${other.describe()} (in place is not supported here); use a separate output`);
      }
    });
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = d.workgroups;
    if (x > maxGroups || y > maxGroups || z > maxGroups) {
      throw new OpInputError(`${d.label}: grid [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension ${maxGroups}`);
    }
    if (x === 0 || y === 0 || z === 0) return; // empty tensors: nothing to do

    const hasUniform = d.params !== undefined;
    // Pipeline creation happens inside the step's error scopes: a compile or
    // layout error surfaces at the next read()/sync() with this pipeline's label.
    this.#encoderNow();
    const { pipeline, layout } = this.#pipelines.get(d.kernel, d.entry ?? 'main', d.constants ?? {}, {
      uniform: hasUniform,
      inputs: d.inputs.length,
      outputs: d.outputs.length,
    });

    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    if (hasUniform) entries.push({ binding: binding++, resource: this.#uniforms.place(d.params!.bytes()) });
    for (const t of bound) {
      entries.push({ binding: binding++, resource: { buffer: t.buffer, offset: 0, size: Math.max(4, t.paddedByteLength) } });
    }
    const bindGroup = this.device.createBindGroup({ layout, entries, label: d.label });
    const profile = this.#profile && this.#profile.names.length < this.#profile.capacity ? this.#profile : null;
    if (profile) {
      // One pass per dispatch, with timestamps at its start and end.
      this.#endPass();
      const at = 2 * profile.names.length;
      this.#pass = this.#encoder!.beginComputePass({
        label: d.label,
        timestampWrites: { querySet: profile.querySet, beginningOfPassWriteIndex: at, endOfPassWriteIndex: at + 1 },
      });
      profile.names.push(`${d.kernel}.${d.entry ?? 'main'}`);
      profile.labels.push(d.label);
    }
    const pass = this.#passNow();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (profile) this.#endPass();
    this.#labels.push(d.label);
    this.dispatchCount++;
  }

  /** Records a buffer copy (whole tensor unless sizes are given, in elements). */
  copy(src: Tensor, dst: Tensor, count = src.size, srcOffset = 0, dstOffset = 0): void {
    const b = BYTES_PER_ELEMENT[src.dtype];
    if (src.dtype !== dst.dtype || srcOffset + count > src.size || dstOffset + count > dst.size) {
      throw new OpInputError(`copy ${src.describe()} -> ${dst.describe()}: ${count} elements at ${srcOffset} -> ${dstOffset} out of range or dtypes differ`);
    }
    if ((srcOffset * b) % 4 || (dstOffset * b) % 4 || (count * b) % 4) {
      throw new OpInputError(`copy ${src.describe()} -> ${dst.describe()}: offsets and length must be whole 4-byte words (${count} ${src.dtype} at ${srcOffset} -> ${dstOffset})`);
    }
    this.#endPass();
    this.#encoderNow().copyBufferToBuffer(src.buffer, srcOffset * b, dst.buffer, dstOffset * b, count * b);
    this.#labels.push(`copy ${src.describe()} -> ${dst.describe()}`);
  }

  // ----------------------------------------------------------- submit, read

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    if (!this.#encoder) return;
    this.#endPass();
    this.#uniforms.upload();
    const cb = this.#encoder.finish({ label: 'lco step' });
    this.device.queue.submit([cb]);
    this.submitCount++;
    const labels = this.#labels;
    const scopes = Promise.all([this.device.popErrorScope(), this.device.popErrorScope(), this.device.popErrorScope()]);
    scopes.catch(() => {});
    this.#pending.push({ labels, scopes });
    this.#encoder = null;
    this.#labels = [];
  }

  /** Submits, waits for the GPU, and throws any error the submitted steps raised. */
  async sync(): Promise<void> {
    this.flush();
    await this.#race(this.device.queue.onSubmittedWorkDone());
    await this.#checkErrors();
  }

  /** Copies a tensor back (submitting pending work in the same command buffer). */
  async read<D extends DType>(t: Tensor<D>): Promise<TypedArrayOf<D>> {
    this.#assertUsable();
    if (t.released) throw new OpInputError(`read: ${t.describe()} was released`);
    const bytes = Math.max(4, t.paddedByteLength);
    const staging = this.#staging.acquire(bytes);
    this.#endPass();
    this.#encoderNow().copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
    this.#labels.push(`read ${t.describe()}`);
    this.flush();
    try {
      await this.#race(staging.mapAsync(MAP_READ));
      await this.#checkErrors();
      const copy = staging.getMappedRange().slice(0, t.byteLength);
      staging.unmap();
      if (t.dtype === 'f16') return Float32Array.from(new Uint16Array(copy), f16BitsToNumber) as TypedArrayOf<D>;
      return (t.dtype === 'f32' ? new Float32Array(copy) : t.dtype === 'i32' ? new Int32Array(copy) : new Uint32Array(copy)) as TypedArrayOf<D>;
    } finally {
      this.#staging.release(staging);
    }
  }

  /**
   * GPU buffers this Gpu has created: pooled tensors, read-back staging and
   * uniform arenas. A training or embedding step after the first creates none.
   */
  get buffersCreated(): number {
    return this.pool.stats().created + this.#staging.created + this.#uniforms.created;
  }

  /**
   * GPU time of the work recorded by `record`, in milliseconds, from timestamp
   * queries around one compute pass (null when the adapter lacks timestamp-query).
   */
  async timeGpu(record: () => void): Promise<number | null> {
    if (!this.hasFeature('timestamp-query')) {
      record();
      await this.sync();
      return null;
    }
    this.flush();
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 });
    this.#encoderNow();
    this.#pass = this.#encoder!.beginComputePass({
      timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    });
    record();
    this.#endPass();
    try {
      const [t0, t1] = await this.#readTimestamps(querySet, 2);
      return Number(t1 - t0) / 1e6;
    } finally {
      querySet.destroy();
    }
  }

  /** Records the resolve of `count` timestamps, submits, and reads them back (ns). */
  async #readTimestamps(querySet: GPUQuerySet, count: number): Promise<BigUint64Array> {
    const bytes = Math.max(16, 8 * count);
    const resolve = this.device.createBuffer({ size: bytes, usage: QUERY_RESOLVE | COPY_SRC });
    const readBuf = this.device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    try {
      if (count > 0) {
        this.#endPass();
        this.#encoderNow().resolveQuerySet(querySet, 0, count, resolve, 0);
        this.#encoder!.copyBufferToBuffer(resolve, 0, readBuf, 0, bytes);
      }
      this.flush();
      await this.#race(readBuf.mapAsync(MAP_READ));
      await this.#checkErrors();
      const stamps = new BigUint64Array(readBuf.getMappedRange().slice(0));
      readBuf.unmap();
      return stamps;
    } finally {
      resolve.destroy();
      readBuf.destroy();
    }
  }

  /**
   * Starts a per-kernel GPU-time profile (needs timestamp-query): each of the
   * next `capacity` dispatches runs in its own pass between two timestamps.
   * Separate passes add a little time of their own; use it to see where a
   * step's time goes, not for throughput figures.
   */
  profileBegin(capacity = 2048): void {
    if (!this.hasFeature('timestamp-query')) throw new OpInputError('profileBegin: this adapter has no timestamp-query feature');
    if (this.#profile) throw new OpInputError('profileBegin: a profile is already running');
    if (!(capacity >= 1 && capacity <= 2048)) throw new OpInputError(`profileBegin: capacity ${capacity} must be 1..2048 (a query set holds at most 4096 timestamps)`);
    this.flush();
    this.#profile = { querySet: this.device.createQuerySet({ type: 'timestamp', count: 2 * capacity }), names: [], labels: [], capacity };
  }

  /**
   * Ends the profile: GPU milliseconds and dispatch count per kernel entry
   * point (or per dispatch label, which names the shapes), slowest first.
   */
  async profileEnd(by: 'entry' | 'label' = 'entry'): Promise<{ name: string; ms: number; count: number }[]> {
    const profile = this.#profile;
    if (!profile) throw new OpInputError('profileEnd: no profile is running (call profileBegin first)');
    this.#profile = null;
    try {
      const stamps = await this.#readTimestamps(profile.querySet, 2 * profile.names.length);
      return profileRows(by === 'entry' ? profile.names : profile.labels, stamps);
    } finally {
      profile.querySet.destroy();
    }
  }

  /** Submits pending work, then destroys the pool's idle buffers and kept read-back buffers. */
  trim(): void {
    this.flush();
    this.pool.trim();
    this.#staging.trim();
  }

  /** Frees every buffer and the device, and lets the process exit. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#encoder = null;
    this.#pass = null;
    this.pool.destroyAll();
    this.#staging.trim();
    this.#uniforms.destroy();
    if (this.ownsDevice) this.device.destroy();
    this.#release();
  }

  // -------------------------------------------------------------- internals

  #assertUsable(): void {
    if (this.#destroyed) throw new DeviceLostError('this Gpu was destroyed');
    if (this.#lost) throw new DeviceLostError(`GPU device lost (${this.#lost})`);
  }

  /** Awaits a Dawn promise (without spinning a core: see quiet-wait.ts), or rejects when the device is lost. */
  #race<T>(p: Promise<T>): Promise<T> {
    return quietWait(Promise.race([p, this.#lostPromise]));
  }

  async #checkErrors(): Promise<void> {
    const pending = this.#pending;
    this.#pending = [];
    const messages: string[] = [];
    for (const step of pending) {
      const errors = (await step.scopes).filter((e): e is GPUError => e !== null);
      if (errors.length > 0) {
        messages.push(`${errors.map((e) => e.message).join('\n')}\n  in a step with: ${summarise(step.labels)}`);
      }
    }
    messages.push(...this.#uncaptured.splice(0));
    if (messages.length > 0) throw new GpuError(`WebGPU error:\n${messages.join('\n')}`);
  }

  #encoderNow(): GPUCommandEncoder {
    if (!this.#encoder) {
      this.device.pushErrorScope('internal');
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      this.#encoder = this.device.createCommandEncoder({ label: 'lco step' });
    }
    return this.#encoder;
  }

  #passNow(): GPUComputePassEncoder {
    if (!this.#pass) this.#pass = this.#encoderNow().beginComputePass({ label: 'lco pass' });
    return this.#pass;
  }

  #endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

}

/** GPU ms and count per name from [start, end] timestamp pairs (ns), slowest first. */
function profileRows(names: string[], stamps: BigUint64Array): { name: string; ms: number; count: number }[] {
  const byName = new Map<string, { name: string; ms: number; count: number }>();
  names.forEach((name, i) => {
    const row = byName.get(name) ?? { name, ms: 0, count: 0 };
    row.ms += Number(stamps[2 * i + 1] - stamps[2 * i]) / 1e6;
    row.count++;
    byName.set(name, row);
  });
  return [...byName.values()].sort((a, b) => b.ms - a.ms);
}

function summarise(labels: string[]): string {
  if (labels.length <= 8) return labels.join('; ');
  return `${labels.slice(0, 4).join('; ')}; ... ${labels.length - 8} more ...; ${labels.slice(-4).join('; ')}`;
}

function toTyped(data: ArrayLike<number>, dtype: DType): Float32Array | Int32Array | Uint32Array | Uint16Array {
  if (dtype === 'f32') return data instanceof Float32Array ? data : Float32Array.from(data);
  if (dtype === 'f16') {
    const bits = new Uint16Array(Math.ceil(data.length / 2) * 2); // whole 4-byte words for writeBuffer
    for (let i = 0; i < data.length; i++) bits[i] = numberToF16Bits(data[i]);
    return bits;
  }
  if (dtype === 'i32') return data instanceof Int32Array ? data : Int32Array.from(data);
  return data instanceof Uint32Array ? data : Uint32Array.from(data);
}

/**
 * Workgroup size of the row-reduction kernels (one workgroup per row, a tree
 * merge in workgroup memory; their WG const): 256 on GPUs, 8 on CPU adapters.
 * There a workgroup of 8 is one SIMD vector, while 256 makes 32 vectors that
 * switch coroutines at each of the tree's barriers: softmax over
 * [9216, 1024] on lavapipe took 125 ms with 256 and 42 ms with 8.
 */
export function rowWorkgroupSize(gpu: Gpu): number {
  return gpu.tuning.rowWorkgroup ?? (gpu.isCpuAdapter ? 8 : 256);
}

/**
 * Workgroup grid for `n` items at `perGroup` items per workgroup: [x, y] with x
 * within the adapter's per-dimension limit. Kernels rebuild the linear index as
 * (wid.y * num_workgroups.x + wid.x) * perGroup + local index.
 */
export function grid1d(n: number, perGroup: number, gpu: Gpu): [number, number] {
  const groups = Math.ceil(n / perGroup);
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}
