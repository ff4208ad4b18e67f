// The LCO experiment's report: results.json, report.md and PNG plots in one
// folder. The text states what each number is and, where the claim does not
// hold in this run, says so with the numbers: it is generated from the
// results, never written by hand.
//
//   retrieval.png   image->text and text->image R@1 / nDCG@10: the model before
//                   refinement and after each refinement (bars)
//   layers.png      per-layer anisotropy of images and captions and their
//                   mutual kNN, before and after the text-only LoRA (lines)
//   grsl.png        held-out caption loss vs. retrieval after the fixed
//                   refinement, one point per generative checkpoint (scatter,
//                   least-squares line, Pearson / Spearman in the note)
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/safetensors.ts';
import { barChart, lineChart, scatterChart } from '../report/chart.ts';
import { markdownTable } from '../report/markdown.ts';
import { writeChartPng } from '../report/png.ts';
import type { LcoResults } from './lco.ts';
import type { RetrievalMeasurement } from './lco-measure.ts';

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
const signed = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(3)}` : 'n/a');
const minutes = (s: number) => `${(s / 60).toFixed(1)} min`;

function retrievalRow(name: string, m: RetrievalMeasurement): (string | number)[] {
  return [name, m.i2t.r1, m.i2t.r5, m.i2t.ndcg10, m.t2i.r1, m.t2i.r5, m.t2i.ndcg10];
}

const RETRIEVAL_HEADER = ['model', 'I→T R@1', 'I→T R@5', 'I→T nDCG@10', 'T→I R@1', 'T→I R@5', 'T→I nDCG@10'];

/** The smallest nDCG@10 gain called a clear improvement (about one query in a hundred moving to the top). */
const CLEAR_GAIN = 0.01;

/** The verdict on claim 1: does text-only refinement raise image->text retrieval? */
function claimOne(r: LcoResults): string {
  const before = r.main.before.i2t;
  const after = r.main.refinements[0].after.i2t;
  const dR1 = after.r1 - before.r1, dN = after.ndcg10 - before.ndcg10;
  const chance = 5 / Math.max(1, r.main.before.queries.captions);
  // every image pooled to (nearly) one vector: a change in the image->text scores is the order of the captions, not the images
  const oneVector = r.main.layersAfter.layers.at(-1)!.anisotropyA > 0.999;
  if (dN >= CLEAR_GAIN && dR1 >= 0 && !oneVector) {
    return `**Holds here.** Text-only contrastive refinement raised image→text retrieval on held-out scenes: ` +
      `R@1 ${f3(before.r1)} → ${f3(after.r1)} (${signed(dR1)}), nDCG@10 ${f3(before.ndcg10)} → ${f3(after.ndcg10)} (${signed(dN)}), ` +
      `although no image was seen during the refinement.`;
  }
  if (dN > 0 && !oneVector) {
    return `**Weak here.** Image→text retrieval after text-only refinement rose by less than ${CLEAR_GAIN} nDCG@10: R@1 ${f3(before.r1)} → ${f3(after.r1)} (${signed(dR1)}), ` +
      `nDCG@10 ${f3(before.ndcg10)} → ${f3(after.ndcg10)} (${signed(dN)}), within what a different seed could give. ${diagnosis(r)}`;
  }
  return `**Does not hold in this run.** Image→text retrieval after text-only refinement: R@1 ${f3(before.r1)} → ${f3(after.r1)} (${signed(dR1)}), ` +
    `nDCG@10 ${f3(before.ndcg10)} → ${f3(after.ndcg10)} (${signed(dN)}); a random ranking's nDCG@10 is about ${f3(chance)}. ` +
    diagnosis(r);
}

/** The likely reason when the claim does not hold, from the layer analysis and the summary hit rates. */
function diagnosis(r: LcoResults): string {
  const last = r.main.layersBefore.layers.at(-1)!;
  if (last.anisotropyA > 0.999) {
    return `Likely reason: the pooled image embedding is nearly the same for every image (mean pairwise cosine ${f3(last.anisotropyA)} at the last layer, ` +
      `${r.main.layersBefore.layers.every((l) => l.anisotropyA > 0.999) ? 'and at every layer' : 'see the layer table'}; mutual kNN barely above chance). ` +
      `The prompt's last token never learned to read the image rows, although the captions do (held-out caption loss ` +
      `${f3(r.points.filter((p) => p.kind === 'pretrain').at(-1)!.captionLoss)} nats/token): with nothing of the image at the pooled token, ` +
      `no refinement of the text side can reach it. ${summaryNote(r)}`;
  }
  return `Likely reason: at this scale the generative pretraining did not put image and caption states into a shared space ` +
    `(see the mutual kNN per layer below), so what the LoRA learns on text has little to transfer. ${summaryNote(r)}`;
}

/** What the one-word summary hit rates of the main model say about the pooled token. */
function summaryNote(r: LcoResults): string {
  const p = r.points.filter((x) => x.kind === 'pretrain').at(-1);
  if (!p) return '';
  const s = p.summaries;
  return `The pooled token is the one that should predict a one-word summary of the item: at the main model's last snapshot its most likely next token ` +
    `starts a word true of the scene for ${pct(s.image)} of the test images and ${pct(s.text)} of their captions, ` +
    `against ${pct(s.constantGuess)} for always guessing the most common true word${Math.max(s.image, s.text) <= s.constantGuess ? ': the one-word summary ability this rests on was not learned' : ''}.`;
}

const pct = (v: number) => `${(100 * v).toFixed(0)}%`;

/** The verdict on GRSL: lower caption loss should go with higher retrieval after refinement (negative correlation). */
function claimTwo(r: LcoResults): string {
  const { pearson, spearman, n, metric } = r.grsl;
  if (!Number.isFinite(pearson) || n < 3) return `Too few points (${n}) for a correlation.`;
  const verdict = spearman < -0.3 && pearson < 0
    ? '**Holds here**: checkpoints that caption better (lower loss) embed better after the same refinement'
    : spearman < 0
      ? '**Weak here**: the sign is the predicted one, the strength is not convincing'
      : '**Does not hold in this run**: better captioning did not go with better embeddings after refinement';
  const noise = r.main.layersBefore.layers.at(-1)!.anisotropyA > 0.999
    ? ' Here y cannot carry the signal: the pooled image embeddings hold almost no image information (section 1), so its differences are noise around chance.'
    : '';
  return `${verdict} (Pearson r = ${f3(pearson)}, Spearman ρ = ${f3(spearman)} over ${n} checkpoints; y = ${metric}).${noise}`;
}

export async function writeLcoReport(dir: string, r: LcoResults): Promise<{ report: string; files: string[] }> {
  await mkdir(dir, { recursive: true });
  const enc = new TextEncoder();
  const files: string[] = [];
  const put = async (name: string, text: string) => {
    await writeFileAtomic(join(dir, name), enc.encode(text));
    files.push(name);
  };
  const png = async (name: string, svg: string) => {
    await writeChartPng(join(dir, name), svg);
    files.push(name);
  };
  await put('results.json', `${JSON.stringify(r, null, 1)}\n`);

  // retrieval before / after, every refinement
  const models = [{ name: 'before refinement', m: r.main.before }, ...r.main.refinements.map((x) => ({ name: x.name, m: x.after }))];
  await png('retrieval.png', barChart({
    title: `Zero-shot retrieval on ${r.data.testScenes} held-out scenes (${r.main.size}, step ${r.main.step})`,
    yLabel: 'score', groups: ['I→T R@1', 'I→T nDCG@10', 'T→I R@1', 'T→I nDCG@10'],
    series: models.map(({ name, m }) => ({ name, values: [m.i2t.r1, m.i2t.ndcg10, m.t2i.r1, m.t2i.ndcg10] })),
    width: 960, height: 480,
  }));

  // per-layer curves
  const L = (a: typeof r.main.layersBefore, f: (s: (typeof a.layers)[number]) => number): [number, number][] => a.layers.map((s) => [s.layer, f(s)]);
  await png('layers.png', lineChart({
    title: `Per-layer anisotropy and image-caption mutual kNN@${r.main.layersBefore.options.k} (${r.main.size})`,
    xLabel: `layer (0 = embeddings, ${r.main.layersBefore.counts.layers} = last block + final norm)`, yLabel: 'value',
    note: `mutual kNN by chance: ${f3(r.main.layersBefore.chanceMutualKnn)}`,
    series: [
      { name: 'anisotropy, images (before)', points: L(r.main.layersBefore, (s) => s.anisotropyA) },
      { name: 'anisotropy, captions (before)', points: L(r.main.layersBefore, (s) => s.anisotropyB) },
      { name: 'mutual kNN (before)', points: L(r.main.layersBefore, (s) => s.mutualKnn) },
      { name: 'anisotropy, images (after)', points: L(r.main.layersAfter, (s) => s.anisotropyA) },
      { name: 'anisotropy, captions (after)', points: L(r.main.layersAfter, (s) => s.anisotropyB) },
      { name: 'mutual kNN (after)', points: L(r.main.layersAfter, (s) => s.mutualKnn) },
    ],
    width: 960, height: 480,
  }));

  // GRSL scatter
  await png('grsl.png', scatterChart({
    title: 'Generation vs. representation: caption loss and retrieval after the same refinement',
    xLabel: 'held-out caption loss (nats / token)', yLabel: r.grsl.metric,
    points: r.points.map((p) => ({ x: p.captionLoss, y: p.after.i2t.ndcg10, series: p.kind === 'continual' ? `${p.size} + continual LoRA` : p.size, label: `${p.step}` })),
    fit: true, note: `Pearson r = ${f3(r.grsl.pearson)}, Spearman ρ = ${f3(r.grsl.spearman)} (n = ${r.grsl.n})`,
    width: 960, height: 480,
  }));

  const c = r.config;
  const t = r.timings;
  const lines = [
    `# LCO-Emb in miniature: ${c.name} run`,
    '',
    `Machine adapter: ${r.adapter}. Total time ${minutes(r.totalSeconds)} (generative pretraining ${minutes(t.pretrain ?? 0)}, ` +
      `scaling-study points ${minutes(t.grsl ?? 0)}, main-model study ${minutes(t.main ?? 0)}, continual pretraining ${minutes(t.continual ?? 0)}).`,
    '',
    `Data: the shapes world (seed ${c.world.seed}, ${c.world.scenes} scenes): ${r.data.trainScenes} train scenes, ` +
      `${r.data.validationScenes} validation scenes (caption loss), ${r.data.testScenes} test scenes (retrieval; never trained on). ` +
      `Refinement data: ${r.data.textTriplets} text-only triplets (caption, another caption of the same scene, a caption of an edited scene that is false of it) ` +
      `and ${r.data.imagePairs} caption→image pairs for the mixed variants. Prompts: LCO-Emb's ("…Summarize the above text/image in one word:"), last-token pooling.`,
    '',
    '## 1. Text-only refinement and image retrieval',
    '',
    claimOne(r),
    '',
    markdownTable(RETRIEVAL_HEADER, models.map(({ name, m }) => retrievalRow(name, m))),
    '',
    `R@K counts a query as found when a relevant item is among the top K (any of a scene's 5 captions for image→text). ` +
      `Refinement: ${c.contrastive.steps} steps of ${c.contrastive.batchSize} rows, one hard negative, t = ${c.contrastive.temperature}, ` +
      `LoRA r ${c.contrastive.lora.r} α ${c.contrastive.lora.alpha} on every decoder linear, lr ${c.contrastive.lr}.`,
    '',
    markdownTable(['refinement', 'data', 'loss', 'trained', 'final loss', 'seconds'],
      r.main.refinements.map((x) => [x.name, x.data, x.loss, x.method === 'lora' ? 'LoRA' : 'all decoder weights', x.finalLoss, x.seconds]), { digits: [0, 0, 0, 0, 3, 0] }),
    '',
    `Final loss: the InfoNCE loss of the last step; a uniform guess over the ${2 * c.contrastive.batchSize} candidates of a step ` +
      `(${c.contrastive.batchSize} positives, ${c.contrastive.batchSize} hard negatives) scores ln ${2 * c.contrastive.batchSize} = ${f3(Math.log(2 * c.contrastive.batchSize))}.`,
    '',
    '![retrieval](retrieval.png)',
    '',
    '## 2. Layers: anisotropy and image-caption alignment',
    '',
    markdownTable(['layer', 'aniso. images', 'aniso. captions', 'mutual kNN', 'aniso. images (after)', 'aniso. captions (after)', 'mutual kNN (after)'],
      r.main.layersBefore.layers.map((s, i) => {
        const a = r.main.layersAfter.layers[i];
        return [`${s.layer} ${s.label}`, s.anisotropyA, s.anisotropyB, s.mutualKnn, a.anisotropyA, a.anisotropyB, a.mutualKnn];
      })),
    '',
    `Mutual kNN by chance: ${f3(r.main.layersBefore.chanceMutualKnn)} (k = ${r.main.layersBefore.options.k}, ${r.main.layersBefore.counts.items} image-caption pairs).`,
    '',
    '![layers](layers.png)',
    '',
    '## 3. Generation-representation scaling (GRSL)',
    '',
    claimTwo(r),
    '',
    markdownTable(['model', 'step', 'kind', 'caption loss', 'summary hits (image / text)', 'I→T nDCG@10 before', 'I→T nDCG@10 after', 'I→T R@1 after', 'T→I R@1 after'],
      r.points.map((p) => [p.size, p.step, p.kind, p.captionLoss, `${pct(p.summaries.image)} / ${pct(p.summaries.text)}`, p.before.i2t.ndcg10, p.after.i2t.ndcg10, p.after.i2t.r1, p.after.t2i.r1]),
      { digits: [0, 0, 0, 3, 0, 3, 3, 3, 3] }),
    '',
    `Summary hits: how often the prompt's last token (the pooled one) predicts the first token of a word true of the scene; ` +
      `always guessing the most common true word scores ${pct(r.points.at(-1)?.summaries.constantGuess ?? NaN)}.`,
    '',
    '![grsl](grsl.png)',
    '',
    '## Generative pretraining',
    '',
    markdownTable(['model', 'steps', 'final train loss', 'seconds'], r.pretrain.map((p) => [p.size, p.steps, p.finalLoss, p.seconds]), { digits: [0, 0, 3, 0] }),
    '',
    `Each step: ${c.pretrain.captionBatch} captioned images and ${c.pretrain.textBatch} WordNet windows of ${c.pretrain.seqLen} tokens, ` +
      `AdamW lr ${c.pretrain.lr}; snapshots at steps ${c.pretrain.snapshots.join(', ')}.` +
      (c.continual ? ` Continual pretraining: ${c.continual.steps} more steps of a LoRA (r ${c.continual.lora.r}) on the main model's last snapshot, merged into its weights.` : ''),
    '',
  ];
  const report = lines.join('\n');
  await put('report.md', report);
  return { report, files };
}
