// npm run bench:model [-- --filter REGEX] [--time MS] [--no-peer] [--no-write]
//
// Whole-model throughput: the decoder's inference forward and its training
// steps, on the model presets with random weights (seed 0) and random tokens,
// and the peer (a plain-PyTorch Llama decoder on the CPU, bench/peers/
// torch_decoder.py) at the same shapes in the same run. Prints a table; a full
// run (no --filter) also rewrites the model block of bench/RESULTS.md with the
// machine, adapter and date.
//
// Steps, for a batch of B windows of T tokens (N = B*T):
//   forward       decoderForward: final hidden states [B, T, C] (after the final norm)
//   forward+loss  the same + lmHeadLoss(backward: false) over all N positions (the eval path)
//   train lora    one optimizer step of LoRA training (r 8, alpha 16, dropout 0.05 on all
//                 seven linears, base frozen): zero grads, decoderTrainForward,
//                 lmHeadLoss + dfinal, decoderBackward, clip to norm 1 + AdamW
//   train full    the same with every weight trainable
//   tokens/s = N / (ms per step / 1000)
//
// Timing: wall clock around record + gpu.sync() (no read-back); one warm-up
// step first (compiles pipelines, fills the pool), then steps until at least
// 3 and at least --time ms; the mean. "peak MiB" is the pool's highest live
// bytes during the timed steps: weights, optimizer state and activations.
import os from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Gpu } from '../src/gpu/gpu.ts';
import { toHfConfig, type DecoderConfig } from '../src/model/config.ts';
import { randomDecoder, releaseDecoder, type Decoder } from '../src/model/decoder.ts';
import { decoderForward } from '../src/model/forward.ts';
import { createLora, LORA_TARGETS, releaseLora, type DecoderLora, type LoraConfig } from '../src/model/lora.ts';
import { presetConfig } from '../src/model/presets.ts';
import { rng } from '../src/doctor/compare.ts';
import { lmHeadLoss } from '../src/train/lm-loss.ts';
import { accumulateMicroBatch, uploadWindows } from '../src/train/lm-trainer.ts';
import { fullParams, gradMap, loraParams, optimizerStep, releaseParams, zeroGrads, type AdamWOptions } from '../src/train/optimizer.ts';

export interface ModelShape {
  preset: string;
  /** B: windows per step. */
  B: number;
  /** T: tokens per window. */
  T: number;
}

export const SHAPES: ModelShape[] = [
  { preset: 'tiny', B: 16, T: 64 },
  { preset: 'smollm2-135m', B: 1, T: 64 },
  { preset: 'smollm2-135m', B: 1, T: 256 },
];

/** In run order: inference first, LoRA on the untouched base, then full training (which moves the weights). */
export const STEPS = ['forward', 'forward+loss', 'train lora', 'train full'] as const;
export type StepKind = (typeof STEPS)[number];

/** The peer's name for each step (torch_decoder.py --modes). */
const PEER_MODE: Record<StepKind, string> = {
  forward: 'forward', 'forward+loss': 'forward_loss', 'train lora': 'train_lora', 'train full': 'train_full',
};

export const LORA: LoraConfig = { r: 8, alpha: 16, dropout: 0.05, rslora: false, targets: [...LORA_TARGETS] };
export const ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1 };
/** Small, so a few steps on random weights stay finite (the value does not change the work). */
export const LR = 1e-4;

export const caseName = (s: ModelShape, kind: StepKind) => `${s.preset} B${s.B} T${s.T} ${kind}`;

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

export interface StepHandle {
  /** Records one step (the argument is the optimizer's 1-based step number). */
  run(step: number): void;
  dispose(): void;
}

/** One step of `kind` on model with a fixed batch; see the header for what each records. */
export function stepHandle(gpu: Gpu, model: Decoder, shape: ModelShape, kind: StepKind): StepHandle {
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

export interface Timing {
  ms: number;
  iters: number;
  peakBytes: number;
}

/** Warm-up step, then steps until >= minIters and >= minMs; mean wall ms per step (record + sync). */
export async function timeSteps(gpu: Gpu, h: StepHandle, minMs: number, minIters = 3): Promise<Timing> {
  let step = 1;
  h.run(step++);
  await gpu.sync();
  gpu.pool.resetPeak();
  const start = performance.now();
  let iters = 0;
  while (iters < minIters || performance.now() - start < minMs) {
    h.run(step++);
    await gpu.sync();
    iters++;
  }
  return { ms: (performance.now() - start) / iters, iters, peakBytes: gpu.pool.stats().peakLiveBytes };
}

/** A python3 that can import torch: $LCO_PYTHON, then python3 on PATH, then Debian's /usr/bin/python3. */
export function findTorch(candidates = [process.env.LCO_PYTHON, 'python3', '/usr/bin/python3']): { python: string; version: string } | string {
  const tried: string[] = [];
  for (const python of [...new Set(candidates.filter((p): p is string => Boolean(p)))]) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python, version: r.stdout.trim() };
    tried.push(`${python}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').at(-1) ?? `exit ${r.status}`)}`);
  }
  return `PyTorch not available (${tried.join('; ')})`;
}

export interface PeerResult {
  version: string;
  threads: number;
  blas: string;
  /** ms per step, by our step name. */
  ms: Partial<Record<StepKind, number>>;
}

/** Runs torch_decoder.py on cfg at shape for `kinds`; rejects with the peer's stderr when it fails. */
export async function runTorchPeer(python: string, cfg: DecoderConfig, shape: ModelShape, kinds: StepKind[], minMs: number): Promise<PeerResult> {
  const dir = await mkdtemp(join(os.tmpdir(), 'lco-bench-model-'));
  try {
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify(toHfConfig(cfg)));
    const script = fileURLToPath(new URL('./peers/torch_decoder.py', import.meta.url));
    const args = [script, '--config', config, '--batch', String(shape.B), '--seq', String(shape.T),
      '--time-ms', String(minMs), '--modes', kinds.map((k) => PEER_MODE[k]).join(','),
      '--lora-r', String(LORA.r), '--lora-alpha', String(LORA.alpha), '--lora-dropout', String(LORA.dropout), '--lr', String(LR)];
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const p = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d));
      p.stderr.on('data', (d: Buffer) => (err += d));
      p.on('error', reject);
      p.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    const line = stdout.trim().split('\n').at(-1) ?? '';
    if (code !== 0 || !line.startsWith('{')) {
      throw new Error(`torch_decoder.py exited ${code}: ${(stderr.trim().split('\n').at(-1) ?? '') || 'no JSON line on stdout'}`);
    }
    const j = JSON.parse(line) as { version: string; threads: number; blas: string; results: Record<string, { ms: number }> };
    const ms: Partial<Record<StepKind, number>> = {};
    for (const k of kinds) {
      const r = j.results[PEER_MODE[k]];
      if (!r || !(r.ms > 0)) throw new Error(`torch_decoder.py: no result for mode ${PEER_MODE[k]} in ${line}`);
      ms[k] = r.ms;
    }
    return { version: j.version, threads: j.threads, blas: j.blas, ms };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface Row {
  name: string;
  tokens: number;
  ms: number;
  peakBytes: number;
  /** Peer ms per step, or why there is none. */
  peer: number | string;
}

function fmt(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined ? '' : x.toFixed(digits);
}

const tokS = (tokens: number, ms: number) => tokens / (ms / 1000);
const mib = (bytes: number) => bytes / 2 ** 20;

function fmtRow(r: Row): string {
  const peer = typeof r.peer === 'number'
    ? `  | torch: ${fmt(r.peer, 1)} ms, ${fmt(tokS(r.tokens, r.peer), 0)} tok/s, ours ${fmt(r.peer / r.ms)}x`
    : `  | torch: ${r.peer}`;
  return `${r.name}: ${fmt(r.ms, 1)} ms/step, ${fmt(tokS(r.tokens, r.ms), 0)} tok/s, peak ${fmt(mib(r.peakBytes), 0)} MiB${peer}`;
}

export function renderMarkdown(rows: Row[], machine: string, adapter: string, peer: string): string {
  const lines = [
    `Date: ${new Date().toISOString().slice(0, 10)}`,
    `Machine: ${machine}`,
    `Adapter: ${adapter}`,
    `Peer: ${peer}`,
    '',
    '| case | tokens/step | ms/step | tokens/s | peak pool MiB | peer ms/step | peer tokens/s | ours vs peer |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const p = typeof r.peer === 'number' ? r.peer : null;
      const missing = typeof r.peer === 'string' ? (r.peer.startsWith('failed') ? 'failed' : 'not available') : '';
      return `| ${r.name} | ${r.tokens} | ${fmt(r.ms, 1)} | ${fmt(tokS(r.tokens, r.ms), 0)} | ${fmt(mib(r.peakBytes), 0)} | ${p ? fmt(p, 1) : missing} | ${p ? fmt(tokS(r.tokens, p), 0) : ''} | ${p ? `${fmt(p / r.ms)}x` : ''} |`;
    }),
  ];
  return lines.join('\n');
}

const BEGIN = '<!-- model-bench:begin (generated by npm run bench:model) -->';
const END = '<!-- model-bench:end -->';
const SECTION = `## Model throughput

Produced by \`npm run bench:model\` (bench/model.ts): the whole decoder on the model
presets with random weights, per step of B x T tokens: the inference forward (final
hidden states), the forward with the LM loss over every position, one LoRA training
step (r 8 on all seven linears, base frozen) and one full training step (AdamW,
clipping). Wall clock around record + queue wait, mean over >= 3 steps after a warm-up.
The peer is a plain-PyTorch Llama decoder on the CPU (bench/peers/torch_decoder.py,
float32, all cores), doing the same steps at the same shapes in the same run.
`;

export async function updateResults(md: string, path: string | URL = new URL('./RESULTS.md', import.meta.url)): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    text = '# Benchmark results\n';
  }
  const i = text.indexOf(BEGIN);
  const j = text.indexOf(END);
  const block = `${BEGIN}\n${md}\n${END}`;
  text = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + END.length) : `${text.trimEnd()}\n\n${SECTION}\n${block}\n`;
  await writeFile(path, text);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const filter = new RegExp(arg('--filter') ?? '.', 'i');
  const minMs = Number(arg('--time') ?? 3000);
  if (!(minMs >= 0)) throw new RangeError(`--time ${arg('--time')}: expected milliseconds >= 0`);
  const withPeer = !process.argv.includes('--no-peer') && !process.argv.includes('--no-peers');
  const write = !process.argv.includes('--no-write') && arg('--filter') === undefined;

  const torch = withPeer ? findTorch() : 'peer disabled (--no-peer)';
  if (typeof torch === 'string') console.log(`peer skipped: ${torch}`);
  const rows: Row[] = [];
  let peerDesc = typeof torch === 'string' ? torch : `PyTorch ${torch.version} CPU`;
  const selected = (shape: ModelShape) => STEPS.filter((k) => filter.test(caseName(shape, k)));

  // The peer runs first, for every shape, before Dawn exists in this process:
  // a live Dawn instance keeps CPU threads busy and slowed the peer up to 7x.
  const peers = new Map<ModelShape, PeerResult | string>();
  for (const shape of SHAPES) {
    const kinds = selected(shape);
    if (kinds.length === 0) continue;
    let peer: PeerResult | string = typeof torch === 'string' ? 'not available' : '';
    if (typeof torch !== 'string') {
      try {
        peer = await runTorchPeer(torch.python, presetConfig(shape.preset), shape, kinds, minMs);
        peerDesc = `PyTorch ${peer.version} CPU (plain Llama decoder, float32, ${peer.threads} threads, BLAS ${peer.blas}), same machine, same run (before ours)`;
        console.log(`torch ${shape.preset} B${shape.B} T${shape.T}: ${kinds.map((k) => `${k} ${(peer as PeerResult).ms[k]?.toFixed(1)} ms`).join(', ')}`);
      } catch (err) {
        peer = `failed (${(err as Error).message})`;
      }
    }
    peers.set(shape, peer);
  }

  const gpu = await Gpu.create();
  console.log(`adapter: ${gpu.adapterName}\n`);

  for (const preset of [...new Set(SHAPES.map((s) => s.preset))]) {
    const shapes = SHAPES.filter((s) => s.preset === preset && STEPS.some((k) => filter.test(caseName(s, k))));
    if (shapes.length === 0) continue;
    const cfg = presetConfig(preset);
    const t0 = performance.now();
    const model = await randomDecoder(gpu, cfg, 0);
    await gpu.sync();
    console.log(`${preset}: random weights in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    try {
      for (const shape of shapes) {
        const kinds = selected(shape);
        const ours: Row[] = [];
        for (const kind of kinds) {
          const name = caseName(shape, kind);
          let h: StepHandle | null = null;
          try {
            h = stepHandle(gpu, model, shape, kind);
            const t = await timeSteps(gpu, h, minMs);
            ours.push({ name, tokens: shape.B * shape.T, ms: t.ms, peakBytes: t.peakBytes, peer: '' });
          } catch (err) {
            console.log(`${name}: FAILED ${(err as Error).message}`);
          } finally {
            h?.dispose();
            await gpu.sync();
          }
        }
        const peer = peers.get(shape) ?? 'not available';
        for (const r of ours) {
          const kind = STEPS.find((k) => r.name === caseName(shape, k))!;
          r.peer = typeof peer === 'string' ? peer : peer.ms[kind]!;
          rows.push(r);
          console.log(fmtRow(r));
        }
      }
    } finally {
      releaseDecoder(model);
      gpu.trim();
    }
  }

  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, Node ${process.versions.node}`;
  if (write && rows.length > 0) {
    await updateResults(renderMarkdown(rows, machine, gpu.adapterName, peerDesc));
    console.log('\nwrote bench/RESULTS.md');
  }
  gpu.destroy();
}

// Run when invoked (npm run bench:model / tsx bench/model.ts), not when imported.
if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await main();
