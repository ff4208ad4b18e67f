// Device acquisition. Browsers and Deno (--unstable-webgpu) have
// navigator.gpu; in Node the `webgpu` package (Dawn) provides the GPU object,
// in Bun the `bun-webgpu` package (Dawn through Bun's FFI; install it beside
// lco-webgpu). Any runtime can pass its own GPU object as `options.gpu`.
//
// We ask for the adapter's real limits (the defaults are far lower: 128 MiB
// storage bindings, 16 KiB workgroup memory) and for every optional feature in
// WANTED_FEATURES that the adapter has.
//
// Dawn's native code prints two notices about clamped limits at the first
// adapter request of an instance; in Node they are filtered out of stderr
// (driver-stderr.ts; LCO_DRIVER_LOG=1 shows them).

import { isBun, isNode } from '../runtime.ts';
import { DRIVER_LOG_ENV, filterDriverStderr, nodeDriverStderrEnv } from './driver-stderr.ts';

export const WANTED_FEATURES: readonly GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

export interface AcquireOptions {
  /** A GPU object to use instead of Dawn / navigator.gpu. */
  gpu?: GPU;
  /** Options passed to Dawn's create() in Node (e.g. "backend=vulkan"). */
  dawnOptions?: string[];
  powerPreference?: GPUPowerPreference;
}

export interface Acquired {
  adapter: GPUAdapter;
  device: GPUDevice;
  /** Drops our reference to Dawn's instance so Node can exit. */
  release: () => void;
}

// Dawn's instance keeps Node's event loop alive for as long as it is referenced.
let dawnInstance: GPU | null = null;
let dawnUsers = 0;

async function dawnGpu(options: string[]): Promise<GPU> {
  if (!dawnInstance) {
    const { create, globals } = (await import('webgpu')) as { create: (o: string[]) => GPU; globals: object };
    // GPUBufferUsage and friends, where the runtime has none.
    for (const [k, v] of Object.entries(globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    dawnInstance = create(options);
  }
  return dawnInstance;
}

/** Dawn's requestAdapter, with its native limit notices kept off stderr (driver-stderr.ts). */
async function dawnRequestAdapter(gpu: GPU, request: GPURequestAdapterOptions): Promise<GPUAdapter | null> {
  return filterDriverStderr(await nodeDriverStderrEnv(), () => gpu.requestAdapter(request));
}

/** bun-webgpu's GPU object: it installs navigator.gpu (and GPUBufferUsage and friends). */
async function bunGpu(): Promise<GPU> {
  let mod: { setupGlobals: () => void };
  try {
    mod = (await import('bun-webgpu' as string)) as { setupGlobals: () => void };
  } catch (err) {
    throw new Error(`No WebGPU in Bun without the bun-webgpu package (npm install bun-webgpu), or pass options.gpu: ${(err as Error).message}`);
  }
  mod.setupGlobals();
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new Error('bun-webgpu loaded but navigator.gpu is still missing; pass options.gpu');
  return gpu;
}

export async function acquireDevice(options: AcquireOptions = {}): Promise<Acquired> {
  let gpu = options.gpu;
  let usesDawn = false;
  if (!gpu) {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (nav?.gpu) gpu = nav.gpu;
    else if (isBun()) gpu = await bunGpu();
    else if (isNode()) {
      gpu = await dawnGpu(options.dawnOptions ?? []);
      usesDawn = true;
    } else {
      throw new Error('No WebGPU in this runtime: navigator.gpu is missing; pass options.gpu');
    }
  }
  if (usesDawn) dawnUsers++;
  const release = () => {
    if (!usesDawn) return;
    usesDawn = false;
    if (--dawnUsers === 0) dawnInstance = null;
  };

  const request = { powerPreference: options.powerPreference ?? 'high-performance' } as const;
  const adapter = await (usesDawn ? dawnRequestAdapter(gpu, request) : gpu.requestAdapter(request));
  if (!adapter) {
    release();
    throw new Error(
      'No WebGPU adapter found. On Debian 12 run `bash scripts/setup-webgpu.sh` as root ' +
        '(installs Mesa lavapipe from bookworm-backports); elsewhere install a Vulkan driver.' +
        (usesDawn ? ` ${DRIVER_LOG_ENV}=1 shows what the driver printed.` : ''),
    );
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  // GPUSupportedLimits' fields are getters on the prototype, so walk it.
  for (const key of limitNames(adapter.limits)) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') requiredLimits[key] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'lco-webgpu' });
  } catch (err) {
    release();
    throw new Error(`requestDevice failed: ${(err as Error).message}`);
  }
  return { adapter, device, release };
}

export function limitNames(limits: GPUSupportedLimits): string[] {
  const names = new Set<string>();
  for (let o: object | null = limits; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const k of Object.getOwnPropertyNames(o)) if (k !== 'constructor') names.add(k);
  }
  return [...names].filter((k) => typeof (limits as unknown as Record<string, unknown>)[k] === 'number').sort();
}

export function describeAdapter(adapter: GPUAdapter): string {
  return describeAdapterInfo(adapter.info);
}

export function describeAdapterInfo(i: GPUAdapterInfo | undefined): string {
  const parts = [i?.vendor, i?.architecture, i?.device, i?.description].filter((s) => s && s.length > 0);
  return parts.length > 0 ? parts.join(' / ') : '(adapter without info)';
}
