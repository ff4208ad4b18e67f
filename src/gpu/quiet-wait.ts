// Waiting for the GPU without spinning a CPU core.
//
// Dawn's Node binding (npm `webgpu`) delivers the result of every async call
// (queue.onSubmittedWorkDone, buffer.mapAsync) from a loop that re-schedules
// itself with the global setImmediate for as long as one is pending, so the
// main thread spins at 100% while the GPU works. On a software adapter
// (lavapipe) the GPU *is* the CPU: on a 2-core machine that spinning thread
// takes a core from the shader threads. Measured there: 1024³ matmul at
// 15-17 GFLOP/s while spinning, 26 with this wait (bench/NOTES.md).
//
// The binding looks setImmediate up on the global object each time it
// re-schedules, so while at least one of our waits is in flight we replace it
// with a version that polls immediately for the first POLL_FAST_MS (short
// waits stay short) and then every POLL_EVERY_MS with a timer. Anything else
// that calls setImmediate during such a wait runs up to POLL_EVERY_MS later;
// the order of callbacks is kept.
//
// Bun's bun-webgpu ticks Dawn the same way (a global setImmediate loop while a
// promise is pending), so Bun gets the same wait: measured on the 2-core
// machine, tiny-decoder embedding went from 316-356 to 470-505 texts/s with
// the loop throttled. Browsers and Deno deliver WebGPU results themselves:
// there this is a plain await.

import { isBun, isNode } from '../runtime.ts';

const POLL_FAST_MS = 0.5;
const POLL_EVERY_MS = 1;

type Immediate = typeof setImmediate;

let waiting = 0;
let original: Immediate | null = null;
let since = 0;

// Timers the throttle handed out in place of immediates: clearImmediate on one
// of them must clear the timer (Node's clearImmediate on a Timeout corrupts
// its immediate queue), so clearImmediate is wrapped once, for good.
const timers = new WeakSet<object>();
let clearWrapped = false;

function throttled(original: Immediate): Immediate {
  const f = (callback: (...args: unknown[]) => void, ...args: unknown[]) => {
    if (performance.now() - since < POLL_FAST_MS) return original(callback, ...args);
    const t = setTimeout(callback, POLL_EVERY_MS, ...args);
    timers.add(t);
    return t;
  };
  return f as unknown as Immediate;
}

function wrapClearImmediate(): void {
  if (clearWrapped) return;
  clearWrapped = true;
  const clear = globalThis.clearImmediate;
  globalThis.clearImmediate = ((handle: unknown) => {
    if (handle !== null && typeof handle === 'object' && timers.has(handle)) clearTimeout(handle as ReturnType<typeof setTimeout>);
    else clear(handle as Parameters<typeof clear>[0]);
  }) as typeof clearImmediate;
}

/** Node (Dawn's binding) and Bun (bun-webgpu) poll WebGPU from a setImmediate loop; Deno has setImmediate too but no such loop. */
function pollsWithSetImmediate(): boolean {
  return (isNode() || isBun()) && typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function';
}

/** Awaits `p` (a Dawn promise) without keeping a CPU core busy meanwhile. */
export async function quietWait<T>(p: Promise<T>): Promise<T> {
  if (!pollsWithSetImmediate()) return p;
  if (waiting++ === 0) {
    wrapClearImmediate();
    original = globalThis.setImmediate;
    since = performance.now();
    globalThis.setImmediate = throttled(original);
  }
  try {
    return await p;
  } finally {
    if (--waiting === 0 && original) {
      globalThis.setImmediate = original;
      original = null;
    }
  }
}
