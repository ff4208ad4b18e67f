// npm run bench:profile [-- --preset tiny|smollm2-135m] [--batch B] [--seq T] [--by-label] [--top N]
//
// Where a step's GPU time goes: one inference forward, one LoRA training step
// (r 8 on all seven linears; the LM loss) and one contrastive LoRA step
// (GradCache, InfoNCE with hard negatives) of the decoder preset with random
// weights, each profiled per kernel entry point with timestamp queries
// (Gpu.profileBegin: every dispatch in its own pass). Prints, per step, the
// GPU milliseconds and dispatch count of each kernel entry, slowest first,
// and the sum next to the step's wall time without profiling. --by-label
// groups by dispatch label instead (it names the shapes), the --top N first.
import { Gpu } from '../src/gpu/gpu.ts';
import { randomDecoder, releaseDecoder } from '../src/model/decoder.ts';
import { decoderForward } from '../src/model/forward.ts';
import { createLora, releaseLora } from '../src/model/lora.ts';
import { presetConfig } from '../src/model/presets.ts';
import { accumulateMicroBatch, uploadWindows } from '../src/train/lm-trainer.ts';
import { gradMap, loraParams, optimizerStep, releaseParams, zeroGrads } from '../src/train/optimizer.ts';
import { recordContrastiveStep } from './contrastive-step.ts';
import { ADAMW, LORA, LR, randomBatch } from './suites/model.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const preset = arg('--preset', 'tiny');
const B = Number(arg('--batch', preset === 'tiny' ? '16' : '1'));
const T = Number(arg('--seq', '64'));
const by = process.argv.includes('--by-label') ? 'label' : 'entry';
const top = Number(arg('--top', '40'));

const gpu = await Gpu.create();
const cfg = presetConfig(preset);
const model = await randomDecoder(gpu, cfg, 0);
const lora = createLora(gpu, cfg, LORA, 0);
const params = loraParams(gpu, lora);
const grads = gradMap(params);
const windows = randomBatch(cfg.vocab, B, T, 1);
const batch = uploadWindows(gpu, windows.ids, windows.targets, B, T, cfg.vocab);
const rows = (n: number, len: number) => Array.from({ length: n }, (_, r) => Array.from({ length: len }, (_, t) => (r * 7919 + t * 104729) % cfg.vocab));
const anchors = rows(B, T), candidates = rows(2 * B, T);

const steps: Record<string, (step: number) => void> = {
  forward: () => decoderForward(gpu, model, batch.input).last.release(),
  'train lora (LM loss)': (step) => {
    zeroGrads(gpu, params);
    const loss = gpu.zeros([1], 'f32', 'profile.loss');
    accumulateMicroBatch(gpu, model, lora, grads, batch, B * T, loss, step);
    for (const t of [loss, optimizerStep(gpu, params, ADAMW, LR, step)]) t.release();
  },
  'contrastive lora (GradCache)': (step) => recordContrastiveStep(gpu, model, lora, params, grads, { anchors, candidates }, B, LR, step).release(),
};

console.log(`${preset} B${B} T${T} on ${gpu.adapterName}`);
let step = 1;
for (const [name, run] of Object.entries(steps)) {
  run(step++); // warm-up: pipelines, pool
  await gpu.sync();
  const t0 = performance.now();
  run(step++);
  await gpu.sync();
  const wall = performance.now() - t0;
  const d0 = gpu.dispatchCount;
  gpu.profileBegin();
  run(step++);
  const prof = await gpu.profileEnd(by);
  const total = prof.reduce((s, r) => s + r.ms, 0);
  console.log(`\n## ${name}: wall ${wall.toFixed(1)} ms unprofiled; ${gpu.dispatchCount - d0} dispatches, ${total.toFixed(1)} ms of GPU time profiled`);
  console.log(`| ${by === 'label' ? 'dispatch' : 'kernel entry'} | dispatches | ms | share |\n|---|---:|---:|---:|`);
  for (const r of prof.slice(0, top)) console.log(`| ${r.name} | ${r.count} | ${r.ms.toFixed(2)} | ${((100 * r.ms) / total).toFixed(1)}% |`);
}
batch.release();
releaseParams(params);
releaseLora(lora);
releaseDecoder(model);
gpu.destroy();
process.exit(0);
