// lco eval: scores a decoder model folder (and an optional LoRA adapter) on a
// built-in task suite: retrieval, STS, clustering and a linear probe
// (src/eval/run-eval.ts). Prints a table; --json writes every number, the
// options and the timings, atomically.
//
// The default sizes keep a run on fixtures/tiny-decoder well under a minute
// on a 2-core CPU (lavapipe): the embedding forward is the cost (~120-200
// texts/s for the tiny model, the lco prompt being the slower), and the
// distinct texts are about queries + documents, since the clustering and STS
// glosses are documents too: 500 queries + (2395 held-out + 500 distractor)
// glosses. (All 946 queries and evalTasks' 2000 distractors: ~5300 texts.)
//
// --tasks shapes is image -> text retrieval on held-out shapes-world scenes
// (src/eval/shapes-suite.ts): --max-queries test scenes, each image a query
// and its captions the relevant documents. It needs a multimodal model folder
// (vision_config.json and vision_model.safetensors beside the decoder); the
// images get the --prompt's image template (lco: LCO-Emb's image prompt).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/safetensors.ts';
import { Embedder, type Pooling } from '../embed/embedder.ts';
import { resolvePrompt, type ChatFormat } from '../embed/prompt.ts';
import { DEFAULT_KMEANS_RESTARTS, evaluateEmbedder, formatResultsTable } from '../eval/run-eval.ts';
import { evaluateLexical, formatLexicalMethods } from '../eval/run-lexical.ts';
import { buildSuite, TASK_BUILDERS } from '../eval/suite.ts';
import { atLeast, formatHelp, oneOf, parseCommand, UsageError, type FlagSpecs } from './args.ts';
import { withModel } from './session.ts';
import { VISION_CONFIG_FILE } from '../model/vision.ts';

/** Suites whose items include images: they need a vision encoder beside the decoder. */
export const IMAGE_TASKS: readonly string[] = ['shapes'];

/** A usage error when `--tasks` is an image suite and the model folder has no vision encoder. */
export function checkVisionFor(tasks: string, modelDir: string): void {
  if (IMAGE_TASKS.includes(tasks) && !existsSync(join(modelDir, VISION_CONFIG_FILE))) {
    throw new UsageError(`--tasks ${tasks}: the suite's queries are images, but ${modelDir} has no ${VISION_CONFIG_FILE} ` +
      `(a multimodal model folder has vision_config.json and vision_model.safetensors beside the decoder)`);
  }
}

/** The flags lco eval and lco analyze share, checked alike: suite, model fit, pooling, chat, prompt, sizes. */
export function checkSuiteFlags(f: { tasks: string; model: string; pooling: string; chat: string; prompt: string; 'batch-size': number; 'max-length'?: number }): void {
  oneOf('tasks', f.tasks, Object.keys(TASK_BUILDERS));
  checkVisionFor(f.tasks, f.model);
  oneOf('pooling', f.pooling, ['lasttoken', 'mean']);
  oneOf('chat', f.chat, ['none', 'chatml']);
  resolvePrompt(f.prompt);
  atLeast('batch-size', f['batch-size'], 1);
  atLeast('max-length', f['max-length'], 1);
}

/** Sizes of a default run (see the header); 0 = no cut. */
export const EVAL_DEFAULTS = { maxQueries: 500, distractors: 500, maxDocs: 0, maxItems: 0 } as const;

const FLAGS = {
  model: { type: 'string', required: true, value: 'DIR', help: 'HF model folder (config.json, model.safetensors, tokenizer.json)' },
  adapter: { type: 'string', value: 'DIR', help: 'PEFT LoRA adapter folder to apply' },
  tasks: { type: 'string', default: 'wordnet', value: 'NAME', help: `task suite: ${Object.keys(TASK_BUILDERS).join(', ')} (shapes: image -> caption retrieval; needs vision_config.json)` },
  prompt: { type: 'string', default: 'none', value: 'P', help: 'none, lco ("{text}\\nSummarize the above text in one word:") or a template with {text}' },
  'query-prompt': { type: 'string', value: 'P', help: 'prompt of the retrieval queries (default: --prompt)' },
  chat: { type: 'string', default: 'none', value: 'FMT', help: 'none, or chatml to wrap the prompt in a user turn with the assistant turn opened' },
  pooling: { type: 'string', default: 'lasttoken', value: 'MODE', help: 'lasttoken or mean' },
  dimensions: { type: 'number', integer: true, value: 'N', help: 'keep the first N dimensions (Matryoshka; re-normalised)' },
  'batch-size': { type: 'number', integer: true, default: 32, value: 'N', help: 'items per forward' },
  'max-length': { type: 'number', integer: true, value: 'N', help: 'most tokens per item (default: the model\'s max_position_embeddings)' },
  'max-queries': { type: 'number', integer: true, default: EVAL_DEFAULTS.maxQueries, value: 'N', help: 'retrieval queries (wordnet: a seeded sample of the held-out examples; shapes: the first N test scenes)' },
  distractors: { type: 'number', integer: true, default: EVAL_DEFAULTS.distractors, value: 'N', help: 'train glosses added to the retrieval corpus (wordnet)' },
  'max-docs': { type: 'number', integer: true, default: EVAL_DEFAULTS.maxDocs, value: 'N', help: 'cut the corpus to N documents, keeping the relevant ones (0: no cut)' },
  'max-items': { type: 'number', integer: true, default: EVAL_DEFAULTS.maxItems, value: 'N', help: 'about N clustering/probe items and STS pairs (0: all)' },
  'kmeans-restarts': { type: 'number', integer: true, default: DEFAULT_KMEANS_RESTARTS, value: 'N', help: 'k-means++ restarts (lowest inertia kept)' },
  seed: { type: 'number', integer: true, default: 0, value: 'S', help: 'seed of the task sampling and k-means' },
  'no-baselines': { type: 'boolean', help: 'skip the lexical baselines (BM25, TF-IDF) printed beside the model' },
  json: { type: 'string', value: 'OUT.json', help: 'write the results as JSON (atomically)' },
} as const satisfies FlagSpecs;

const HELP = formatHelp(`usage: lco eval --model DIR [options]

Embeds the suite's texts with the decoder in DIR and prints retrieval (nDCG@10,
Recall@1/5/10, MRR@10, MAP@100), STS (Spearman), clustering (V-measure, NMI)
and probe accuracy, each beside a lexical baseline on the same split: BM25
for retrieval, TF-IDF vectors for the rest (src/eval/lexical.ts). --tasks
shapes: image -> caption retrieval on held-out shapes-world scenes, for a
model folder with vision_config.json.`, FLAGS);

export async function run(args: string[]): Promise<number> {
  const f = parseCommand('eval', FLAGS, HELP, args, (f) => {
    checkSuiteFlags(f);
    if (f['query-prompt'] !== undefined) resolvePrompt(f['query-prompt']);
    atLeast('dimensions', f.dimensions, 1);
    atLeast('max-queries', f['max-queries'], 1);
    atLeast('distractors', f.distractors, 0);
    atLeast('max-docs', f['max-docs'], 0);
    atLeast('max-items', f['max-items'], 0);
    atLeast('kmeans-restarts', f['kmeans-restarts'], 1);
    if (f.seed < 0 || f.seed > 0xffffffff) throw new UsageError(`--seed ${f.seed}: must be in [0, 2^32)`);
  });
  if (typeof f === 'number') return f;
  const t0 = performance.now();
  const suite = await buildSuite(f.tasks, {
    seed: f.seed, maxQueries: f['max-queries'], distractors: f.distractors,
    maxDocs: f['max-docs'] || undefined, maxItems: f['max-items'] || undefined,
  });
  const suiteSeconds = (performance.now() - t0) / 1000;
  return withModel(f.model, f.adapter, async ({ gpu, model, lora, vision, tokenizer }) => {
    const embedder = new Embedder(gpu, model, tokenizer, lora, vision);
    const results = await evaluateEmbedder(embedder, suite, {
      prompt: f.prompt, queryPrompt: f['query-prompt'], chat: f.chat as ChatFormat, pooling: f.pooling as Pooling,
      dimensions: f.dimensions, batchSize: f['batch-size'], maxLength: f['max-length'],
    }, { seed: f.seed, kmeansRestarts: f['kmeans-restarts'] });
    if (!f['no-baselines']) process.stderr.write('lco eval: scoring the lexical baselines (BM25, TF-IDF) on the same split...\n');
    const lexical = f['no-baselines'] ? undefined : evaluateLexical(suite, { seed: f.seed, kmeansRestarts: f['kmeans-restarts'] });
    const total = (performance.now() - t0) / 1000;
    const hasBaseline = lexical && (lexical.retrieval || lexical.sts || lexical.clustering || lexical.classification);
    process.stdout.write(formatResultsTable(results, hasBaseline ? lexical : undefined));
    if (hasBaseline) process.stdout.write(formatLexicalMethods(lexical));
    process.stdout.write(`suite built in ${suiteSeconds.toFixed(1)} s; whole run ${total.toFixed(1)} s\n`);
    if (f.json) {
      const out = {
        command: 'eval', model: f.model, adapter: f.adapter ?? null, tasks: f.tasks, ...results,
        timings: { ...results.timings, suite: suiteSeconds, run: total }, lexical: lexical ?? null,
      };
      // NaN (an undefined metric) becomes null, as JSON has no NaN.
      await writeFileAtomic(f.json, new TextEncoder().encode(`${JSON.stringify(out, null, 2)}\n`));
      process.stderr.write(`lco eval: wrote ${f.json}\n`);
    }
    return 0;
  });
}
