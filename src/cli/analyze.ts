// lco analyze: the LCO-Emb layer analysis (src/eval/run-analysis.ts) of a
// decoder model folder (and an optional LoRA adapter) on a suite's paired
// texts (WordNet: an example sentence and the gloss of the same synset;
// shapes: a held-out scene's image and its first caption, for a model folder
// with a vision encoder, vision_config.json).
// Per layer: anisotropy of each side and mutual kNN (k = 10) between them.
// Prints a table; writes analysis.json and analysis.svg into --out, each atomically.
import { Embedder, type Pooling } from '../embed/embedder.ts';
import type { ChatFormat } from '../embed/prompt.ts';
import { MUTUAL_KNN_K } from '../eval/analysis.ts';
import { analyzeLayers, formatAnalysisTable, writeAnalysis } from '../eval/run-analysis.ts';
import { buildSuite, TASK_BUILDERS } from '../eval/suite.ts';
import { formatHelp, parseCommand, UsageError, type FlagSpecs } from './args.ts';
import { checkSuiteFlags } from './eval.ts';
import { withModel } from './session.ts';

/** Paired items of a default run: more than WordNet's 660, so all of them (~10 s on the tiny model). */
export const ANALYZE_DEFAULT_ITEMS = 1000;

const FLAGS = {
  model: { type: 'string', required: true, value: 'DIR', help: 'HF model folder (config.json, model.safetensors, tokenizer.json)' },
  adapter: { type: 'string', value: 'DIR', help: 'PEFT LoRA adapter folder to apply' },
  tasks: { type: 'string', default: 'wordnet', value: 'NAME', help: `task suite: ${Object.keys(TASK_BUILDERS).join(', ')} (shapes: image and caption; needs vision_config.json)` },
  'max-items': { type: 'number', integer: true, default: ANALYZE_DEFAULT_ITEMS, value: 'N', help: `paired items (at least ${MUTUAL_KNN_K + 1}; shapes: that many held-out scenes)` },
  out: { type: 'string', default: '.', value: 'DIR', help: 'where analysis.json and analysis.svg go' },
  prompt: { type: 'string', default: 'none', value: 'P', help: 'none, lco or a template with {text}' },
  chat: { type: 'string', default: 'none', value: 'FMT', help: 'none or chatml' },
  pooling: { type: 'string', default: 'lasttoken', value: 'MODE', help: 'lasttoken or mean' },
  'batch-size': { type: 'number', integer: true, default: 32, value: 'N', help: 'items per forward' },
  'max-length': { type: 'number', integer: true, value: 'N', help: 'most tokens per item (default: the model\'s max_position_embeddings)' },
  seed: { type: 'number', integer: true, default: 0, value: 'S', help: 'seed of the item sample' },
} as const satisfies FlagSpecs;

const HELP = formatHelp(`usage: lco analyze --model DIR [options]

Per layer (0 = token embeddings, last = after the final norm): anisotropy of
both sides of the suite's paired texts and their mutual kNN alignment (k = ${MUTUAL_KNN_K}).`, FLAGS);

export async function run(args: string[]): Promise<number> {
  const f = parseCommand('analyze', FLAGS, HELP, args, (f) => {
    checkSuiteFlags(f);
    if (f['max-items'] < MUTUAL_KNN_K + 1) throw new UsageError(`--max-items ${f['max-items']}: mutual kNN (k = ${MUTUAL_KNN_K}) needs at least ${MUTUAL_KNN_K + 1}`);
    if (f.seed < 0 || f.seed > 0xffffffff) throw new UsageError(`--seed ${f.seed}: must be in [0, 2^32)`);
  });
  if (typeof f === 'number') return f;
  const t0 = performance.now();
  const suite = await buildSuite(f.tasks, { seed: f.seed, maxPaired: f['max-items'] });
  const paired = suite.paired;
  if (!paired) {
    process.stderr.write(`lco analyze: task suite "${f.tasks}" has no paired texts\n`);
    return 1;
  }
  return withModel(f.model, f.adapter, async ({ gpu, model, lora, vision, tokenizer }) => {
    const embedder = new Embedder(gpu, model, tokenizer, lora, vision);
    const r = await analyzeLayers(embedder, paired, {
      prompt: f.prompt, chat: f.chat as ChatFormat, pooling: f.pooling as Pooling,
      batchSize: f['batch-size'], maxLength: f['max-length'],
    }, { suite: suite.name, suiteMeta: suite.meta });
    process.stdout.write(formatAnalysisTable(r));
    const { json, svg } = await writeAnalysis(f.out, r, { command: 'analyze', model: f.model, adapter: f.adapter ?? null, tasks: f.tasks });
    process.stdout.write(`whole run ${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${json} and ${svg}\n`);
    return 0;
  });
}
