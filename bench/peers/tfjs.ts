// The peer: tfjs-backend-webgpu on the same Dawn adapter, in the same process
// and run. Its matmul and softmax at the shapes of our cases. Timed the same
// way as ours: record the op, submit, wait for the queue (no read-back), and
// the wait goes through quietWait like gpu.sync(), so neither side busy-polls
// Dawn while the other does not.
import type { MatmulShape } from '../kernels/matmul.ts';
import { operands } from '../kernels/matmul.ts';
import { quietWait } from '../../src/gpu/quiet-wait.ts';

type Tf = typeof import('@tensorflow/tfjs-core');

export interface PeerCase {
  name: string;
  setup(): { run(): void; dispose(): void };
}

export interface TfjsPeer {
  version: string;
  matmul(s: MatmulShape): PeerCase;
  softmax(rows: number, cols: number): PeerCase;
  sync(): Promise<void>;
}

/** tfjs-core on its webgpu backend, and the wait tfjs does before a read-back. */
export interface TfjsOnWebGpu {
  tf: Tf;
  /** Ends tfjs's open compute pass, submits, and waits for the queue (through quietWait). */
  sync(): Promise<void>;
}

/** Starts tfjs on navigator.gpu; a string (the reason) when it cannot. Shared by both tfjs peers. */
export async function startTfjs(): Promise<TfjsOnWebGpu | string> {
  let tf: Tf;
  try {
    tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (err) {
    return `tfjs-backend-webgpu not installed (${(err as Error).message.split('\n')[0]})`;
  }
  if (!(await tf.setBackend('webgpu'))) return 'tfjs could not start its webgpu backend';
  await tf.ready();
  // Flush the way tfjs does before a read-back (getBufferData): end its open
  // compute pass, submit, then wait for the queue.
  const backend = tf.backend() as unknown as {
    ensureCommandEncoderReady(): void;
    endComputePassEncoder(): void;
    submitQueue(): void;
    device: GPUDevice;
  };
  return {
    tf,
    async sync() {
      backend.ensureCommandEncoderReady();
      backend.endComputePassEncoder();
      backend.submitQueue();
      await quietWait(backend.device.queue.onSubmittedWorkDone());
    },
  };
}

/** Loads tfjs on navigator.gpu; a string (the reason) when it cannot. */
export async function loadTfjs(): Promise<TfjsPeer | string> {
  const started = await startTfjs();
  if (typeof started === 'string') return started;
  const { tf } = started;
  return {
    version: tf.version_core,
    matmul(s) {
      return {
        name: `tfjs matmul ${s.name}`,
        setup() {
          const o = operands(s);
          const a = tf.tensor(o.a, o.aShape);
          const b = tf.tensor(o.b, o.bShape);
          return {
            run: () => tf.matMul(a, b, s.transA, s.transB).dispose(),
            dispose: () => {
              a.dispose();
              b.dispose();
            },
          };
        },
      };
    },
    softmax(rows, cols) {
      return {
        name: `tfjs softmax [${rows}, ${cols}]`,
        setup() {
          const x = tf.tensor(Float32Array.from({ length: rows * cols }, (_, i) => 4 * Math.sin(i * 0.618)), [rows, cols]);
          return { run: () => tf.softmax(x).dispose(), dispose: () => x.dispose() };
        },
      };
    },
    sync: started.sync,
  };
}
