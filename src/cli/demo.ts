// lco demo: the LCO-Emb pipeline in minutes on a CPU. Loads the built-in
// tiny decoder (pretrained on WordNet by fixtures/make-tiny-decoder.ts),
// scores it as an embedding model on the held-out WordNet tasks, refines it
// with a LoRA adapter on the WordNet training triplets (contrastive,
// GradCache), scores it again and prints before and after side by side,
// beside the lexical baselines on the same split (BM25, TF-IDF). Everything
// lands in --out: the adapter, the training log and curve, and
// eval-before.json / eval-after.json / eval-lexical.json.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Gpu } from '../gpu/gpu.ts';
import { readTokenizer } from '../io/tokenizer.ts';
import { readWordNet } from '../data/wordnet.ts';
import { trainingTriplets } from '../data/wordnet-tasks.ts';
import type { PairRow } from '../data/pairs.ts';
import { Embedder } from '../embed/embedder.ts';
import { evaluateEmbedder, type EvalResults, type TaskScores } from '../eval/run-eval.ts';
import { evaluateLexical, formatLexicalMethods } from '../eval/run-lexical.ts';
import { buildSuite } from '../eval/suite.ts';
import { writeFileAtomic } from '../io/safetensors.ts';
import { loadDecoder, releaseDecoder, type Decoder } from '../model/decoder.ts';
import { createLora, LORA_TARGETS, releaseLora, type DecoderLora } from '../model/lora.ts';
import { CONTRASTIVE_DEFAULTS, trainContrastive } from '../train/contrastive-trainer.ts';
import { formatHelp, parseCommand, type FlagSpecs } from './args.ts';

const BUILTIN = new URL('../../fixtures/tiny-decoder', import.meta.url).pathname;

const FLAGS = {
  model: { type: 'string', default: BUILTIN, value: 'DIR', help: 'the decoder to refine (default: the built-in tiny WordNet decoder)' },
  out: { type: 'string', default: 'runs/demo', value: 'DIR', help: 'adapter, logs, eval-before.json, eval-after.json, eval-lexical.json' },
  steps: { type: 'number', integer: true, default: 150, value: 'N', help: 'contrastive steps' },
  'batch-size': { type: 'number', integer: true, default: 32, value: 'N', help: 'triplets per step' },
  lr: { type: 'number', default: 2e-3, value: 'LR', help: 'peak learning rate' },
  prompt: { type: 'string', default: 'lco', value: 'P', help: 'none, lco or a template with {text}' },
  'max-queries': { type: 'number', integer: true, default: 500, value: 'N', help: 'retrieval queries per evaluation' },
  'max-docs': { type: 'number', integer: true, value: 'N', help: 'cap the retrieval corpus (default: every held-out gloss + 500 distractors)' },
  'max-items': { type: 'number', integer: true, value: 'N', help: 'cap the clustering / probe items and STS pairs (default: all)' },
  seed: { type: 'number', integer: true, default: 0, value: 'S', help: 'seed of everything' },
} as const satisfies FlagSpecs;

const HELP = formatHelp(`usage: lco demo [options]

Before/after: the tiny WordNet decoder as an embedding model, then refined by
contrastive LoRA on WordNet triplets (example sentence -> its gloss, against
another sense's gloss), scored on held-out synsets beside lexical baselines
(BM25, TF-IDF) on the same split. A few minutes on 2 cores.`, FLAGS);

const fmt = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(4));

/** The metrics of two runs side by side, and the lexical baselines' on the same split when given. */
export function compareTable(before: EvalResults, after: EvalResults, lexical?: TaskScores): string {
  const pick = (r: TaskScores | undefined): (number | undefined)[] => [
    r?.retrieval?.ndcgAt10, r?.retrieval?.recallAt10, r?.retrieval?.mrrAt10, r?.sts?.spearman, r?.clustering?.vMeasure, r?.classification?.accuracy,
  ];
  const names = ['retrieval nDCG@10', 'retrieval Recall@10', 'retrieval MRR@10', 'STS Spearman (Wu-Palmer)', 'clustering V-measure', 'probe accuracy'];
  const [b, a, l] = [pick(before), pick(after), pick(lexical)];
  const w = Math.max(...names.map((n) => n.length)) + 2;
  const head = `${'metric'.padEnd(w)}${'base'.padEnd(10)}${lexical ? '+ LoRA'.padEnd(10) + 'lexical' : '+ LoRA'}`;
  return [head, ...names.map((n, i) => `${n.padEnd(w)}${fmt(b[i]).padEnd(10)}${lexical ? fmt(a[i]).padEnd(10) + fmt(l[i]) : fmt(a[i])}`)].join('\n') + '\n';
}

export async function run(args: string[]): Promise<number> {
  const f = parseCommand('demo', FLAGS, HELP, args);
  if (typeof f === 'number') return f;
  const log = (s: string) => process.stderr.write(s);
  const gpu = await Gpu.create();
  let model: Decoder | undefined;
  let lora: DecoderLora | undefined;
  try {
    model = await loadDecoder(gpu, f.model);
    lora = createLora(gpu, model.config, { r: 8, alpha: 16, dropout: 0.05, rslora: false, targets: [...LORA_TARGETS] }, f.seed);
    const tok = await readTokenizer(join(f.model, 'tokenizer.json'));
    const embedOpts = { prompt: f.prompt, pooling: 'lasttoken' as const, batchSize: 32, maxLength: 128 };
    log(`building the held-out WordNet tasks (${f['max-queries']} retrieval queries)...\n`);
    const suite = await buildSuite('wordnet', { seed: f.seed, maxQueries: f['max-queries'], distractors: 500, maxDocs: f['max-docs'], maxItems: f['max-items'] });

    log('scoring the lexical baselines (BM25, TF-IDF) on the same split...\n');
    const lexical = evaluateLexical(suite, { seed: f.seed });
    await mkdir(f.out, { recursive: true });
    await writeFileAtomic(join(f.out, 'eval-lexical.json'), new TextEncoder().encode(JSON.stringify(lexical, null, 2) + '\n'));

    log('1/3 scoring the base model as an embedding model...\n');
    const before = await evaluateEmbedder(new Embedder(gpu, model, tok), suite, embedOpts, { seed: f.seed });
    await writeFileAtomic(join(f.out, 'eval-before.json'), new TextEncoder().encode(JSON.stringify(before, null, 2) + '\n'));

    log(`2/3 contrastive LoRA training: ${f.steps} steps of ${f['batch-size']} WordNet triplets...\n`);
    const t = trainingTriplets(await readWordNet(), { seed: f.seed });
    const rows: PairRow[] = t.rows.map((r, i) => ({
      line: i + 1, anchor: { text: r.anchor }, positive: { text: r.positive }, negatives: [{ text: r.negative }], positiveModality: 1, negativeModalities: [1],
    }));
    await trainContrastive({
      gpu, model, lora, embedder: new Embedder(gpu, model, tok), rows, k: 1, outDir: f.out, baseModel: f.model,
      tokenizerJson: await readFile(join(f.model, 'tokenizer.json'), 'utf8'), progressOut: process.stderr,
      config: {
        ...CONTRASTIVE_DEFAULTS, batchSize: f['batch-size'], miniBatch: f['batch-size'], steps: f.steps, lr: f.lr, warmup: Math.ceil(f.steps / 10),
        prompt: f.prompt, maxLength: 128, seed: f.seed, lora: lora.config,
      },
    });

    log('3/3 scoring the refined model...\n');
    const after = await evaluateEmbedder(new Embedder(gpu, model, tok, lora), suite, embedOpts, { seed: f.seed });
    await writeFileAtomic(join(f.out, 'eval-after.json'), new TextEncoder().encode(JSON.stringify(after, null, 2) + '\n'));
    process.stdout.write(`\nheld-out WordNet tasks (${after.counts.queries} queries x ${after.counts.documents} glosses, ` +
      `${after.counts.stsPairs} STS pairs, ${after.clustering?.k ?? 0} lexicographer files), prompt ${f.prompt}:\n\n${compareTable(before, after, lexical)}\n` +
      `${formatLexicalMethods(lexical)}\nadapter (PEFT) and logs in ${f.out}\n`);
    return 0;
  } finally {
    if (lora) releaseLora(lora);
    if (model) releaseDecoder(model);
    gpu.destroy();
  }
}
