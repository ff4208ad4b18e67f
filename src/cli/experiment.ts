// lco experiment: reproducible studies that train and measure end to end.
//
//   lco experiment lco [--quick] [--out DIR]
//     LCO-Emb's claims in miniature (src/experiment/lco.ts): a mini multimodal
//     LM pretrained generatively on the shapes world and WordNet, text-only
//     contrastive refinement, image <-> text retrieval before and after, the
//     layer analysis, the variants and the generation-representation scaling
//     study. Writes DIR/report.md, DIR/results.json and PNG plots; the
//     intermediate models stay in DIR/work/. --quick: micro models and a few
//     steps (about a minute), to check the pipeline, not the science.
import { FULL, QUICK } from '../experiment/lco-config.ts';
import { runLcoExperiment, type LcoResults } from '../experiment/lco.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeLcoReport } from '../experiment/lco-report.ts';
import { formatHelp, parseCommand, UsageError, type FlagSpecs } from './args.ts';
import { withInterrupt } from './session.ts';

const STUDIES = ['lco'];

const FLAGS = {
  quick: { type: 'boolean', help: 'micro models and a few steps of everything (checks the pipeline in about a minute)' },
  out: { type: 'string', value: 'DIR', help: 'report folder (default experiments/lco or experiments/lco-quick)' },
  verbose: { type: 'boolean', help: 'also print the trainers\' progress lines' },
  'report-only': { type: 'boolean', help: 'rewrite report.md and the plots from DIR/results.json without training' },
} as const satisfies FlagSpecs;

const HELP = formatHelp(`usage: lco experiment lco [--quick] [--out DIR]

Reproduces LCO-Emb's claims in miniature: generative pretraining of a mini
multimodal LM (shapes-world captions + WordNet text), text-only contrastive
LoRA, image<->text retrieval before and after, per-layer anisotropy and
mutual kNN, variants (+ image pairs, MAMCL, full fine-tuning) and the
generation-representation scaling study. Writes report.md, results.json and
PNG plots into the folder.`, FLAGS);

export async function run(args: string[]): Promise<number> {
  const [study, ...rest] = args;
  if (study === '--help' || study === '-h' || study === undefined) {
    process.stdout.write(HELP);
    return study === undefined ? 2 : 0;
  }
  if (!STUDIES.includes(study)) {
    process.stderr.write(`lco experiment: unknown study "${study}" (known: ${STUDIES.join(', ')})\n`);
    return 2;
  }
  const f = parseCommand('experiment', FLAGS, HELP, rest, (f) => {
    if (f.out === '') throw new UsageError('--out needs a folder');
  });
  if (typeof f === 'number') return f;
  const cfg = f.quick ? QUICK : FULL;
  const out = f.out ?? (f.quick ? 'experiments/lco-quick' : 'experiments/lco');
  const log = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
  if (f['report-only']) {
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as LcoResults;
    const { files } = await writeLcoReport(out, results);
    log(`rewrote ${files.map((x) => `${out}/${x}`).join(', ')}`);
    return 0;
  }
  log(`lco experiment lco (${cfg.name}): writing into ${out}`);
  const results = await withInterrupt(log, (signal) => runLcoExperiment(cfg, { outDir: out, log, signal, progressOut: f.verbose ? process.stderr : null }));
  const { files } = await writeLcoReport(out, results);
  log(`done in ${(results.totalSeconds / 60).toFixed(1)} min: ${files.map((x) => `${out}/${x}`).join(', ')}`);
  return 0;
}
