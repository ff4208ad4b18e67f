// The cross-runtime probe: the same plain ESM file runs in Node, Deno, Bun and
// Chromium against the built package (dist/index.js), so it tests what a user
// of each runtime imports. It runs a fixed set of kernel cases on seeded data
// (shapes that are not multiples of any tile), embeds fixed inputs with the
// built-in tiny decoder, and embeds the golden tiny Llama's rows with its PEFT
// LoRA adapter (loaded like the model: a path, or a URL in a browser), and
// returns every output; the Node test
// (test/cross-runtime.test.ts) checks the kernels against the float64 CPU
// references and the runtimes' embeddings against each other.
//
// Plain JavaScript on purpose: a browser cannot run TypeScript, and this is
// the code a user would write.
import * as lco from '../../dist/index.js';
import { deviceSummary } from './runtime-io.mjs';

/** mulberry32: a tiny seeded PRNG, the same stream in every runtime. */
export function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-1, 1), rounded to float32. */
export function uniform(n, seed) {
  const r = seeded(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** n rows of d values, each row scaled to unit length (float32). */
export function unitRows(n, d, seed) {
  const x = uniform(n * d, seed);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[i * d + j] ** 2;
    const s = 1 / Math.sqrt(ss);
    for (let j = 0; j < d; j++) x[i * d + j] = Math.fround(x[i * d + j] * s);
  }
  return x;
}

/**
 * The kernel cases: each names its inputs (by generator) and how the GPU
 * computes its output. Shapes avoid every tile multiple (8, 16, 32, 64).
 */
export const KERNEL_CASES = {
  'matmul 37x53 @ 53x29': {
    inputs: () => ({ a: uniform(37 * 53, 1), b: uniform(53 * 29, 2) }),
    run: (gpu, x, t) => lco.matmul(gpu, t(x.a, [37, 53]), t(x.b, [53, 29])),
  },
  'matmul 19x70 @ (45x70)^T': {
    inputs: () => ({ a: uniform(19 * 70, 3), b: uniform(45 * 70, 4) }),
    run: (gpu, x, t) => lco.matmul(gpu, t(x.a, [19, 70]), t(x.b, [45, 70]), { transB: true }),
  },
  'softmax 13x101': {
    inputs: () => ({ x: uniform(13 * 101, 5).map((v) => v * 8) }),
    run: (gpu, x, t) => lco.softmax(gpu, t(x.x, [13, 101])),
  },
  'rmsnorm 9x67': {
    inputs: () => ({ x: uniform(9 * 67, 6), w: uniform(67, 7) }),
    run: (gpu, x, t) => lco.rmsnorm(gpu, t(x.x, [9, 67]), t(x.w, [67]), 1e-6).y,
  },
  'l2norm 7x40': {
    inputs: () => ({ x: uniform(7 * 40, 8) }),
    run: (gpu, x, t) => lco.l2norm(gpu, t(x.x, [7, 40])).y,
  },
  'swiglu 1001': {
    inputs: () => ({ g: uniform(1001, 9).map((v) => v * 4), u: uniform(1001, 10) }),
    run: (gpu, x, t) => lco.swiglu(gpu, t(x.g, [1001]), t(x.u, [1001])),
  },
  'attention causal B2 T11 H2 Hkv1 D8': {
    inputs: () => ({ q: uniform(2 * 11 * 2 * 8, 11), k: uniform(2 * 11 * 8, 12), v: uniform(2 * 11 * 8, 13) }),
    run: (gpu, x, t) => lco.attention(gpu, t(x.q, [2, 11, 2, 8]), t(x.k, [2, 11, 1, 8]), t(x.v, [2, 11, 1, 8]), { causal: true }).o,
  },
  'contrastive symmetric B5 M10 E24': {
    inputs: () => ({ a: unitRows(5, 24, 14), c: unitRows(10, 24, 15) }),
    run: (gpu, x, t) => lco.contrastiveLoss(gpu, t(x.a, [5, 24]), t(x.c, [10, 24]), { temperature: 0.05, symmetric: true }).losses,
  },
};

/** Fixed embedding inputs: texts (with the LCO prompt) and one id list used as given. */
export const EMBED_TEXTS = ['a small dog', 'the bank of a river', 'to run quickly', 'a large body of salt water', 'an instrument for measuring time'];
export const EMBED_IDS = [5, 77, 300, 1024, 4000, 12];

/** A subfolder of a folder source: a path joined with "/", or a URL resolved inside the folder. */
function subfolder(source, name) {
  if (typeof source === 'string') return `${source}/${name}`;
  return new URL(`${name}/`, source.href.endsWith('/') ? source : new URL(`${source.href}/`));
}

/**
 * The golden tiny Llama (fixtures/golden/tiny-llama) with its PEFT LoRA adapter:
 * the base, the adapter and the golden file's id rows are read through the
 * package's loaders (paths or URLs); the 3 anchors and 6 candidates are
 * embedded (last-token pooling, L2-normalised) for comparison with the
 * independent float64 PyTorch embeddings in the same file; then three
 * contrastive LoRA steps train the adapter on that batch (the first step's
 * loss is the golden one-way InfoNCE loss).
 */
async function goldenLora(gpu, folder) {
  const model = await lco.loadDecoder(gpu, folder);
  let lora;
  let file;
  try {
    lora = await lco.loadLoraAdapter(gpu, model.config, subfolder(folder, 'lora-infonce'));
    file = await lco.SafetensorsFile.open(await lco.openFolder(folder).open('golden-infonce.safetensors'));
    const rows = async (key) => {
      const [N, T] = file.entry(`${key}_ids`).shape;
      const ids = await file.float32(`${key}_ids`);
      const lengths = await file.float32(`${key}_lengths`);
      // left-padded rows: each row's last `length` ids
      return Array.from({ length: N }, (_, b) => ({ ids: Array.from(ids.subarray(b * T + T - lengths[b], (b + 1) * T)) }));
    };
    const anchors = await rows('anchor');
    const candidates = await rows('candidate');
    // Token-id inputs need no tokenizer (this model has none).
    const embedder = new lco.Embedder(gpu, model, null, lora);
    const embeddings = (await embedder.embed([...anchors, ...candidates])).map((v) => Array.from(v));

    // Three contrastive steps on the golden batch with the step-level API (a
    // training loop that runs in a browser too): GradCache InfoNCE, AdamW.
    const [temperature] = await file.float32('temperature');
    const params = lco.loraParams(gpu, lora);
    const losses = [];
    try {
      const batch = { anchors: anchors.map((r) => r.ids), candidates: candidates.map((r) => r.ids) };
      const adamw = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clip: 1 };
      for (let step = 1; step <= 3; step++) {
        lco.zeroGrads(gpu, params);
        const loss = lco.gradCacheStep(gpu, model, lora, lco.gradMap(params), batch, { temperature, symmetric: false },
          { miniBatch: 2, pooling: 'lasttoken', seed: step });
        const norm = lco.optimizerStep(gpu, params, adamw, 1e-2, step);
        losses.push((await gpu.read(loss))[0]);
        loss.release();
        norm.release();
      }
    } finally {
      lco.releaseParams(params);
    }
    return { embeddings, losses };
  } finally {
    await file?.close();
    if (lora) lco.releaseLora(lora);
    lco.releaseDecoder(model);
  }
}

/**
 * Runs every kernel case and the embeddings. `model` is the tiny decoder's
 * folder and `golden` the golden tiny Llama's (paths in Node/Deno/Bun, URLs
 * in a browser); `gpuOptions` go to Gpu.create.
 */
export async function runProbe({ model, golden, gpuOptions = {} }) {
  const started = Date.now();
  const gpu = await lco.Gpu.create(gpuOptions);
  const kernels = {};
  try {
    for (const [name, c] of Object.entries(KERNEL_CASES)) {
      const made = [];
      const t = (data, shape) => {
        const x = gpu.tensor(data, shape);
        made.push(x);
        return x;
      };
      try {
        const out = c.run(gpu, c.inputs(), t);
        made.push(out);
        kernels[name] = Array.from(await gpu.read(out));
      } finally {
        for (const x of made) x.release();
      }
    }
    const embedder = await lco.Embedder.load(model, { gpu, vision: false });
    let embeddings;
    try {
      const vectors = await embedder.embed([...EMBED_TEXTS, { ids: EMBED_IDS }], { prompt: 'lco' });
      embeddings = vectors.map((v) => Array.from(v));
    } finally {
      embedder.dispose();
    }
    const { embeddings: loraEmbeddings, losses: loraLosses } = await goldenLora(gpu, golden);
    return {
      ...deviceSummary(gpu),
      kernels,
      embeddings,
      loraEmbeddings,
      loraLosses,
      ms: Date.now() - started,
    };
  } finally {
    gpu.destroy();
  }
}
