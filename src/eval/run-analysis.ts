// Layer-wise representation analysis (LCO-Emb, arXiv 2510.11693) on paired
// texts: two "modalities" of the same n items (WordNet: an example sentence
// and the gloss of one synset).
//
// Per layer l = 0..L of the decoder (hidden[0] = token embeddings, hidden[l]
// = output of block l, hidden[L] taken after the final norm, as transformers
// reports it and as the Embedder pools it), every text is pooled from one
// left-padded batch forward:
//   f_l(text) = h_l[last real token]        (lasttoken, the default)
//             = mean of h_l over real tokens (mean)
// giving A_l [n, C] (side a) and B_l [n, C] (side b). Then, per layer:
//   anisotropy(A_l), anisotropy(B_l)   mean cosine over pairs i < j, no centring
//   mutualKnn(A_l, B_l), k = 10        mean_i |N_A(i) ∩ N_B(i)| / k (self excluded)
// (analysis.ts has the definitions). Independent sides score about
// k / (n - 1) on mutual kNN: reported as `chance`. When every row of a side
// has the same direction (anisotropy 1: with a prompt, layer 0 pools the
// prompt's last token for every item) all neighbours tie and the score would
// only echo the tie order (1 for two such sides), so it is NaN (null in JSON).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Embedder, EmbedInput, EmbedOptions, Pooling } from '../embed/embedder.ts';
import { padLeftSequences, rowIds, uploadSequences } from '../embed/image-rows.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { writeFileAtomic } from '../io/safetensors.ts';
import { decoderForward } from '../model/forward.ts';
import { lastTokenPool, meanPool } from '../ops/pooling.ts';
import { lossCurveSvg } from '../train/loss-curve.ts';
import { anisotropy, MUTUAL_KNN_K, mutualKnn } from './analysis.ts';
import { EvalInputError } from './matrix.ts';
import type { PairedSuite } from './suite.ts';

export type LayerPoolOptions = Pick<EmbedOptions, 'prompt' | 'chat' | 'pooling' | 'batchSize' | 'maxLength'>;

/**
 * The pooled hidden state of every layer for every text: [L + 1] matrices
 * [n, C] (row i = texts[i]), not normalised. Batches are length-sorted
 * (longest first, ties by index) as in Embedder.embed, so the last entry
 * matches the Embedder's un-normalised output.
 */
export async function layerFeatures(embedder: Embedder, texts: readonly EmbedInput[], opts: LayerPoolOptions = {}): Promise<Float32Array[]> {
  const { gpu, model, lora } = embedder;
  const C = model.config.hidden;
  const L1 = model.config.layers + 1;
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`layerFeatures: batchSize ${batchSize} must be a positive integer`);
  const pooling: Pooling = opts.pooling ?? 'lasttoken';
  const n = texts.length;
  const tokens = await Promise.all(texts.map((t, i) => embedder.prepare(t, opts, `item ${i}`)));
  const len = (i: number) => rowIds(tokens[i]).length;
  const order = tokens.map((_, i) => i).sort((a, b) => len(b) - len(a) || a - b);
  const out = Array.from({ length: L1 }, () => new Float32Array(n * C));
  for (let s = 0; s < n; s += batchSize) {
    const idx = order.slice(s, s + batchSize);
    const B = idx.length;
    const made: Tensor[] = [];
    const keep = <X extends Tensor>(t: X): X => (made.push(t), t);
    const uploaded = uploadSequences(gpu, padLeftSequences(idx.map((i) => tokens[i])), embedder.vision);
    try {
      const { input } = uploaded;
      const { hidden } = decoderForward(gpu, model, input, { hiddenStates: true, lora });
      hidden.forEach(keep);
      // All layers' pooled rows in one tensor [L + 1, B, C]: one read per batch.
      const stack = keep(gpu.empty([L1, B, C], 'f32', 'layerFeatures.stack'));
      hidden.forEach((h, l) => {
        let pooled: Tensor;
        if (pooling === 'mean') {
          pooled = keep(meanPool(gpu, h, input.mask));
        } else {
          const p = lastTokenPool(gpu, h, input.mask);
          keep(p.index);
          pooled = keep(p.out);
        }
        gpu.copy(pooled, stack, B * C, 0, l * B * C);
      });
      const data = (await gpu.read(stack)) as Float32Array;
      for (let l = 0; l < L1; l++) {
        idx.forEach((i, b) => out[l].set(data.subarray((l * B + b) * C, (l * B + b + 1) * C), i * C));
      }
    } finally {
      for (const t of made) t.release();
      uploaded.release();
    }
  }
  return out;
}

/** A side whose anisotropy is within this of 1 has one direction: its neighbours all tie. */
const TIED = 1e-9;

export interface LayerStats {
  /** 0 = token embeddings, l = after block l; the last is after the final norm. */
  layer: number;
  label: string;
  anisotropyA: number;
  anisotropyB: number;
  /** NaN when a side's rows all share one direction (every neighbour ties). */
  mutualKnn: number;
}

export interface AnalysisResults {
  suite: string;
  /** Names of sides a and b ("example", "gloss"). */
  names: [string, string];
  options: { prompt: string; chat: string; pooling: Pooling; batchSize: number; maxLength: number | null; k: number };
  counts: { items: number; layers: number; hidden: number };
  /** Mutual kNN of independent sides: k / (n - 1). */
  chanceMutualKnn: number;
  layers: LayerStats[];
  /** Seconds. */
  timings: { forward: number; textsPerSecond: number; metrics: number; total: number };
  suiteMeta: Record<string, unknown>;
}

/** Anisotropy of both sides and their mutual kNN, per layer. */
export async function analyzeLayers(
  embedder: Embedder, paired: PairedSuite, opts: LayerPoolOptions = {}, meta: { suite?: string; suiteMeta?: Record<string, unknown> } = {},
): Promise<AnalysisResults> {
  const t0 = performance.now();
  const n = paired.a.length;
  if (paired.b.length !== n) throw new EvalInputError(`analyzeLayers: side a has ${n} texts, side b ${paired.b.length}; the sides must be paired`);
  const k = MUTUAL_KNN_K;
  if (n < k + 1) throw new EvalInputError(`analyzeLayers: mutual kNN with k = ${k} needs at least ${k + 1} paired items, got ${n}`);
  const C = embedder.model.config.hidden;
  const L = embedder.model.config.layers;
  // One call for both sides: the length sort packs them into fewer, tighter batches.
  const feats = await layerFeatures(embedder, [...paired.a, ...paired.b], opts);
  const tf = (performance.now() - t0) / 1000;
  const tm = performance.now();
  const layers = feats.map((f, l): LayerStats => {
    const a = f.subarray(0, n * C), b = f.subarray(n * C);
    const anisotropyA = anisotropy(a, n, C);
    const anisotropyB = anisotropy(b, n, C);
    const tied = anisotropyA >= 1 - TIED || anisotropyB >= 1 - TIED;
    return {
      layer: l,
      label: l === 0 ? 'embeddings' : l === L ? `block ${l} + norm` : `block ${l}`,
      anisotropyA, anisotropyB,
      mutualKnn: tied ? NaN : mutualKnn(a, b, n, C, C, k).score,
    };
  });
  const metricsSeconds = (performance.now() - tm) / 1000;
  return {
    suite: meta.suite ?? 'custom',
    names: paired.names,
    options: {
      prompt: opts.prompt ?? 'none', chat: opts.chat ?? 'none', pooling: opts.pooling ?? 'lasttoken',
      batchSize: opts.batchSize ?? 32, maxLength: opts.maxLength ?? null, k,
    },
    counts: { items: n, layers: L, hidden: C },
    chanceMutualKnn: k / (n - 1),
    layers,
    timings: { forward: tf, textsPerSecond: (2 * n) / Math.max(tf, 1e-9), metrics: metricsSeconds, total: (performance.now() - t0) / 1000 },
    suiteMeta: meta.suiteMeta ?? {},
  };
}

/** One line per layer: anisotropy of each side and their mutual kNN. */
export function formatAnalysisTable(r: AnalysisResults): string {
  const [na, nb] = r.names;
  const heads = ['layer', `anisotropy(${na})`, `anisotropy(${nb})`, `mutual-kNN@${r.options.k}`];
  const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : 'n/a');
  const rows = r.layers.map((s) => [`${s.layer} ${s.label}`, fmt(s.anisotropyA), fmt(s.anisotropyB), fmt(s.mutualKnn)]);
  const widths = heads.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)) + 2);
  const line = (cells: string[]) => cells.map((x, c) => x.padEnd(widths[c])).join('').trimEnd();
  return `${[
    line(heads),
    ...rows.map(line),
    '',
    `${r.counts.items} paired items (${na} / ${nb}), ${r.options.pooling} pooling, prompt ${r.options.prompt}; mutual kNN by chance ${r.chanceMutualKnn.toFixed(4)}`,
    ...(r.layers.some((s) => Number.isNaN(s.mutualKnn))
      ? ['n/a: every item of a side has the same feature there (at layer 0 with a prompt: the prompt\'s last token), so all neighbours tie']
      : []),
    `forward ${r.timings.forward.toFixed(1)} s (${r.timings.textsPerSecond.toFixed(0)} texts/s), metrics ${r.timings.metrics.toFixed(1)} s`,
  ].join('\n')}\n`;
}

/** The per-layer lines as an SVG (loss-curve.ts's chart, x = layer). */
export function analysisSvg(r: AnalysisResults): string {
  const [na, nb] = r.names;
  const pts = (f: (s: LayerStats) => number): [number, number][] => r.layers.map((s) => [s.layer, f(s)]);
  return lossCurveSvg([
    { name: `anisotropy (${na})`, points: pts((s) => s.anisotropyA) },
    { name: `anisotropy (${nb})`, points: pts((s) => s.anisotropyB) },
    { name: `mutual kNN@${r.options.k} (${na}-${nb})`, points: pts((s) => s.mutualKnn) },
    { name: 'mutual kNN by chance', points: pts(() => r.chanceMutualKnn) },
  ], {
    title: `${r.suite}: ${r.counts.items} paired items, ${r.options.pooling} pooling, prompt ${r.options.prompt}`,
    xLabel: `layer (0 = embeddings, ${r.counts.layers} = last block + final norm)`,
    yLabel: 'value',
  });
}

/**
 * Writes DIR/analysis.json (`header`'s fields, e.g. the model, then the
 * results) and DIR/analysis.svg, each atomically; creates DIR.
 */
export async function writeAnalysis(dir: string, r: AnalysisResults, header: Record<string, unknown> = {}): Promise<{ json: string; svg: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'analysis.json');
  const svg = join(dir, 'analysis.svg');
  const enc = new TextEncoder();
  await writeFileAtomic(json, enc.encode(`${JSON.stringify({ ...header, ...r }, null, 2)}\n`));
  await writeFileAtomic(svg, enc.encode(analysisSvg(r)));
  return { json, svg };
}
