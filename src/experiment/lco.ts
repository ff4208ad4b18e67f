// `lco experiment lco`: LCO-Emb's claims (arXiv 2510.11693), reproduced in
// miniature on the synthetic shapes world, start to finish on one machine.
//
//   1. generative pretraining of a mini multimodal LM per model size:
//      captioning (image -> caption, next-token loss) mixed with WordNet text
//      (train/mm-pretrainer.ts), and one-word summaries of images and captions
//      under LCO-Emb's prompts (the ability a real MLLM's instruction tuning
//      gives it; train/caption-data.ts); snapshots at several steps
//   2. per snapshot: held-out caption loss (validation scenes), zero-shot
//      image <-> text retrieval (test scenes), then the SAME fixed contrastive
//      refinement, a LoRA on the decoder trained with InfoNCE on text-only
//      triplets, and retrieval again
//   3. on the main (largest) model's last snapshot: per-layer anisotropy and
//      image-caption mutual kNN before and after, and the variants:
//        + image pairs   text triplets plus a few caption -> image rows (InfoNCE)
//        MAMCL           the same mixed data with UNITE's modality-aware mask
//        full FT         text-only, every decoder weight trained (no LoRA)
//   4. continual generative pretraining (a LoRA on captions + text, merged
//      into the weights) of the main model's last snapshot, then the same
//      refinement: one more point of the scaling study
//   5. GRSL: caption loss vs. retrieval after refinement over all points,
//      Pearson and Spearman correlation
//   6. results.json and a Markdown report with PNG plots (lco-report.ts)
//
// Everything is seeded: the world, the data order, initialisations and
// dropout; the kernels are deterministic, so a rerun gives the same numbers.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { makeWorld } from '../data/shapes-world.ts';
import { wordnetCorpus } from '../data/lm-corpus.ts';
import type { PairRow } from '../data/pairs.ts';
import { Embedder } from '../embed/embedder.ts';
import { pearson, spearman } from '../eval/metrics.ts';
import type { AnalysisResults } from '../eval/run-analysis.ts';
import { Gpu } from '../gpu/gpu.ts';
import { loadTokenizer, type Tokenizer } from '../io/tokenizer.ts';
import { loadDecoder, randomDecoder, releaseDecoder, type Decoder } from '../model/decoder.ts';
import { parseConfig } from '../model/config.ts';
import { createLora, mergeLoraIntoWeights, releaseLora, LORA_TARGETS, type DecoderLora } from '../model/lora.ts';
import { visionPreset } from '../model/presets.ts';
import { loadVision, randomVision, releaseVision, type VisionModel } from '../model/vision.ts';
import { evaluateCaptionLoss } from '../train/caption-data.ts';
import { CONTRASTIVE_DEFAULTS, trainContrastive, type ContrastiveLossKind } from '../train/contrastive-trainer.ts';
import { trainMultimodal, MM_PRETRAIN_DEFAULTS } from '../train/mm-pretrainer.ts';
import { BUILTIN_DECODER, type LcoExperimentConfig, type ModelSize } from './lco-config.ts';
import { lcoData, type LcoData } from './lco-data.ts';
import { measureLayers, measureRetrieval, measureSummaries, type RetrievalMeasurement, type SummaryAccuracy } from './lco-measure.ts';

export const TOKENIZER = join(BUILTIN_DECODER, 'tokenizer.json');

/** One contrastive refinement and what it gave. */
export interface Refinement {
  name: string;
  data: 'text' | 'text+image';
  loss: ContrastiveLossKind;
  method: 'lora' | 'full';
  finalLoss: number;
  after: RetrievalMeasurement;
  seconds: number;
}

/** One generative checkpoint of the scaling study. */
export interface GrslPoint {
  size: string;
  step: number;
  /** 'pretrain' or 'continual' (LoRA continual pretraining of the main model's last snapshot). */
  kind: 'pretrain' | 'continual';
  captionLoss: number;
  /** How often the prompts' last token predicts a true one-word summary (before refinement). */
  summaries: SummaryAccuracy;
  before: RetrievalMeasurement;
  after: RetrievalMeasurement;
}

export interface LcoResults {
  config: LcoExperimentConfig;
  adapter: string;
  data: { trainScenes: number; validationScenes: number; testScenes: number; textTriplets: number; imagePairs: number };
  pretrain: { size: string; steps: number; seconds: number; finalLoss: number }[];
  points: GrslPoint[];
  main: {
    size: string;
    step: number;
    before: RetrievalMeasurement;
    refinements: Refinement[];
    layersBefore: AnalysisResults;
    layersAfter: AnalysisResults;
  };
  grsl: { pearson: number; spearman: number; metric: string; n: number };
  timings: Record<string, number>;
  totalSeconds: number;
}

export interface LcoRunOptions {
  outDir: string;
  log?: (line: string) => void;
  /** Progress lines of the trainers (default: none). */
  progressOut?: { write(s: string): unknown } | null;
  signal?: AbortSignal;
}

const snapshotDir = (outDir: string, size: number, step: number) => join(outDir, 'work', `size-${size}`, 'snapshots', `step-${String(step).padStart(6, '0')}`);

/** The whole experiment; returns its results (the report is written by writeLcoReport). */
export async function runLcoExperiment(cfg: LcoExperimentConfig, o: LcoRunOptions): Promise<LcoResults> {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = (timings[name] ?? 0) + (performance.now() - t) / 1000;
    }
  };
  await mkdir(o.outDir, { recursive: true });
  const tokenizerJson = await readFile(TOKENIZER, 'utf8');
  const tokenizer = loadTokenizer(tokenizerJson);
  const world = makeWorld(cfg.world);
  const data = await lcoData(world, {
    ...cfg.data, validationScenes: cfg.eval.validationScenes, testScenes: cfg.eval.testScenes, seed: cfg.seed,
    imageDir: join(o.outDir, 'work', 'images'),
  });
  log(`world: ${world.scenes.length} scenes (${data.train.length} train, ${data.validation.length} validation and ${data.test.length} test used); ` +
    `${data.textTriplets.length} text triplets, ${data.imagePairs.length} image pairs`);
  const corpus = await wordnetCorpus(tokenizer);
  const gpu = await Gpu.create();
  try {
    // 1. generative pretraining, every size
    const pretrain: LcoResults['pretrain'] = [];
    for (const [i, size] of cfg.sizes.entries()) {
      const r = await timed('pretrain', () => pretrainSize(gpu, cfg, size, i, tokenizer, tokenizerJson, world, corpus, o));
      pretrain.push(r);
      log(`pretrained ${size.name}: ${r.steps} steps in ${r.seconds.toFixed(0)} s, final loss ${r.finalLoss.toFixed(3)}`);
    }

    // 2. every snapshot: caption loss, retrieval before and after the fixed text-only refinement
    const points: GrslPoint[] = [];
    let main: LcoResults['main'] | undefined;
    const last = cfg.sizes.length - 1;
    for (const [i, size] of cfg.sizes.entries()) {
      for (const step of cfg.pretrain.snapshots) {
        const dir = snapshotDir(o.outDir, i, step);
        const m = await loadPair(gpu, dir);
        try {
          const isMain = i === last && step === cfg.pretrain.snapshots.at(-1);
          const p = await timed('grsl', () => grslPoint(gpu, cfg, m, tokenizer, data, size.name, step, 'pretrain', o, isMain));
          points.push(p.point);
          log(`${size.name} step ${step}: caption loss ${p.point.captionLoss.toFixed(3)}, summary hits ${p.point.summaries.image.toFixed(2)} (image) ${p.point.summaries.text.toFixed(2)} (text), image->text R@1 ${p.point.before.i2t.r1.toFixed(3)} -> ${p.point.after.i2t.r1.toFixed(3)}`);
          if (isMain) {
            // 3. the main model: layers before/after (measured with the point's adapter), and the variants
            main = await timed('main', () => mainStudy(gpu, cfg, m, tokenizer, data, size.name, step, p.point, p.refinement, p.layers!, o));
          }
        } finally {
          releasePair(m);
        }
      }
    }

    // 4. continual generative pretraining (LoRA, merged) of the main model, then the same refinement
    if (cfg.continual) {
      const m = await loadPair(gpu, snapshotDir(o.outDir, last, cfg.pretrain.snapshots.at(-1)!));
      try {
        await timed('continual', () => continualPretrain(gpu, cfg, m, tokenizer, world, corpus, o));
        const step = cfg.pretrain.snapshots.at(-1)! + cfg.continual.steps;
        const p = await timed('grsl', () => grslPoint(gpu, cfg, m, tokenizer, data, cfg.sizes[last].name, step, 'continual', o));
        points.push(p.point);
        log(`continual pretraining (+${cfg.continual.steps} LoRA steps): caption loss ${p.point.captionLoss.toFixed(3)}, image->text R@1 after refinement ${p.point.after.i2t.r1.toFixed(3)}`);
      } finally {
        releasePair(m);
      }
    }

    // 5. GRSL: lower caption loss should go with higher retrieval after refinement
    const x = points.map((p) => p.captionLoss);
    const y = points.map((p) => p.after.i2t.ndcg10);
    const grsl = { pearson: pearson(x, y), spearman: spearman(x, y), metric: 'image->text nDCG@10 after refinement', n: points.length };
    return {
      config: cfg,
      adapter: gpu.adapterName,
      data: { trainScenes: data.train.length, validationScenes: data.validation.length, testScenes: data.test.length, textTriplets: data.textTriplets.length, imagePairs: data.imagePairs.length },
      pretrain, points, main: main!, grsl, timings, totalSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    gpu.destroy();
  }
}

interface Pair {
  decoder: Decoder;
  vision: VisionModel;
}

async function loadPair(gpu: Gpu, dir: string): Promise<Pair> {
  const decoder = await loadDecoder(gpu, dir);
  return { decoder, vision: await loadVision(gpu, dir) };
}

function releasePair(m: Pair): void {
  releaseVision(m.vision);
  releaseDecoder(m.decoder);
}

async function pretrainSize(
  gpu: Gpu, cfg: LcoExperimentConfig, size: ModelSize, index: number, tokenizer: Tokenizer, tokenizerJson: string,
  world: ReturnType<typeof makeWorld>, corpus: Awaited<ReturnType<typeof wordnetCorpus>>, o: LcoRunOptions,
): Promise<LcoResults['pretrain'][number]> {
  const t = performance.now();
  const decoder = 'dir' in size.decoder
    ? await loadDecoder(gpu, size.decoder.dir)
    : await randomDecoder(gpu, parseConfig(size.decoder.config, `${size.name} config`), cfg.seed + 11 * index + 1);
  const vision = await randomVision(gpu, visionPreset(size.vision, decoder.config.hidden), cfg.seed + 11 * index + 2);
  const outDir = join(o.outDir, 'work', `size-${index}`);
  await rm(outDir, { recursive: true, force: true });
  try {
    const p = cfg.pretrain;
    const r = await trainMultimodal({
      gpu, decoder, vision, tokenizer, tokenizerJson, world, textCorpus: corpus, outDir,
      config: {
        ...MM_PRETRAIN_DEFAULTS, steps: p.steps, captionBatch: p.captionBatch, textBatch: p.textBatch, seqLen: p.seqLen,
        lr: size.lr ?? p.lr, warmup: p.warmup, snapshotAt: p.snapshots, summaryFraction: p.summaryFraction, seed: cfg.seed + index, evalEvery: 0, checkpointEvery: 0,
      },
      progressOut: o.progressOut ?? null, signal: o.signal,
    });
    const h = r.state.history;
    return { size: size.name, steps: p.steps, seconds: (performance.now() - t) / 1000, finalLoss: h.length ? h[h.length - 1].loss : NaN };
  } finally {
    releaseVision(vision);
    releaseDecoder(decoder);
  }
}

/** Trains one contrastive refinement on `rows`; returns the final loss and the trained adapter (null for full FT). */
async function refine(
  gpu: Gpu, cfg: LcoExperimentConfig, m: Pair, tokenizer: Tokenizer, rows: PairRow[], loss: ContrastiveLossKind,
  method: 'lora' | 'full', outDir: string, o: LcoRunOptions,
): Promise<{ lora: DecoderLora | undefined; finalLoss: number }> {
  const c = cfg.contrastive;
  const lora = method === 'lora'
    ? createLora(gpu, m.decoder.config, { r: c.lora.r, alpha: c.lora.alpha, dropout: c.lora.dropout, rslora: false, targets: [...LORA_TARGETS] }, cfg.seed + 101)
    : undefined;
  const embedder = new Embedder(gpu, m.decoder, tokenizer, lora, m.vision);
  await rm(outDir, { recursive: true, force: true });
  const r = await trainContrastive({
    gpu, model: m.decoder, lora, embedder, rows, k: 1, outDir, baseModel: 'lco-experiment',
    config: {
      ...CONTRASTIVE_DEFAULTS, steps: c.steps, batchSize: c.batchSize, miniBatch: c.miniBatch, lr: c.lr, warmup: c.warmup,
      temperature: c.temperature, loss, prompt: cfg.eval.prompt, maxLength: m.decoder.config.maxPositions, seed: cfg.seed + 7,
      keepCheckpoints: 1, lora: lora?.config ?? { r: 1, alpha: 1, dropout: 0, rslora: false, targets: [] },
    },
    progressOut: o.progressOut ?? null, signal: o.signal,
  });
  const h = r.state.history;
  return { lora, finalLoss: h.length ? h[h.length - 1].loss : NaN };
}

/** Retrieval without the pooled states (those stay out of the results). */
async function retrieval(e: Embedder, data: LcoData, ev: { prompt: string; batchSize: number }) {
  const { pooled, ...scores } = await measureRetrieval(e, data.test, ev);
  return { scores: scores as RetrievalMeasurement, pooled };
}

/** The layer analysis before and after the text-only LoRA, taken while that adapter is alive (the main model only). */
type Layers = { before: AnalysisResults; after: AnalysisResults };

async function grslPoint(
  gpu: Gpu, cfg: LcoExperimentConfig, m: Pair, tokenizer: Tokenizer, data: LcoData, size: string, step: number,
  kind: GrslPoint['kind'], o: LcoRunOptions, withLayers = false,
): Promise<{ point: GrslPoint; refinement: Refinement; layers?: Layers }> {
  const ev = { prompt: cfg.eval.prompt, batchSize: cfg.eval.batchSize };
  const caption = await evaluateCaptionLoss(gpu, m.decoder, m.vision, tokenizer, data.validation, { batch: cfg.eval.batchSize });
  const base = new Embedder(gpu, m.decoder, tokenizer, undefined, m.vision);
  const b = await retrieval(base, data, ev);
  const summaries = await measureSummaries(base, data.test, b.pooled);
  const layersBefore = withLayers ? await measureLayers(base, data.test, ev) : undefined;
  const t = performance.now();
  const { lora, finalLoss } = await refine(gpu, cfg, m, tokenizer, data.textTriplets, 'infonce', 'lora', join(o.outDir, 'work', 'refine'), o);
  try {
    const refined = new Embedder(gpu, m.decoder, tokenizer, lora, m.vision);
    const after = (await retrieval(refined, data, ev)).scores;
    const seconds = (performance.now() - t) / 1000;
    const layers = layersBefore && { before: layersBefore, after: await measureLayers(refined, data.test, ev) };
    const refinement: Refinement = { name: 'text-only LoRA (InfoNCE)', data: 'text', loss: 'infonce', method: 'lora', finalLoss, after, seconds };
    return { point: { size, step, kind, captionLoss: caption.loss, summaries, before: b.scores, after }, refinement, layers };
  } finally {
    if (lora) releaseLora(lora);
  }
}

async function mainStudy(
  gpu: Gpu, cfg: LcoExperimentConfig, m: Pair, tokenizer: Tokenizer, data: LcoData, size: string, step: number,
  point: GrslPoint, textOnly: Refinement, layers: Layers, o: LcoRunOptions,
): Promise<LcoResults['main']> {
  const ev = { prompt: cfg.eval.prompt, batchSize: cfg.eval.batchSize };
  const refinements: Refinement[] = [textOnly];
  if (cfg.variants) {
    const mixed = [...data.textTriplets, ...data.imagePairs];
    const variants: { name: string; rows: PairRow[]; data: Refinement['data']; loss: ContrastiveLossKind; method: Refinement['method'] }[] = [
      { name: 'text + image pairs, LoRA (InfoNCE)', rows: mixed, data: 'text+image', loss: 'infonce', method: 'lora' },
      { name: 'text + image pairs, LoRA (MAMCL)', rows: mixed, data: 'text+image', loss: 'mamcl', method: 'lora' },
      { name: 'text-only, full fine-tuning (InfoNCE)', rows: data.textTriplets, data: 'text', loss: 'infonce', method: 'full' },
    ];
    for (const v of variants) {
      const t = performance.now();
      // full fine-tuning changes the weights in place: work on a fresh copy of the snapshot
      const target = v.method === 'full' ? await loadPair(gpu, snapshotDir(o.outDir, cfg.sizes.length - 1, step)) : m;
      try {
        const r = await refine(gpu, cfg, target, tokenizer, v.rows, v.loss, v.method, join(o.outDir, 'work', 'refine'), o);
        try {
          const after = (await retrieval(new Embedder(gpu, target.decoder, tokenizer, r.lora, target.vision), data, ev)).scores;
          refinements.push({ name: v.name, data: v.data, loss: v.loss, method: v.method, finalLoss: r.finalLoss, after, seconds: (performance.now() - t) / 1000 });
          o.log?.(`${v.name}: image->text R@1 ${after.i2t.r1.toFixed(3)}, text->image R@1 ${after.t2i.r1.toFixed(3)}`);
        } finally {
          if (r.lora) releaseLora(r.lora);
        }
      } finally {
        if (target !== m) releasePair(target);
      }
    }
  }
  return { size, step, before: point.before, refinements, layersBefore: layers.before, layersAfter: layers.after };
}

async function continualPretrain(
  gpu: Gpu, cfg: LcoExperimentConfig, m: Pair, tokenizer: Tokenizer, world: ReturnType<typeof makeWorld>,
  corpus: Awaited<ReturnType<typeof wordnetCorpus>>, o: LcoRunOptions,
): Promise<void> {
  const c = cfg.continual!;
  const p = cfg.pretrain;
  const lora = createLora(gpu, m.decoder.config, { r: c.lora.r, alpha: c.lora.alpha, dropout: 0, rslora: false, targets: [...LORA_TARGETS] }, cfg.seed + 202);
  const outDir = join(o.outDir, 'work', 'continual');
  await rm(outDir, { recursive: true, force: true });
  try {
    await trainMultimodal({
      gpu, decoder: m.decoder, vision: m.vision, tokenizer, world, textCorpus: corpus, outDir, lora,
      config: {
        ...MM_PRETRAIN_DEFAULTS, steps: c.steps, captionBatch: p.captionBatch, textBatch: p.textBatch, seqLen: p.seqLen,
        lr: c.lr, warmup: Math.min(p.warmup, c.steps), seed: cfg.seed + 303, evalEvery: 0, checkpointEvery: 0, snapshotAt: [], summaryFraction: p.summaryFraction,
        frozenEncoder: true,
      },
      progressOut: o.progressOut ?? null, signal: o.signal,
    });
    await mergeLoraIntoWeights(gpu, m.decoder, lora);
  } finally {
    releaseLora(lora);
  }
}
