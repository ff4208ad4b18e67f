// Suite "memory" (only with --suite memory: one step takes many minutes on a
// CPU adapter): does LoRA contrastive training of a SmolLM2-135M-shaped model
// fit the 4 GiB target?
//
// One training step as the contrastive trainer runs it: SmolLM2-135M's shape
// with random weights (seed 0), a LoRA adapter (r 8, alpha 16, dropout 0.05 on
// all seven linears), B = 32 triplets whose 96 sequences are random token ids
// of exactly T = 128 tokens; gradCacheStep (InfoNCE at temperature 0.05, one
// way, last-token pooling) with GradCache mini-batches of --mini-batch
// sequences (default 8), then optimizerStep (AdamW, clip 1) and a read of the
// loss. --quick: B 4, T 16, mini-batch 2 (unless --mini-batch is given).
//
// Reported:
//   before     pool live bytes when the step starts: weights, adapter, its
//              gradients and AdamW moments
//   peak       the pool's live-bytes high-water mark during the step
//              (gpu.pool.stats().peakLiveBytes, reset before it), against 4 GiB
//   allocated  live + idle pool bytes after the step: what the pool holds
//              from the device
//   step time  wall clock of that one step (no warm-up: a step takes minutes,
//              so pipeline creation, seconds at most with Mesa's shader cache
//              warm, is included)
import { presetConfig } from '../../src/model/presets.ts';
import { randomDecoder, releaseDecoder } from '../../src/model/decoder.ts';
import { createLora, releaseLora } from '../../src/model/lora.ts';
import { rng } from '../../src/doctor/compare.ts';
import { gradMap, loraParams, releaseParams } from '../../src/train/optimizer.ts';
import { recordContrastiveStep } from '../contrastive-step.ts';
import { timeCalls } from '../timing.ts';
import { LORA } from './model.ts';
import { fmt, fmtBytes, mib, type Suite, type SuiteContext, type SuiteEnv, type SuiteReport } from './suite.ts';

const PRESET = 'smollm2-135m';
const TARGET_BYTES = 4 * 2 ** 30;
const LR = 1e-4;

const FULL = { triplets: 32, T: 128, miniBatch: 8 };
const QUICK = { triplets: 4, T: 16, miniBatch: 2 };

/** n random sequences of exactly T ids in [0, V). */
function randomRows(n: number, T: number, V: number, seed: number): number[][] {
  const u = rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: T }, () => Math.floor(u() * V)));
}

export function memorySuite(ctx: SuiteContext): Suite {
  const o = ctx.options;
  const shape = o.quick ? QUICK : FULL;
  const miniBatch = o.miniBatch ?? shape.miniBatch;
  const name = `${PRESET} LoRA contrastive step, ${shape.triplets} triplets x ${shape.T} tokens, GradCache mini-batch ${miniBatch}`;

  return {
    name: 'memory',
    block: 'memory-bench',
    section: '## Training memory\n\nProduced by `npm run bench -- --suite memory` (bench/suites/memory.ts).',
    async prepare() {},

    async run(env: SuiteEnv): Promise<SuiteReport> {
      const { gpu } = env;
      const header = [
        `Model: ${PRESET}'s shape, random weights (seed 0), LoRA r ${LORA.r} on all seven linears; random ids, every sequence exactly ${shape.T} tokens`,
        'Peak: the pool\'s live-bytes high-water mark during the step (weights included); one step, no warm-up',
      ];
      if (!o.filter.test(name)) return { header, table: [] };
      const cfg = presetConfig(PRESET);
      const t0 = performance.now();
      const model = await randomDecoder(gpu, cfg, 0);
      await gpu.sync();
      console.log(`${PRESET}: random weights in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const lora = createLora(gpu, cfg, LORA, 0);
      const params = loraParams(gpu, lora);
      const grads = gradMap(params);
      const anchors = randomRows(shape.triplets, shape.T, cfg.vocab, 1);
      const candidates = randomRows(2 * shape.triplets, shape.T, cfg.vocab, 2);
      try {
        await gpu.sync();
        const before = gpu.pool.stats().liveBytes;
        let lossValue = NaN;
        const t = await timeCalls(async () => {
          const loss = recordContrastiveStep(gpu, model, lora, params, grads, { anchors, candidates }, miniBatch, LR, 1);
          lossValue = (await gpu.read(loss))[0];
          loss.release();
        }, { minMs: 0, minIters: 1, warmup: false, afterWarmup: () => gpu.pool.resetPeak() });
        const s = gpu.pool.stats();
        const peak = s.peakLiveBytes;
        const allocated = s.liveBytes + s.freeBytes;
        if (!Number.isFinite(lossValue)) throw new Error(`${name}: the loss is ${lossValue}`);
        console.log(`${name}: ${fmt(t.ms / 1000, 1)} s/step, loss ${fmt(lossValue, 3)}, before ${fmtBytes(before)} bytes, ` +
          `peak ${fmtBytes(peak)} bytes (${fmt(peak / 2 ** 30, 2)} GiB, ${fmt((100 * peak) / TARGET_BYTES, 0)}% of 4 GiB), allocated ${fmtBytes(allocated)} bytes`);
        return {
          header,
          table: [
            '| case | s/step | live before step (bytes) | peak during step (bytes) | peak MiB | % of 4 GiB | pool allocated after (bytes) |',
            '|---|---:|---:|---:|---:|---:|---:|',
            `| ${name} | ${fmt(t.ms / 1000, 1)} | ${fmtBytes(before)} | ${fmtBytes(peak)} | ${fmt(mib(peak), 0)} | ${fmt((100 * peak) / TARGET_BYTES, 0)}% | ${fmtBytes(allocated)} |`,
          ],
        };
      } finally {
        releaseParams(params);
        releaseLora(lora);
        releaseDecoder(model);
        gpu.trim();
      }
    },
  };
}
