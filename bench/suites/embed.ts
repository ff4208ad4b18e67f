// Suite "embed": the embedding model's throughput on real WordNet text (the
// demo's workload), with the PyTorch peer doing the identical work.
//   embed        texts/s: Embedder.embed of N WordNet glosses in batches of b
//                (sorted by length, left-padded, last-token pooling, L2), with
//                prompt none and lco; one call = all N texts, results read back
//   contrastive  triplets/s: one LoRA step (r 8, alpha 16, dropout 0.05 on all
//                seven linears) on B triplets: InfoNCE over anchors x
//                [positives; negatives] at temperature 0.05 (one way), AdamW
//                (beta2 0.999, no weight decay, lr 1e-3), clip to norm 1; ours is
//                gradCacheStep with one mini-batch of B (no split), then
//                optimizerStep and a read of the loss
// Models: the built-in tiny decoder (fixtures/tiny-decoder, trained) with N 128,
// b 32, B 32, prompts none and lco; SmolLM2-135M's shape with random weights
// (seed 0) and the same WordNet token ids, N 16, b 8, B 4, prompt none
// (--quick: the tiny model only, N 8, b 4, B 4).
//
// The peer (bench/peers/torch_decoder.py, modes embed and contrastive_lora)
// gets the same config (toHfConfig) and the exact left-padded id batches ours
// uploads (a temp JSON file, layout in the script's header): the embedding
// batches in Embedder's order (longest first, ties by index) and the
// contrastive step's anchor and candidate mini-batches as gradCacheStep cuts
// them. Its weights are random (the work does not depend on the values). It
// runs each sequence forward once with autograd; ours (GradCache) embeds, then
// replays each mini-batch with its backward: two forwards, except the last
// mini-batch, which keeps its activations from the embed pass.
//
// Timing (bench/timing.ts timeCalls): wall clock around the whole call,
// including its read-back; one warm-up call, then >= 3 calls and >= --time ms
// (default 5000); the mean. Peak = the pool's live-bytes high-water mark over
// the timed calls (model weights included).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { padLeft, type PaddedRows } from '../../src/embed/batch.ts';
import { Embedder } from '../../src/embed/embedder.ts';
import { applyPrompt, resolvePrompt } from '../../src/embed/prompt.ts';
import { readTokenizer, type Tokenizer } from '../../src/io/tokenizer.ts';
import { readWordNet } from '../../src/data/wordnet.ts';
import { trainingTriplets } from '../../src/data/wordnet-tasks.ts';
import { parseConfig, type DecoderConfig } from '../../src/model/config.ts';
import { loadDecoder, randomDecoder, releaseDecoder, type Decoder } from '../../src/model/decoder.ts';
import { createLora, releaseLora } from '../../src/model/lora.ts';
import { presetConfig } from '../../src/model/presets.ts';
import { gradMap, loraParams, releaseParams } from '../../src/train/optimizer.ts';
import { CONTRASTIVE_ADAMW, CONTRASTIVE_TEMPERATURE, recordContrastiveStep } from '../contrastive-step.ts';
import { describePeer, runTorchPeer, type PeerRun } from '../peers/torch.ts';
import { timeCalls } from '../timing.ts';
import { LORA } from './model.ts';
import { fmt, fmtBytes, mib, missing, type Suite, type SuiteContext, type SuiteEnv, type SuiteReport } from './suite.ts';

const TINY_DIR = fileURLToPath(new URL('../../fixtures/tiny-decoder', import.meta.url));
const LR = 1e-3;
/** Longest token sequence a training text may have (as the trainer's default). */
const MAX_LENGTH = 128;

interface ModelWork {
  /** 'tiny' (fixtures/tiny-decoder) or a preset with random weights. */
  model: 'tiny' | 'smollm2-135m';
  /** Texts embedded per call, and per batch. */
  texts: number;
  batch: number;
  /** Triplets per contrastive step (= its one mini-batch). */
  triplets: number;
  prompts: string[];
}

const WORK: ModelWork[] = [
  { model: 'tiny', texts: 128, batch: 32, triplets: 32, prompts: ['none', 'lco'] },
  // Short sequences (no prompt) and a small batch keep this row near a minute on a CPU adapter.
  { model: 'smollm2-135m', texts: 16, batch: 8, triplets: 4, prompts: ['none'] },
];
const QUICK_WORK: ModelWork[] = [{ model: 'tiny', texts: 8, batch: 4, triplets: 4, prompts: ['none', 'lco'] }];

/** One (model, prompt): the texts, their ids, and the batches both sides run. */
interface Workload {
  work: ModelWork;
  prompt: string;
  embedName: string;
  trainName: string;
  texts: string[];
  textIds: number[][];
  embedBatches: PaddedRows[];
  anchors: string[];
  candidates: string[];
  anchorIds: number[][];
  candidateIds: number[][];
  anchorBatches: PaddedRows[];
  candidateBatches: PaddedRows[];
  /** Peer ms per call by mode, or why there is none. */
  torch: PeerRun | string;
}

/** A text's ids as Embedder.tokenize makes them (prompt template, no chat format); checked against it in run(). */
function tokenize(tok: Tokenizer, text: string, prompt: string): number[] {
  return tok.encode(applyPrompt(resolvePrompt(prompt), text));
}

/** Embedder.embedRows's batches: longest first, ties by index, b per batch, each left-padded. */
function embedBatches(ids: number[][], b: number): PaddedRows[] {
  const order = ids.map((_, i) => i).sort((x, y) => ids[y].length - ids[x].length || x - y);
  const out: PaddedRows[] = [];
  for (let s = 0; s < order.length; s += b) out.push(padLeft(order.slice(s, s + b).map((i) => ids[i])));
  return out;
}

/** gradCacheStep's mini-batches of one group: consecutive slices of miniBatch rows, each left-padded. */
function miniBatches(ids: number[][], miniBatch: number): PaddedRows[] {
  const out: PaddedRows[] = [];
  for (let r = 0; r < ids.length; r += miniBatch) out.push(padLeft(ids.slice(r, r + miniBatch)));
  return out;
}

/** A padded batch in the peer's JSON layout: ids, mask, pos as [B][T] lists. */
function batchJson(p: PaddedRows): { ids: number[][]; mask: number[][]; pos: number[][] } {
  const rows = (a: Int32Array) => Array.from({ length: p.B }, (_, b) => Array.from(a.subarray(b * p.T, (b + 1) * p.T)));
  return { ids: rows(p.ids), mask: rows(p.mask), pos: rows(p.pos) };
}

const count = (ids: number[][]) => ids.reduce((n, r) => n + r.length, 0);

function sameIds(ours: number[][], sent: number[][], what: string): void {
  ours.forEach((r, i) => {
    if (r.length !== sent[i].length || r.some((x, j) => x !== sent[i][j])) {
      throw new Error(`${what} ${i}: Embedder.tokenize gives [${r.join(', ')}], the peer was sent [${sent[i].join(', ')}]`);
    }
  });
}

interface Row {
  name: string;
  /** Texts or triplets per call. */
  items: number;
  unit: 'texts/s' | 'triplets/s';
  tokens: number;
  ms: number;
  peakBytes: number;
  torch: number | string;
}

function fmtRow(r: Row): string {
  const rate = (ms: number) => `${fmt(r.items / (ms / 1000), 1)} ${r.unit}`;
  const torch = typeof r.torch === 'number' ? `  | torch: ${fmt(r.torch, 1)} ms, ${rate(r.torch)}, ours ${fmt(r.torch / r.ms)}x` : `  | torch: ${r.torch}`;
  return `${r.name}: ${fmt(r.ms, 1)} ms, ${rate(r.ms)}, ${fmt(r.tokens / (r.ms / 1000), 0)} tokens/s, peak ${fmtBytes(r.peakBytes)} bytes${torch}`;
}

export function embedSuite(ctx: SuiteContext): Suite {
  const o = ctx.options;
  const minMs = o.time ?? (o.quick ? 200 : 5000);
  const work = o.quick ? QUICK_WORK : WORK;
  const workloads: Workload[] = [];
  let tok: Tokenizer | null = null;
  let tinyConfig: DecoderConfig | null = null;
  let torchDesc = typeof ctx.torch === 'string' ? ctx.torch : `PyTorch ${ctx.torch.version} CPU`;
  const configOf = (w: ModelWork) => (w.model === 'tiny' ? tinyConfig! : presetConfig(w.model));

  return {
    name: 'embed',
    block: 'embed-bench',
    section: '## Embedding throughput\n\nProduced by `npm run bench` (suite embed, bench/suites/embed.ts).',

    async prepare() {
      const names = (w: ModelWork, prompt: string) => ({
        embedName: `${w.model} embed, prompt ${prompt} (${w.texts} texts, batches of ${w.batch})`,
        trainName: `${w.model} contrastive LoRA step, prompt ${prompt} (${w.triplets} triplets, one mini-batch of ${w.triplets})`,
      });
      const wanted = work.flatMap((w) => w.prompts.map((p) => ({ w, p, ...names(w, p) }))).filter((x) => o.filter.test(x.embedName) || o.filter.test(x.trainName));
      if (wanted.length === 0) return;
      tok = await readTokenizer(`${TINY_DIR}/tokenizer.json`);
      const configPath = `${TINY_DIR}/config.json`;
      tinyConfig = parseConfig(await readFile(configPath, 'utf8'), configPath);
      const trip = trainingTriplets(await readWordNet(), { seed: 0 }).rows;
      for (const { w, p, embedName, trainName } of wanted) {
        const texts = trip.slice(0, w.texts).map((t) => t.positive);
        const batch = trip.slice(0, w.triplets);
        const anchors = batch.map((t) => t.anchor);
        const candidates = [...batch.map((t) => t.positive), ...batch.map((t) => t.negative)];
        const ids = (s: string) => tokenize(tok!, s, p);
        const textIds = texts.map(ids);
        const anchorIds = anchors.map(ids);
        const candidateIds = candidates.map(ids);
        for (const r of [...anchorIds, ...candidateIds]) {
          if (r.length > MAX_LENGTH) throw new Error(`embed suite: a training text has ${r.length} tokens, over ${MAX_LENGTH} (Embedder would cut it)`);
        }
        const wl: Workload = {
          work: w, prompt: p, embedName, trainName, texts, textIds, embedBatches: embedBatches(textIds, w.batch),
          anchors, candidates, anchorIds, candidateIds,
          anchorBatches: miniBatches(anchorIds, w.triplets), candidateBatches: miniBatches(candidateIds, w.triplets),
          torch: typeof ctx.torch === 'string' ? 'not available' : '',
        };
        workloads.push(wl);
        if (typeof ctx.torch === 'string') continue;
        const modes = [...(o.filter.test(embedName) ? ['embed'] : []), ...(o.filter.test(trainName) ? ['contrastive_lora'] : [])];
        const file = JSON.stringify({
          embed: wl.embedBatches.map(batchJson),
          contrastive: { anchors: wl.anchorBatches.map(batchJson), candidates: wl.candidateBatches.map(batchJson) },
        });
        const args = ['--batch-file', '{batches.json}', '--lora-r', String(LORA.r), '--lora-alpha', String(LORA.alpha), '--lora-dropout', String(LORA.dropout),
          '--lr', String(LR), '--beta2', String(CONTRASTIVE_ADAMW.beta2), '--weight-decay', String(CONTRASTIVE_ADAMW.weightDecay), '--temperature', String(CONTRASTIVE_TEMPERATURE)];
        try {
          const r = await runTorchPeer(ctx.torch, configOf(w), modes, args, minMs, { 'batches.json': file });
          wl.torch = r;
          torchDesc = describePeer(r);
          console.log(`torch ${w.model}, prompt ${p}: ${modes.map((m) => `${m} ${fmt(r.ms[m], 1)} ms`).join(', ')}`);
        } catch (err) {
          wl.torch = `failed (${(err as Error).message})`;
          console.log(`torch ${w.model}, prompt ${p}: ${wl.torch}`);
        }
      }
    },

    async run(env: SuiteEnv): Promise<SuiteReport> {
      const { gpu } = env;
      const rows: Row[] = [];
      for (const w of work) {
        const mine = workloads.filter((x) => x.work === w);
        if (mine.length === 0) continue;
        const t0 = performance.now();
        const model = w.model === 'tiny' ? await loadDecoder(gpu, TINY_DIR) : await randomDecoder(gpu, presetConfig(w.model), 0);
        await gpu.sync();
        console.log(`${w.model}: ${w.model === 'tiny' ? 'loaded' : 'random weights'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        try {
          for (const wl of mine) {
            const peerMs = (mode: string) => (typeof wl.torch === 'string' ? wl.torch : wl.torch.ms[mode] ?? 'not run');
            if (o.filter.test(wl.embedName)) await measure(wl.embedName, () => embedRow(gpu, model, tok!, wl, minMs, peerMs('embed')));
            if (o.filter.test(wl.trainName)) await measure(wl.trainName, () => trainRow(gpu, model, tok!, wl, minMs, peerMs('contrastive_lora')));
          }
        } finally {
          releaseDecoder(model);
          gpu.trim();
        }
      }
      async function measure(name: string, fn: () => Promise<Row>): Promise<void> {
        try {
          const row = await fn();
          rows.push(row);
          console.log(fmtRow(row));
        } catch (err) {
          console.log(`${name}: FAILED ${(err as Error).message}`);
        }
      }
      const rate = (items: number, ms: number, unit: string) => `${fmt(items / (ms / 1000), 1)} ${unit}`;
      return {
        header: [
          'Models: tiny = fixtures/tiny-decoder (1.3M weights, trained); smollm2-135m = SmolLM2-135M\'s shape, random weights (seed 0); both read the WordNet tokenizer\'s ids of the same WordNet texts',
          `Peer: ${torchDesc}; the same config, token id batches, pooling, loss and optimizer; random weights (the work does not depend on the values); one autograd forward per sequence, where ours (GradCache) runs two except for its last mini-batch`,
          'Timing: wall clock around the whole call with its read-back (quietWait: no busy-polling), mean over >= 3 calls after a warm-up; peak = the pool\'s live-bytes high-water mark, weights included',
        ],
        table: rows.length === 0 ? [] : [
          '| case | ms/call | rate | tokens/s | peak pool bytes | peak MiB | torch ms/call | torch rate | ours vs torch |',
          '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
          ...rows.map((r) => {
            const p = typeof r.torch === 'number' ? r.torch : null;
            return `| ${r.name} | ${fmt(r.ms, 1)} | ${rate(r.items, r.ms, r.unit)} | ${fmt(r.tokens / (r.ms / 1000), 0)} | ${fmtBytes(r.peakBytes)} | ${fmt(mib(r.peakBytes), 0)} | ` +
              `${p ? fmt(p, 1) : missing(r.torch as string)} | ${p ? rate(r.items, p, r.unit) : ''} | ${p ? `${fmt(p / r.ms)}x` : ''} |`;
          }),
        ],
      };
    },
  };
}

async function embedRow(gpu: Gpu, model: Decoder, tok: Tokenizer, wl: Workload, minMs: number, torch: number | string): Promise<Row> {
  const embedder = new Embedder(gpu, model, tok);
  sameIds(wl.texts.map((t) => embedder.tokenize(t, { prompt: wl.prompt })), wl.textIds, 'text');
  const t = await timeCalls(async () => {
    await embedder.embed(wl.texts, { prompt: wl.prompt, batchSize: wl.work.batch });
  }, { minMs, afterWarmup: () => gpu.pool.resetPeak() });
  return {
    name: wl.embedName, items: wl.texts.length, unit: 'texts/s', tokens: count(wl.textIds),
    ms: t.ms, peakBytes: gpu.pool.stats().peakLiveBytes, torch,
  };
}

async function trainRow(gpu: Gpu, model: Decoder, tok: Tokenizer, wl: Workload, minMs: number, torch: number | string): Promise<Row> {
  const embedder = new Embedder(gpu, model, tok);
  const ids = (s: string) => embedder.tokenize(s, { prompt: wl.prompt, maxLength: MAX_LENGTH });
  const anchors = wl.anchors.map(ids);
  const candidates = wl.candidates.map(ids);
  sameIds(anchors, wl.anchorIds, 'anchor');
  sameIds(candidates, wl.candidateIds, 'candidate');
  const lora = createLora(gpu, model.config, LORA, 0);
  const params = loraParams(gpu, lora);
  const grads = gradMap(params);
  const B = wl.work.triplets;
  let step = 0;
  try {
    const t = await timeCalls(async () => {
      step++;
      const loss = recordContrastiveStep(gpu, model, lora, params, grads, { anchors, candidates }, B, LR, step);
      await gpu.read(loss);
      loss.release();
    }, { minMs, afterWarmup: () => gpu.pool.resetPeak() });
    return {
      name: wl.trainName, items: B, unit: 'triplets/s', tokens: count(anchors) + count(candidates),
      ms: t.ms, peakBytes: gpu.pool.stats().peakLiveBytes, torch,
    };
  } finally {
    releaseParams(params);
    releaseLora(lora);
  }
}
