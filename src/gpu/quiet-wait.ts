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
// the order of callbacks is kept. Outside Node (browsers, Deno, Bun) this is a
// plain await.

const POLL_FAST_MS = 0.5;
const POLL_EVERY_MS = 1;

type Immediate = typeof setImmediate;

let waiting = 0;
let original: Immediate | null = null;
let since = 0;

function throttled(original: Immediate): Immediate {
  const f = (callback: (...args: unknown[]) => void, ...args: unknown[]) => {
    if (performance.now() - since < POLL_FAST_MS) return original(callback, ...args);
    return setTimeout(callback, POLL_EVERY_MS, ...args);
  };
  return f as unknown as Immediate;
}

function isNodeWithDawn(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown; Bun?: unknown; setImmediate?: unknown };
  return Boolean(g.process?.versions?.node) && !g.Deno && !g.Bun && typeof g.setImmediate === 'function';
}

/** Awaits `p` (a Dawn promise) without keeping a CPU core busy meanwhile. */
export async function quietWait<T>(p: Promise<T>): Promise<T> {
  if (!isNodeWithDawn()) return p;
  if (waiting++ === 0) {
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
