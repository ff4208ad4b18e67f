// One benchmark case: a kernel call at a fixed shape. `run()` records one call
// (no submit, no read-back); the runner submits and waits around batches of
// calls and derives GFLOP/s from `flops` or GB/s from `bytes`.
import type { Gpu } from '../src/gpu/gpu.ts';

export interface BenchCase {
  /** Row name, e.g. "matmul tiled 1024x1024x1024". */
  name: string;
  /** Kernel file (family), e.g. "matmul". */
  kernel: string;
  /** Floating-point operations of one call (for GFLOP/s). */
  flops?: number;
  /** Bytes read plus bytes written by one call (for GB/s). */
  bytes?: number;
  /** Why this adapter cannot run the case (a feature it lacks), or null. */
  unsupported?(gpu: Gpu): string | null;
  setup(gpu: Gpu): { run(): void; dispose(): void };
}
