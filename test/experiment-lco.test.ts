// `lco experiment lco --quick` end to end: micro models, a few steps of every
// stage. It checks the pipeline's outputs are well-formed (every stage ran,
// every number is in its range, the report and its plots are written), not
// the science: the full run (bench/ and the README) is where the claims are
// measured.
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { QUICK } from '../src/experiment/lco-config.ts';
import { runLcoExperiment, type LcoResults } from '../src/experiment/lco.ts';
import { writeLcoReport } from '../src/experiment/lco-report.ts';
import type { RetrievalMeasurement } from '../src/experiment/lco-measure.ts';
import { runLco } from './helpers.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function expectScores(m: RetrievalMeasurement, images: number) {
  expect(m.queries.images).toBe(images);
  expect(m.queries.captions).toBeGreaterThan(images); // ~5 distinct captions per scene
  for (const d of [m.i2t, m.t2i]) {
    for (const v of [d.r1, d.r5, d.ndcg10]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(d.r5).toBeGreaterThanOrEqual(d.r1);
  }
}

describe('lco experiment lco --quick', () => {
  it('runs every stage and writes a well-formed report with plots', async () => {
    const out = await mkdtemp(join(tmpdir(), 'lco-exp-'));
    dirs.push(out);
    const lines: string[] = [];
    const r: LcoResults = await runLcoExperiment(QUICK, { outDir: out, log: (s) => lines.push(s) });
    const nTest = QUICK.eval.testScenes;

    expect(r.data.testScenes).toBe(nTest);
    expect(r.data.textTriplets).toBeGreaterThan(0);
    expect(r.data.imagePairs).toBeGreaterThan(0);
    expect(r.pretrain.map((p) => p.size)).toEqual(QUICK.sizes.map((s) => s.name));
    for (const p of r.pretrain) expect(Number.isFinite(p.finalLoss) && p.finalLoss > 0).toBe(true);

    // one point per (size, snapshot), plus the continual-pretraining point
    expect(r.points.length).toBe(QUICK.sizes.length * QUICK.pretrain.snapshots.length + 1);
    expect(r.points.at(-1)!.kind).toBe('continual');
    for (const p of r.points) {
      expect(p.captionLoss).toBeGreaterThan(0);
      expect(p.captionLoss).toBeLessThan(20);
      expectScores(p.before, nTest);
      expectScores(p.after, nTest);
      for (const v of [p.summaries.image, p.summaries.text]) expect(v >= 0 && v <= 1).toBe(true);
      expect(p.summaries.constantGuess).toBeGreaterThan(0); // every scene has true words
    }
    expect(r.grsl.n).toBe(r.points.length);
    expect(Math.abs(r.grsl.spearman)).toBeLessThanOrEqual(1);

    // the main model: before, the text-only refinement and the three variants; layers 0..L
    expectScores(r.main.before, nTest);
    expect(r.main.refinements.map((x) => [x.data, x.loss, x.method])).toEqual([
      ['text', 'infonce', 'lora'], ['text+image', 'infonce', 'lora'], ['text+image', 'mamcl', 'lora'], ['text', 'infonce', 'full'],
    ]);
    for (const x of r.main.refinements) {
      expectScores(x.after, nTest);
      expect(Number.isFinite(x.finalLoss)).toBe(true);
    }
    const L = r.main.layersBefore.layers.length;
    expect(L).toBeGreaterThan(1);
    expect(r.main.layersAfter.layers.length).toBe(L);
    for (const s of [...r.main.layersBefore.layers, ...r.main.layersAfter.layers]) {
      expect(s.anisotropyA).toBeGreaterThanOrEqual(-1);
      expect(s.anisotropyA).toBeLessThanOrEqual(1 + 1e-9); // 1 where every item pools the same prompt token
    }

    const { files } = await writeLcoReport(out, r);
    expect(files.sort()).toEqual(['grsl.png', 'layers.png', 'report.md', 'results.json', 'retrieval.png']);
    const report = await readFile(join(out, 'report.md'), 'utf8');
    for (const h of ['## 1. Text-only refinement', '## 2. Layers', '## 3. Generation-representation scaling', '![grsl](grsl.png)']) expect(report).toContain(h);
    expect(report).toMatch(/\*\*(Holds here|Does not hold in this run|Weak here)/);
    for (const name of ['retrieval.png', 'layers.png', 'grsl.png']) {
      const png = PNG.sync.read(await readFile(join(out, name)));
      expect(png.width).toBe(960);
    }
    const json = await readFile(join(out, 'results.json'), 'utf8');
    expect(JSON.parse(json).points.length).toBe(r.points.length);
    expect(json).not.toContain('pooled'); // the pooled states behind the scores stay out of the results
    expect(lines.some((l) => l.startsWith('world:'))).toBe(true);
  }, 170_000);

  it('the CLI: --report-only re-renders the committed full run; an unknown study is a usage error', async () => {
    const out = await mkdtemp(join(tmpdir(), 'lco-exp-cli-'));
    dirs.push(out);
    const committed = new URL('../docs/experiments/lco/', import.meta.url).pathname;
    await copyFile(join(committed, 'results.json'), join(out, 'results.json'));
    const r = await runLco(['experiment', 'lco', '--out', out, '--report-only']);
    expect(r.code, r.stderr).toBe(0);
    // generated from the same results by the same code: the committed report is what it renders
    expect(await readFile(join(out, 'report.md'), 'utf8')).toBe(await readFile(join(committed, 'report.md'), 'utf8'));
    const bad = await runLco(['experiment', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown study "nope" \(known: lco\)/);
  });
});
