// What bench/run.ts needs from a suite (kernels.ts, model.ts, embed.ts,
// memory.ts, serve.ts), and the options every suite reads.
//
// A run is two phases: prepare() of every selected suite (CPU only: build the
// workloads, run the PyTorch peer), then, with one Dawn instance and one Gpu,
// run() of each. The split exists because the PyTorch peer must run before
// Dawn exists in this process (bench/peers/torch.ts).
import type { Gpu } from '../../src/gpu/gpu.ts';
import type { TfjsPeer } from '../peers/tfjs.ts';
import type { Torch } from '../peers/torch.ts';

export interface BenchOptions {
  /** --filter: a case runs when its name matches. */
  filter: RegExp;
  /** A --filter was given (the suite then does not rewrite RESULTS.md). */
  filtered: boolean;
  /** --time MS: overrides every suite's own minimum time per case. */
  time: number | undefined;
  /** --quick: small workloads and short timing, to check that a suite works. */
  quick: boolean;
  /** Peers run (no --no-peers). */
  peers: boolean;
  /** --mini-batch: the memory suite's GradCache mini-batch (undefined: its default). */
  miniBatch: number | undefined;
}

export interface SuiteEnv {
  gpu: Gpu;
  /** tfjs-backend-webgpu on the same Dawn instance, loaded on first use; or why not. */
  tfjs(): Promise<TfjsPeer | string>;
}

export interface SuiteReport {
  /** Lines after Date / Machine / Adapter in the block's header (peers, peaks, model). */
  header: string[];
  /** The Markdown table (header row included); empty when nothing ran. */
  table: string[];
}

export interface Suite {
  name: string;
  /** Its block in bench/RESULTS.md: <!-- {block}:begin ... --> ... <!-- {block}:end -->. */
  block: string;
  /** Heading and text appended to RESULTS.md before the block when the block is missing. */
  section: string;
  /** CPU work before Dawn exists: workloads and the PyTorch peer. */
  prepare(): Promise<void>;
  run(env: SuiteEnv): Promise<SuiteReport>;
}

export interface SuiteContext {
  options: BenchOptions;
  /** PyTorch for the peer, or why there is none (not installed, --no-peers). */
  torch: Torch | string;
}

/** `x` with `digits` decimals; '' for null / undefined. */
export function fmt(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined ? '' : x.toFixed(digits);
}

/** Bytes as an integer with thousands separators ("1,234,567"). */
export function fmtBytes(bytes: number): string {
  return Math.round(bytes).toLocaleString('en-US');
}

export const mib = (bytes: number) => bytes / 2 ** 20;

/** The peer column's text when there is no number: "failed" or "not available". */
export function missing(reason: string): string {
  return reason.startsWith('failed') ? 'failed' : 'not available';
}
