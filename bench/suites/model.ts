// Suite "model": whole-decoder throughput on the model presets with random
// weights (seed 0) and random tokens, for a batch of B windows of T tokens
// (N = B*T):
//   forward       decoderForward: final hidden states [B, T, C] (after the final norm)
//   forward+loss  the same + lmHeadLoss(backward: false) over all N positions (the eval path)
//   train lora    one optimizer step of LoRA training (r 8, alpha 16, dropout 0.05 on all
//                 seven linears, base frozen): zero grads, decoderTrainForward,
//                 lmHeadLoss + dfinal, decoderBackward, clip to norm 1 + AdamW
//   train full    the same with every weight trainable
//   tokens/s = N / (ms per step / 1000)
// Shapes: tiny B16 T64, and SmolLM2-135M's shape at B1 T64 and B1 T256
// (--quick: tiny B4 T16 only).
//
// Timing (bench/timing.ts timeCalls): wall clock around record + gpu.sync()
// (no read-back); one warm-up step, then steps until >= 3 and >= --time ms
// (default 3000); the mean. Peak memory is the buffer pool's high-water mark
// of live bytes over the timed steps (gpu.pool.stats().peakLiveBytes, reset
// after the warm-up): weights, optimizer state and activations.
//
// Peers, same shapes, same run:
//   torch  a plain-PyTorch Llama decoder on the CPU (bench/peers/torch_decoder.py)
//          doing every step; run in prepare(), before Dawn exists
//   tfjs   the same forward in tfjs-core ops on tfjs-backend-webgpu, same Dawn
//          adapter, our model's weights (bench/peers/tfjs-decoder.ts); forward
//          rows only
import type { Gpu } from '../../src/gpu/gpu.ts';
import type { DecoderConfig } from '../../src/model/config.ts';
import { randomDecoder, releaseDecoder, type Decoder } from '../../src/model/decoder.ts';
import { decoderForward } from '../../src/model/forward.ts';
import { createLora, LORA_TARGETS, releaseLora, type DecoderLora, type LoraConfig } from '../../src/model/lora.ts';
import { presetConfig } from '../../src/model/presets.ts';
import { rng } from '../../src/doctor/compare.ts';
import { lmHeadLoss } from '../../src/train/lm-loss.ts';
import { accumulateMicroBatch, uploadWindows } from '../../src/train/lm-trainer.ts';
import { fullParams, gradMap, loraParams, optimizerStep, releaseParams, zeroGrads, type AdamWOptions } from '../../src/train/optimizer.ts';
import { decoderWeightsByName, loadTfjsDecoder, type TfjsDecoderPeer } from '../peers/tfjs-decoder.ts';
import { describePeer, runTorchPeer, type PeerRun } from '../peers/torch.ts';
import { timeCalls } from '../timing.ts';
import { fmt, fmtBytes, mib, missing, type Suite, type SuiteContext, type SuiteEnv, type SuiteReport } from './suite.ts';

interface ModelShape {
  preset: string;
  /** B: windows per step. */
  B: number;
  /** T: tokens per window. */
  T: number;
}

const SHAPES: ModelShape[] = [
  { preset: 'tiny', B: 16, T: 64 },
  { preset: 'smollm2-135m', B: 1, T: 64 },
  { preset: 'smollm2-135m', B: 1, T: 256 },
];
const QUICK_SHAPES: ModelShape[] = [{ preset: 'tiny', B: 4, T: 16 }];

/** In run order: inference first, LoRA on the untouched base, then full training (which moves the weights). */
const STEPS = ['forward', 'forward+loss', 'train lora', 'train full'] as const;
type StepKind = (typeof STEPS)[number];

/** The peer's name for each step (torch_decoder.py --modes). */
const PEER_MODE: Record<StepKind, string> = {
  forward: 'forward', 'forward+loss': 'forward_loss', 'train lora': 'train_lora', 'train full': 'train_full',
};

export const LORA: LoraConfig = { r: 8, alpha: 16, dropout: 0.05, rslora: false, targets: [...LORA_TARGETS] };
export const ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1 };
/** Small, so a few steps on random weights stay finite (the value does not change the work). */
export const LR = 1e-4;

const caseName = (s: ModelShape, kind: StepKind) => `${s.preset} B${s.B} T${s.T} ${kind}`;

/** Random windows: ids [B*T] and their next tokens as targets [B*T], all scored. */
export function randomBatch(V: number, B: number, T: number, seed: number): { ids: Int32Array; targets: Int32Array } {
  const u = rng(seed);
  const tokens = Int32Array.from({ length: B * (T + 1) }, () => Math.floor(u() * V));
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    ids.set(tokens.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    targets.set(tokens.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
  }
  return { ids, targets };
}

interface StepHandle {
  /** Records one step (the argument is the optimizer's 1-based step number). */
  run(step: number): void;
  dispose(): void;
}

/** One step of `kind` on model with a fixed batch; see the header for what each records. */
function stepHandle(gpu: Gpu, model: Decoder, shape: ModelShape, kind: StepKind): StepHandle {
  const { B, T } = shape;
  const { ids, targets } = randomBatch(model.config.vocab, B, T, 0);
  const batch = uploadWindows(gpu, ids, targets, B, T, model.config.vocab);
  const head = model.weights.lmHead;

  if (kind === 'forward' || kind === 'forward+loss') {
    return {
      run() {
        const { last } = decoderForward(gpu, model, batch.input);
        if (kind === 'forward+loss') lmHeadLoss(gpu, last, head, targets, { count: B * T, backward: false, targetsTensor: batch.targetsTensor }).loss.release();
        last.release();
      },
      dispose: () => batch.release(),
    };
  }

  const lora: DecoderLora | undefined = kind === 'train lora' ? createLora(gpu, model.config, LORA, 0) : undefined;
  const params = lora ? loraParams(gpu, lora) : fullParams(gpu, model);
  const grads = gradMap(params);
  return {
    run(step) {
      zeroGrads(gpu, params);
      const loss = gpu.zeros([1], 'f32', 'bench.loss');
      accumulateMicroBatch(gpu, model, lora, grads, batch, B * T, loss, step);
      const norm = optimizerStep(gpu, params, ADAMW, LR, step);
      for (const t of [loss, norm]) t.release();
    },
    dispose() {
      releaseParams(params);
      if (lora) releaseLora(lora);
      batch.release();
    },
  };
}

// ---------------------------------------------------------------- tfjs forward peer
//
// The "tfjs forward" columns: bench/peers/tfjs-decoder.ts, a tfjs Llama
// forward on the same Dawn adapter, given our model's weights by HF tensor
// name (read back once per preset, before any training step moves them).
// Timed like our forward: peer.forward(...).setup().run() records it, then
// the peer's sync() (quietWait) waits; mean over >= 3 calls after a warm-up.
// When tfjs cannot load, the columns are left out and the header says why.

// ---------------------------------------------------------------- the suite

interface Row {
  name: string;
  tokens: number;
  ms: number;
  peakBytes: number;
  /** Peer ms per step, or why there is none. */
  torch: number | string;
  /** The tfjs forward's ms per step (forward rows), or why there is none. */
  tfjs?: number | string;
}

const tokS = (tokens: number, ms: number) => tokens / (ms / 1000);

function fmtRow(r: Row): string {
  const torch = typeof r.torch === 'number'
    ? `  | torch: ${fmt(r.torch, 1)} ms, ${fmt(tokS(r.tokens, r.torch), 0)} tok/s, ours ${fmt(r.torch / r.ms)}x`
    : `  | torch: ${r.torch}`;
  const tfjs = typeof r.tfjs === 'number' ? `  | tfjs: ${fmt(r.tfjs, 1)} ms, ours ${fmt(r.tfjs / r.ms)}x` : '';
  return `${r.name}: ${fmt(r.ms, 1)} ms/step, ${fmt(tokS(r.tokens, r.ms), 0)} tok/s, peak ${fmtBytes(r.peakBytes)} bytes (${fmt(mib(r.peakBytes), 0)} MiB)${torch}${tfjs}`;
}

function table(rows: Row[]): string[] {
  const withTfjs = rows.some((r) => typeof r.tfjs === 'number');
  const head = '| case | tokens/step | ms/step | tokens/s | peak pool bytes | peak MiB | torch ms/step | torch tokens/s | ours vs torch |';
  const rule = '|---|---:|---:|---:|---:|---:|---:|---:|---:|';
  return [
    withTfjs ? `${head} tfjs ms/step | ours vs tfjs |` : head,
    withTfjs ? `${rule}---:|---:|` : rule,
    ...rows.map((r) => {
      const p = typeof r.torch === 'number' ? r.torch : null;
      const t = typeof r.tfjs === 'number' ? r.tfjs : null;
      const line = `| ${r.name} | ${r.tokens} | ${fmt(r.ms, 1)} | ${fmt(tokS(r.tokens, r.ms), 0)} | ${fmtBytes(r.peakBytes)} | ${fmt(mib(r.peakBytes), 0)} | ` +
        `${p ? fmt(p, 1) : missing(r.torch as string)} | ${p ? fmt(tokS(r.tokens, p), 0) : ''} | ${p ? `${fmt(p / r.ms)}x` : ''} |`;
      const tfjsMissing = typeof r.tfjs === 'string' ? missing(r.tfjs) : '';
      return withTfjs ? `${line} ${t ? fmt(t, 1) : tfjsMissing} | ${t ? `${fmt(t / r.ms)}x` : ''} |` : line;
    }),
  ];
}

export function modelSuite(ctx: SuiteContext): Suite {
  const o = ctx.options;
  const minMs = o.time ?? (o.quick ? 200 : 3000);
  const shapes = o.quick ? QUICK_SHAPES : SHAPES;
  const selected = (shape: ModelShape) => STEPS.filter((k) => o.filter.test(caseName(shape, k)));
  const torchRuns = new Map<ModelShape, PeerRun | string>();
  let torchDesc = typeof ctx.torch === 'string' ? ctx.torch : `PyTorch ${ctx.torch.version} CPU`;

  return {
    name: 'model',
    block: 'model-bench',
    section: '## Model throughput\n\nProduced by `npm run bench` (suite model, bench/suites/model.ts).',

    async prepare() {
      for (const shape of shapes) {
        const kinds = selected(shape);
        if (kinds.length === 0) continue;
        let run: PeerRun | string = typeof ctx.torch === 'string' ? 'not available' : '';
        if (typeof ctx.torch !== 'string') {
          try {
            const args = ['--batch', String(shape.B), '--seq', String(shape.T), '--lora-r', String(LORA.r), '--lora-alpha', String(LORA.alpha),
              '--lora-dropout', String(LORA.dropout), '--lr', String(LR), '--beta2', String(ADAMW.beta2), '--weight-decay', String(ADAMW.weightDecay)];
            const r = await runTorchPeer(ctx.torch, presetConfig(shape.preset), kinds.map((k) => PEER_MODE[k]), args, minMs);
            run = r;
            torchDesc = describePeer(r);
            console.log(`torch ${shape.preset} B${shape.B} T${shape.T}: ${kinds.map((k) => `${k} ${fmt(r.ms[PEER_MODE[k]], 1)} ms`).join(', ')}`);
          } catch (err) {
            run = `failed (${(err as Error).message})`;
            console.log(`torch ${shape.preset} B${shape.B} T${shape.T}: ${run}`);
          }
        }
        torchRuns.set(shape, run);
      }
    },

    async run(env: SuiteEnv): Promise<SuiteReport> {
      const { gpu } = env;
      const rows: Row[] = [];
      const wantsForward = shapes.some((s) => selected(s).includes('forward'));
      let tfjs: TfjsDecoderPeer | string = 'no forward case selected';
      if (wantsForward) tfjs = o.peers ? await loadTfjsDecoder() : 'peers disabled (--no-peers)';
      if (typeof tfjs === 'string' && wantsForward) console.log(`tfjs forward peer skipped: ${tfjs}`);

      for (const preset of [...new Set(shapes.map((s) => s.preset))]) {
        const presetShapes = shapes.filter((s) => s.preset === preset && selected(s).length > 0);
        if (presetShapes.length === 0) continue;
        const cfg = presetConfig(preset);
        const t0 = performance.now();
        const model = await randomDecoder(gpu, cfg, 0);
        await gpu.sync();
        console.log(`${preset}: random weights in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        // Read once, before any training step moves the weights.
        const weights = typeof tfjs !== 'string' && presetShapes.some((s) => selected(s).includes('forward'))
          ? await decoderWeightsByName(gpu, model) : null;
        try {
          for (const shape of presetShapes) {
            const torch = torchRuns.get(shape) ?? 'not available';
            for (const kind of selected(shape)) {
              const name = caseName(shape, kind);
              let h: StepHandle | null = null;
              try {
                h = stepHandle(gpu, model, shape, kind);
                const handle = h;
                let step = 1;
                const t = await timeCalls(async () => {
                  handle.run(step++);
                  await gpu.sync();
                }, { minMs, afterWarmup: () => gpu.pool.resetPeak() });
                const row: Row = {
                  name, tokens: shape.B * shape.T, ms: t.ms, peakBytes: gpu.pool.stats().peakLiveBytes,
                  torch: typeof torch === 'string' ? torch : torch.ms[PEER_MODE[kind]],
                };
                if (kind === 'forward' && weights && typeof tfjs !== 'string') row.tfjs = await timeTfjsForward(tfjs, cfg, weights, shape, minMs);
                rows.push(row);
                console.log(fmtRow(row));
              } catch (err) {
                console.log(`${name}: FAILED ${(err as Error).message}`);
              } finally {
                h?.dispose();
                await gpu.sync();
              }
            }
          }
        } finally {
          releaseDecoder(model);
          gpu.trim();
        }
      }
      const tfjsLine = typeof tfjs === 'string'
        ? `tfjs forward peer: not measured (${tfjs})`
        : `tfjs forward peer: the same forward in tfjs-core ops (bench/peers/tfjs-decoder.ts) on tfjs-backend-webgpu ${tfjs.version}, same Dawn adapter, same run, our weights`;
      return {
        header: [
          `Peer: ${torchDesc}`,
          tfjsLine,
          'Weights: random (ours seed 0, which the tfjs peer reads back; PyTorch its own); the work does not depend on the values',
          'Timing: wall clock around record + queue wait (quietWait: no busy-polling), mean over >= 3 steps after a warm-up; peak = the pool\'s live-bytes high-water mark',
        ],
        table: rows.length === 0 ? [] : table(rows),
      };
    },
  };
}

/** ms per tfjs forward (run + the tfjs peer's sync), or why it failed. */
async function timeTfjsForward(
  peer: TfjsDecoderPeer, cfg: DecoderConfig, weights: Map<string, Float32Array>, shape: ModelShape, minMs: number,
): Promise<number | string> {
  let c: { run(): void; dispose(): void } | null = null;
  try {
    c = peer.forward(cfg, weights, shape.B, shape.T).setup();
    const h = c;
    return (await timeCalls(async () => {
      h.run();
      await peer.sync();
    }, { minMs })).ms;
  } catch (err) {
    console.log(`tfjs forward ${shape.preset} B${shape.B} T${shape.T}: FAILED ${(err as Error).message}`);
    return `failed (${(err as Error).message})`;
  } finally {
    c?.dispose();
  }
}
