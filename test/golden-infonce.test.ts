// InfoNCE and its LoRA gradients through the whole GPU decoder against an
// independent float64 PyTorch implementation (fixtures/golden/make_golden_infonce.py):
// base from loadDecoder, PEFT adapter (r 2, alpha 4, all 7 targets, A and B
// nonzero) from loadLoraAdapter, B = 3 anchors and M = 6 candidates (k = 1 hard
// negative) of lengths 1..8, last-token pooling, t = 0.05, no dropout.
//
// gradCacheStep runs with miniBatch 2, so both groups are split (anchors 2 + 1,
// candidates 2 + 2 + 2), each mini-batch padded to its own longest row, and the
// gradient goes through the cache (embed, whole-batch loss, replay).
//
// Tolerance: float32 through two layers, the L2 norm and 1/t = 20.
//   loss:      |ours - golden| <= 1e-4 |golden|
//   gradients: max_i |ours_i - golden_i| <= 1e-4 max_i |golden_i|, per tensor
//              (relative to the tensor's largest magnitude: elements near zero
//              carry the absolute float32 error of the whole sum)
import { rowIds } from '../src/embed/image-rows.ts';
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { parseConfig } from '../src/model/config.ts';
import { loadDecoder, releaseDecoder } from '../src/model/decoder.ts';
import { loadLoraAdapter, loraTensors, releaseLora } from '../src/model/lora.ts';
import { gradCacheStep, type ContrastiveBatch } from '../src/train/gradcache.ts';
import { gradMap, loraParams, releaseParams } from '../src/train/optimizer.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();
const dir = (name: string) => fileURLToPath(new URL(`../fixtures/golden/${name}`, import.meta.url));
const RTOL = 1e-4;

/** A float64 tensor of the golden file, copied out so the view is aligned. */
async function f64(file: SafetensorsFile, name: string): Promise<Float64Array> {
  const e = file.entry(name);
  if (e.dtype !== 'F64') throw new Error(`golden-infonce: "${name}" is ${e.dtype}, expected F64`);
  const b = await file.bytesOf(name);
  return new Float64Array(b.slice().buffer);
}

/** The rows of a left-padded I64 [N, T] block: each row's last `length` ids. */
async function rows(file: SafetensorsFile, key: 'anchor' | 'candidate'): Promise<number[][]> {
  const [N, T] = file.entry(`${key}_ids`).shape;
  const ids = await file.float32(`${key}_ids`);
  const lengths = await file.float32(`${key}_lengths`);
  return Array.from({ length: N }, (_, b) => Array.from(ids.subarray(b * T + T - lengths[b], (b + 1) * T)));
}

describe('GradCache InfoNCE and LoRA gradients vs an independent float64 implementation', () => {
  for (const name of ['tiny-llama', 'tiny-qwen2']) {
    it(`${name}: one-way and symmetric loss and all 28 LoRA gradients agree to 1e-4`, async () => {
      const g = await gpu();
      const cfg = parseConfig(await readFile(`${dir(name)}/config.json`, 'utf8'), `${name}/config.json`);
      const model = await loadDecoder(g, dir(name));
      const lora = await loadLoraAdapter(g, cfg, `${dir(name)}/lora-infonce`);
      const golden = await SafetensorsFile.open(`${dir(name)}/golden-infonce.safetensors`);
      const params = loraParams(g, lora);
      try {
        expect(lora.config).toMatchObject({ r: 2, alpha: 4, dropout: 0 });
        expect(lora.scale).toBe(2);
        const batch: ContrastiveBatch = { anchors: await rows(golden, 'anchor'), candidates: await rows(golden, 'candidate') };
        expect(batch.anchors.map((r) => rowIds(r).length)).toEqual([5, 2, 7]);
        expect(batch.candidates.map((r) => rowIds(r).length)).toEqual([3, 6, 1, 8, 4, 2]);
        const [temperature] = await f64(golden, 'temperature');
        const names = loraTensors(lora).map((t) => t.name);
        expect(names.length).toBe(cfg.layers * 7 * 2);

        for (const variant of ['oneway', 'symmetric'] as const) {
          for (const p of params) g.fill(p.grad, 0);
          const loss = gradCacheStep(g, model, lora, gradMap(params), batch, { temperature, symmetric: variant === 'symmetric' },
            { miniBatch: 2, pooling: 'lasttoken', seed: 7 });
          const [ours] = (await loss.read()) as Float32Array;
          loss.release();
          const [want] = await f64(golden, `loss.${variant}`);
          const lossErr = Math.abs(ours - want) / Math.abs(want);
          expect(lossErr, `${name} ${variant}: loss ${ours} vs ${want}`).toBeLessThan(RTOL);

          let worst = { err: 0, what: '' };
          for (const p of params) {
            const theirs = await f64(golden, `grad.${variant}.${p.name}`);
            const mine = (await p.grad.read()) as Float32Array;
            expect(mine.length, `${p.name}: size`).toBe(theirs.length);
            let scale = 0;
            for (const v of theirs) scale = Math.max(scale, Math.abs(v));
            expect(scale, `${p.name}: the golden gradient is not zero`).toBeGreaterThan(0);
            let err = 0;
            for (let i = 0; i < theirs.length; i++) err = Math.max(err, Math.abs(mine[i] - theirs[i]) / scale);
            if (!Number.isNaN(worst.err) && !(err <= worst.err)) worst = { err, what: p.name }; // a NaN stays the worst
          }
          console.log(`${name} ${variant}: loss rel err ${lossErr.toExponential(2)}, worst grad err ${worst.err.toExponential(2)} (${worst.what})`);
          expect(worst.err, `${name} ${variant}: worst gradient error relative to the tensor's max |grad|, in ${worst.what}`).toBeLessThan(RTOL);
        }
      } finally {
        releaseParams(params);
        releaseLora(lora);
        releaseDecoder(model);
        await golden.close();
      }
    });
  }
});
