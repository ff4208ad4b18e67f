// Training checkpoints: a folder per saved step, in Hugging Face layout so
// any checkpoint is itself a usable model (or PEFT adapter):
//
//   out/checkpoint-000200/
//     config.json + model.safetensors          (full training; F32)
//     adapter_config.json + adapter_model.safetensors   (LoRA training)
//     vision_config.json + vision_model.safetensors     (multimodal runs: the vision encoder and projector)
//     tokenizer.json                           (when the run has one)
//     optimizer.safetensors                    AdamW moments: {name}.exp_avg, {name}.exp_avg_sq
//                                              (every trained weight: decoder, adapter or vision)
//     trainer_state.json                       step, tokens, options, loss history
//
// Atomic: everything is written into a hidden temporary folder that is
// renamed into place last, so a crash mid-write leaves the previous
// checkpoints whole and no half checkpoint that a resume could pick up.
//
// Snapshots (saveSnapshot) are the model of a chosen step for later study:
// out/snapshots/step-000400/ holds the model files, tokenizer and state but
// no optimizer, are written atomically the same way, and are never deleted.
import type { Gpu } from '../gpu/gpu.ts';
import { SafetensorsFile, writeFileAtomic, writeSafetensors } from '../io/safetensors.ts';
import { saveDecoder, type Decoder } from '../model/decoder.ts';
import { saveLoraAdapter, type DecoderLora } from '../model/lora.ts';
import { saveVision, type VisionModel } from '../model/vision.ts';
import type { TrainParam } from './optimizer.ts';

export const STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const FORMAT = 'lco-webgpu/lm-trainer/1';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export interface HistoryPoint {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Multimodal runs: the step's caption and text losses (each per its own scored token), which `loss` mixes. */
  captionLoss?: number;
  textLoss?: number;
}

export interface EvalPoint {
  step: number;
  /** The held-out loss (multimodal runs: the caption loss). */
  loss: number;
  perplexity: number;
  /** Multimodal runs with text: the held-out text loss. */
  text?: { loss: number; perplexity: number };
}

export interface TrainerState<C = unknown> {
  format: string;
  step: number;
  tokens: number;
  config: C;
  history: HistoryPoint[];
  evals: EvalPoint[];
  baseModel: string | null;
}

export function newState<C>(config: C, baseModel: string | null): TrainerState<C> {
  return { format: FORMAT, step: 0, tokens: 0, config, history: [], evals: [], baseModel };
}

/** What every trainer's setup may add: resume, a hook on the params, progress output and a stop signal. */
export interface TrainerHooks<C> {
  /** A checkpoint's state to continue from (its weights already loaded by the caller; the moments via onParams and loadMoments). */
  resume?: TrainerState<C>;
  /** Called with the params right after they are created, before the first step (resume loads moments here). */
  onParams?(params: readonly TrainParam[]): Promise<void>;
  /** Progress lines (default stderr); null = silent. */
  progressOut?: { write(s: string): unknown } | null;
  /** Stop after the current step (a checkpoint is written). */
  signal?: AbortSignal;
}

/** What a trainer returns: the state, the held-out evaluation at the end (when there is one), and whether it was stopped. */
export interface TrainResult<C> {
  state: TrainerState<C>;
  final?: { loss: number; perplexity: number };
  stopped: boolean;
}

/** A trainer's bookkeeping between steps: when to evaluate, checkpoint, and how to redraw the loss curve. */
export interface StepEnd {
  outDir: string;
  save: SaveWhat;
  state: TrainerState;
  /** The run's last step. */
  total: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  /** Held-out evaluation every this many steps (0: at the end only), when the trainer has one. */
  evalEvery?: number;
  evaluate?(step: number): Promise<void>;
  curve(): Promise<void>;
  signal?: AbortSignal;
}

/**
 * After step `step`: evaluates and checkpoints when due (always at the last
 * step, or when the signal asks to stop). Returns whether to stop.
 */
export async function afterStep(e: StepEnd, step: number): Promise<boolean> {
  const stopped = e.signal?.aborted ?? false;
  const last = step === e.total || stopped;
  if (e.evaluate && (((e.evalEvery ?? 0) > 0 && step % e.evalEvery! === 0) || last)) await e.evaluate(step);
  if ((e.checkpointEvery > 0 && step % e.checkpointEvery === 0) || last) {
    await saveCheckpoint(e.outDir, e.save, e.state, e.keepCheckpoints);
    await e.curve();
  }
  return stopped;
}

/** After the loop: the final model at the top of outDir unless the run was stopped. */
export async function afterRun(e: StepEnd, stopped: boolean): Promise<void> {
  if (stopped) return;
  await saveFinal(e.outDir, e.save, e.state);
  await e.curve();
}

/** The held-out result of the last step, when the last evaluation was at the last step. */
export function finalEval(state: TrainerState): TrainResult<unknown>['final'] {
  const e = state.evals.at(-1);
  return e && e.step === state.step ? { loss: e.loss, perplexity: e.perplexity } : undefined;
}

export const checkpointName = (step: number) => `checkpoint-${String(step).padStart(6, '0')}`;
export const SNAPSHOTS_DIR = 'snapshots';
export const snapshotName = (step: number) => `step-${String(step).padStart(6, '0')}`;

export interface SaveWhat {
  gpu: Gpu;
  model: Decoder;
  lora?: DecoderLora;
  /** Saved beside the decoder (vision_config.json, vision_model.safetensors). */
  vision?: VisionModel;
  /** Every trained weight (decoder or adapter, and vision): their moments go into optimizer.safetensors. */
  params: readonly TrainParam[];
  tokenizerJson?: string;
}

/** Writes the model (or adapter), tokenizer, optimizer moments and state into `dir`. */
async function writeFolder(dir: string, w: SaveWhat, state: TrainerState, withOptimizer: boolean): Promise<void> {
  const { join } = await import('node:path');
  if (w.lora) await saveLoraAdapter(w.gpu, w.lora, dir, state.baseModel ?? '');
  else await saveDecoder(w.gpu, w.model, dir);
  if (w.vision) await saveVision(w.gpu, w.vision, dir);
  const enc = new TextEncoder();
  if (w.tokenizerJson !== undefined) await writeFileAtomic(join(dir, 'tokenizer.json'), enc.encode(w.tokenizerJson));
  if (withOptimizer) {
    const moments = [];
    for (const p of w.params) {
      moments.push({ name: `${p.name}.exp_avg`, shape: [...p.m.shape], data: await w.gpu.read(p.m) });
      moments.push({ name: `${p.name}.exp_avg_sq`, shape: [...p.v.shape], data: await w.gpu.read(p.v) });
    }
    await writeSafetensors(join(dir, OPTIMIZER_FILE), moments, { format: 'pt', step: String(state.step) });
  }
  await writeFileAtomic(join(dir, STATE_FILE), enc.encode(JSON.stringify(state, null, 1) + '\n'));
}

/**
 * Saves out/checkpoint-{step} atomically and keeps only the newest `keep`
 * checkpoints. Returns the folder's path.
 */
export async function saveCheckpoint(outDir: string, w: SaveWhat, state: TrainerState, keep: number): Promise<string> {
  const { rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const final = await writeAtomically(outDir, checkpointName(state.step), w, state, true);
  const all = await listCheckpoints(outDir);
  for (const old of all.slice(0, Math.max(0, all.length - Math.max(1, keep)))) {
    await rm(join(outDir, checkpointName(old)), { recursive: true, force: true });
  }
  return final;
}

/** Writes parent/name via a hidden temporary folder renamed into place (see the header). */
async function writeAtomically(parent: string, name: string, w: SaveWhat, state: TrainerState, withOptimizer: boolean): Promise<string> {
  const { mkdir, rename, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const final = join(parent, name);
  const tmp = join(parent, `.tmp-${name}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await writeFolder(tmp, w, state, withOptimizer);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return final;
}

/** Saves out/snapshots/step-{step} (the model, tokenizer and state; no optimizer) atomically. Returns its path. */
export async function saveSnapshot(outDir: string, w: SaveWhat, state: TrainerState): Promise<string> {
  const { join } = await import('node:path');
  return writeAtomically(join(outDir, SNAPSHOTS_DIR), snapshotName(state.step), w, state, false);
}

/** The final model (or adapter) and tokenizer at the top of outDir, with the state (no optimizer). */
export async function saveFinal(outDir: string, w: SaveWhat, state: TrainerState): Promise<void> {
  await writeFolder(outDir, w, state, false);
}

/** Steps of the complete checkpoints in outDir, ascending. */
export async function listCheckpoints(outDir: string): Promise<number[]> {
  const { readdir, stat } = await import('node:fs/promises');
  const { join } = await import('node:path');
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return [];
  }
  const steps: number[] = [];
  for (const n of names) {
    const m = /^checkpoint-(\d+)$/.exec(n);
    if (!m) continue;
    try {
      await stat(join(outDir, n, STATE_FILE));
      steps.push(Number(m[1]));
    } catch {
      // a folder without its state file is not a checkpoint (never renamed into place by us)
    }
  }
  return steps.sort((a, b) => a - b);
}

/** Reads a checkpoint's trainer_state.json. */
export async function readState<C>(dir: string): Promise<TrainerState<C>> {
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const path = join(dir, STATE_FILE);
  let s: TrainerState<C>;
  try {
    s = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new CheckpointError(`${path}: cannot read the trainer state (${(err as Error).message})`);
  }
  if (s.format !== FORMAT) throw new CheckpointError(`${path}: format ${JSON.stringify(s.format)}, expected "${FORMAT}"`);
  if (!Number.isInteger(s.step) || s.step < 1) throw new CheckpointError(`${path}: step ${s.step} must be a positive integer`);
  return s;
}

/** Loads the AdamW moments of a checkpoint into the params (names and shapes checked). */
export async function loadMoments(gpu: Gpu, dir: string, params: readonly TrainParam[]): Promise<void> {
  const { join } = await import('node:path');
  const path = join(dir, OPTIMIZER_FILE);
  const file = await SafetensorsFile.open(path);
  try {
    for (const p of params) {
      for (const [suffix, t] of [['exp_avg', p.m], ['exp_avg_sq', p.v]] as const) {
        const name = `${p.name}.${suffix}`;
        const e = file.entry(name);
        if (e.shape.length !== t.shape.length || e.shape.some((d, i) => d !== t.shape[i])) {
          throw new CheckpointError(`${path}: "${name}" has shape [${e.shape}], expected [${t.shape}]`);
        }
        gpu.write(t, await file.float32(name));
      }
    }
  } finally {
    await file.close();
  }
}
