// The benchmark's two timing helpers, both on tinybench. Every wait on the GPU
// goes through the caller's `sync` (gpu.sync() / gpu.read() for us, the tfjs
// peer's sync() for it), which awaits Dawn through quietWait
// (src/gpu/quiet-wait.ts): no side busy-polls a core while the other waits.
//
//   timeBatched  kernels and peaks: `run()` records one call (no submit). One
//                iteration records `batch` calls, then syncs once; `batch` is
//                chosen so an iteration lasts >= 20 ms (at most 64 calls), so
//                submit latency does not dominate small kernels. One warm-up
//                call first (compiles pipelines, fills the pool).
//                Returns ms per call: the mean iteration / batch, and the
//                fastest iteration / batch (the peaks use that one).
//   timeCalls    model, embedding and memory steps: `call()` is one whole step
//                including its wait (sync or read-back). One warm-up call
//                (unless warmup: false), then `afterWarmup` (e.g. reset the pool's
//                peak), then calls until at least minIters and at least minMs.
//                Returns the mean ms per call.
import { Bench } from 'tinybench';

async function runBench(name: string, fn: () => Promise<void>, minMs: number, minIters: number): Promise<{ ms: number; min: number; iters: number }> {
  const bench = new Bench({ time: minMs, iterations: minIters, warmup: false });
  // An `async` function, so tinybench does not call it once to find out whether it returns a promise.
  bench.add(name, async () => {
    await fn();
  });
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`benchmark "${name}" ${r.state}: ${'error' in r ? String(r.error) : ''}`);
  return { ms: r.latency.mean, min: r.latency.min, iters: r.latency.samplesCount };
}

/** ms per call of `run` (records one call), synced in batches: mean and fastest; see the header. */
export async function timeBatched(run: () => void, sync: () => Promise<void>, minMs: number): Promise<{ mean: number; min: number }> {
  run();
  await sync();
  const t0 = performance.now();
  run();
  await sync();
  const once = performance.now() - t0;
  const batch = Math.max(1, Math.min(64, Math.ceil(20 / Math.max(once, 1e-3))));
  const r = await runBench('batch', async () => {
    for (let i = 0; i < batch; i++) run();
    await sync();
  }, minMs, 3);
  return { mean: r.ms / batch, min: r.min / batch };
}

export interface CallTiming {
  /** Mean wall ms per call. */
  ms: number;
  /** Timed calls. */
  iters: number;
}

export interface CallOptions {
  minMs: number;
  /** Default 3. */
  minIters?: number;
  /** One untimed call first; default true. */
  warmup?: boolean;
  /** Runs after the warm-up call, before the timed ones. */
  afterWarmup?: () => void;
}

/** Mean wall ms of `call` (one whole step, its wait included); see the header. */
export async function timeCalls(call: () => Promise<void>, o: CallOptions): Promise<CallTiming> {
  if (o.warmup ?? true) await call();
  o.afterWarmup?.();
  const { ms, iters } = await runBench('call', call, o.minMs, o.minIters ?? 3);
  return { ms, iters };
}
