// The runtimes benchmark's workload (suite `runtimes`, bench/suites/runtimes.ts):
// the same plain ESM file runs in Node, Deno, Bun and Chromium against the
// built package (dist/index.js), like test/runtimes/probe.mjs does for
// correctness, and returns its timings as one JSON-able object.
//
// Phases, in this order, in one process (one page):
//   startup   Gpu.create, Embedder.load of the tiny decoder, and embed() of the
//             first text: the caller turns the wall-clock time of that first
//             result (firstEmbeddingAt, Date.now()) into ms since it started
//             the process / navigation. Pipelines compile here (and the ones
//             the batch of 32 needs, in the throughput warm-up).
//   matmul    f32 C [n, n] = A [n, n] B [n, n] for each n in matmulSizes, seeded
//             inputs in [-1, 1); one untimed call (compiles its pipeline), then
//             calls each timed with performance.now() around matmul() +
//             gpu.sync() (submit and wait for the queue; C stays on the GPU, so
//             no read-back is timed). Median ms; 2 n^3 flops.
//   embed     embed(texts, { prompt: 'none', batchSize }) of all the texts,
//             vectors read back: one untimed call (compiles the pipelines of
//             full batches), then timed calls. Median ms; texts/s = texts / median.
// Timed calls of a case: at least minReps, then more until minMs of timed
// calls or maxReps (config; the suite sets them from --time and --quick).
// With `startupOnly` only the first phase runs (the cold-shader-cache run).
//
// Plain JavaScript on purpose: a browser cannot run TypeScript.
import { deviceSummary } from '../../test/runtimes/runtime-io.mjs';
import * as lco from '../../dist/index.js';

/** mulberry32: a seeded PRNG, the same stream in every runtime. */
function uniform(n, seed) {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** "Node 20.1.0", "Deno 2.1.0", "Bun 1.2.0", "Chrome 120.0.0.0" (from the user agent). */
function runtimeName() {
  const g = globalThis;
  if (g.Deno) return `Deno ${g.Deno.version.deno}`;
  if (g.Bun) return `Bun ${g.Bun.version}`;
  if (g.process?.versions?.node) return `Node ${g.process.versions.node}`;
  const m = /(HeadlessChrome|Chrome|Firefox|Version)\/([\d.]+)/.exec(g.navigator?.userAgent ?? '');
  return m ? `${m[1]} ${m[2]}` : (g.navigator?.userAgent ?? 'unknown');
}

/** Median ms of `once()` over at least minReps calls, then until minMs of them or maxReps. */
async function timeReps(once, { minReps, minMs, maxReps }) {
  const times = [];
  let total = 0;
  while (times.length < minReps || (total < minMs && times.length < maxReps)) {
    const ms = await once();
    times.push(ms);
    total += ms;
  }
  return { ms: median(times), reps: times.length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The matmul planner's choice for C [n, n] = A B on this device (which kernel the numbers are of). */
function matmulKernel(gpu, n) {
  const L = { M: n, N: n, K: n, batch: 1, transA: false, transB: false, lda: n, ldb: n, ldc: n, strideA: 0, strideB: 0, strideC: 0, alpha: 1, beta: 0 };
  const p = lco.planMatmul(L, { a: n * n, b: n * n }, lco.matmulDevice(gpu));
  return `${p.version} ${p.TM}x${p.TN}${p.splits > 1 ? ` split-K ${p.splits}` : ''}`;
}

async function timeMatmul(gpu, n, config) {
  const a = gpu.tensor(uniform(n * n, 1), [n, n]);
  const b = gpu.tensor(uniform(n * n, 2), [n, n]);
  try {
    const once = async () => {
      const t0 = performance.now();
      const c = lco.matmul(gpu, a, b);
      await gpu.sync();
      const ms = performance.now() - t0;
      c.release();
      return ms;
    };
    const firstMs = await once(); // compiles the pipeline
    const { ms, reps } = await timeReps(once, config);
    return { n, kernel: matmulKernel(gpu, n), firstMs, ms, gflops: (2 * n ** 3) / (ms * 1e6), reps };
  } finally {
    a.release();
    b.release();
  }
}

/**
 * Runs the phases (see the header). `model` is the tiny decoder's folder (a
 * path, or a URL in a browser); `config` = { texts, batch, matmulSizes,
 * minReps, minMs, maxReps }; `importedAt` the performance.now() after the
 * package's import.
 */
export async function runBench({ model, config, startupOnly = false, importedAt = null }) {
  const phase = {};
  let t = performance.now();
  const lap = (name) => {
    const now = performance.now();
    phase[name] = now - t;
    t = now;
  };
  const gpu = await lco.Gpu.create();
  lap('device');
  try {
    const embedder = await lco.Embedder.load(model, { gpu, vision: false });
    lap('load');
    try {
      const first = await embedder.embed([config.texts[0]], { prompt: 'none' });
      lap('firstEmbed');
      const firstEmbeddingAt = Date.now();
      const result = {
        runtime: runtimeName(),
        ...deviceSummary(gpu),
        importedAt,
        firstEmbeddingAt,
        // performance.now() at the first result: ms since the runtime's time origin (process start, navigation)
        firstEmbeddingSinceOrigin: performance.now(),
        phaseMs: phase,
        dims: first[0].length,
      };
      if (startupOnly) return result;

      result.matmul = [];
      for (const n of config.matmulSizes) result.matmul.push(await timeMatmul(gpu, n, config));

      const opts = { prompt: 'none', batchSize: config.batch };
      const t0 = performance.now();
      const vectors = await embedder.embed(config.texts, opts); // warm-up: the batch-of-32 pipelines
      const warmupMs = performance.now() - t0;
      if (vectors.length !== config.texts.length) throw new Error(`embed returned ${vectors.length} vectors for ${config.texts.length} texts`);
      const { ms, reps } = await timeReps(async () => {
        const s = performance.now();
        await embedder.embed(config.texts, opts);
        return performance.now() - s;
      }, config);
      result.embed = { texts: config.texts.length, batch: config.batch, warmupMs, ms, textsPerSecond: config.texts.length / (ms / 1000), reps };
      return result;
    } finally {
      embedder.dispose();
    }
  } finally {
    gpu.destroy();
  }
}
