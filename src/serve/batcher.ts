// Dynamic batching for `lco serve`: the inputs of concurrent requests share
// GPU batches.
//
//   submit(rows) --> queue: [r0 r1 r2 | s0 | t0 t1 ...]   (FIFO, one entry per input)
//   worker: take up to batchSize entries (if fewer are queued, wait up to
//           waitMs for more), embed them in one call, hand each result to its
//           request; a request resolves when all of its inputs are done.
//
// One embed call runs at a time (the GPU does one job at a time anyway, and a
// single worker keeps batches full). The Embedder pads batches on the left
// and is batch-invariant, so an input gets the embedding it would get alone.
// A request with more inputs than batchSize spans several batches; other
// requests' inputs queue behind it.
//
// The queue holds at most maxQueue inputs: a request that would overflow it
// is refused at once (QueueFullError; the server answers 429). A request whose
// signal aborts (its client went away) leaves the queue; inputs of it already
// on the GPU are computed and dropped. A failed embed call fails every request
// with an input in that batch, and the worker goes on with the next batch.

/** Embeds token-id rows: one vector per row, in order. */
export type EmbedRows = (rows: number[][]) => Promise<Float32Array[]>;

export interface BatcherOptions {
  /** Most inputs per embed call. */
  batchSize: number;
  /** Longest wait (ms) for a batch to fill before embedding what is queued. */
  waitMs: number;
  /** Most inputs waiting in the queue (not counting the batch being embedded). */
  maxQueue: number;
}

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

/** One request: its results by input index, and how many are still to come. */
interface Job {
  results: Float32Array[];
  left: number;
  done: boolean;
  resolve: (v: Float32Array[]) => void;
  reject: (e: unknown) => void;
}

interface Entry {
  job: Job;
  index: number;
  ids: number[];
}

export class Batcher {
  #queue: Entry[] = [];
  #working = false;
  /** Wakes the worker early when the queue reaches batchSize during its wait. */
  #wake: (() => void) | null = null;
  #idleWaiters: (() => void)[] = [];
  /** Embed calls made so far. */
  calls = 0;

  constructor(
    private readonly embedRows: EmbedRows,
    readonly opts: BatcherOptions,
  ) {
    for (const k of ['batchSize', 'maxQueue'] as const) {
      if (!Number.isInteger(opts[k]) || opts[k] < 1) throw new RangeError(`${k} ${opts[k]} must be a positive integer`);
    }
    if (!(opts.waitMs >= 0)) throw new RangeError(`waitMs ${opts.waitMs} must be >= 0`);
  }

  /** Inputs waiting for a batch. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Whether an embed call is running or inputs are queued. */
  get busy(): boolean {
    return this.#working || this.#queue.length > 0;
  }

  /**
   * Queues one request's rows; resolves with their vectors in order. Throws
   * QueueFullError at once when they do not fit; rejects with the signal's
   * reason when it aborts first.
   */
  submit(rows: number[][], signal?: AbortSignal): Promise<Float32Array[]> {
    if (rows.length === 0) return Promise.resolve([]);
    if (this.#queue.length + rows.length > this.opts.maxQueue) {
      throw new QueueFullError(`the queue holds ${this.#queue.length} of at most ${this.opts.maxQueue} inputs; ${rows.length} more do not fit`);
    }
    return new Promise<Float32Array[]>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      // The abort listener goes when the job settles, so a long-lived signal holds no old job.
      const onAbort = () => this.#fail(job, signal!.reason);
      const settled = () => signal?.removeEventListener('abort', onAbort);
      const job: Job = {
        results: new Array(rows.length), left: rows.length, done: false,
        resolve: (v) => (settled(), resolve(v)),
        reject: (e) => (settled(), reject(e)),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      rows.forEach((ids, index) => this.#queue.push({ job, index, ids }));
      if (this.#queue.length >= this.opts.batchSize) this.#wake?.();
      void this.#work();
    });
  }

  /** Resolves once nothing is queued or being embedded. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Ends a job with an error and drops its queued inputs. */
  #fail(job: Job, err: unknown): void {
    if (job.done) return;
    job.done = true;
    this.#queue = this.#queue.filter((e) => e.job !== job);
    job.reject(err);
  }

  async #work(): Promise<void> {
    if (this.#working) return;
    this.#working = true;
    try {
      while (this.#queue.length > 0) {
        if (this.#queue.length < this.opts.batchSize && this.opts.waitMs > 0) await this.#waitForMore();
        const batch = this.#queue.splice(0, this.opts.batchSize);
        if (batch.length === 0) continue; // every waiting request aborted during the wait
        this.calls++;
        let vectors: Float32Array[];
        try {
          vectors = await this.embedRows(batch.map((e) => e.ids));
          if (vectors.length !== batch.length) throw new Error(`embed returned ${vectors.length} vectors for ${batch.length} rows`);
        } catch (err) {
          for (const e of batch) this.#fail(e.job, err);
          continue;
        }
        batch.forEach((e, i) => {
          if (e.job.done) return; // aborted or failed meanwhile: the vector is dropped
          e.job.results[e.index] = vectors[i];
          if (--e.job.left === 0) {
            e.job.done = true;
            e.job.resolve(e.job.results);
          }
        });
      }
    } finally {
      this.#working = false;
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  #waitForMore(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.opts.waitMs);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.#wake = null;
        resolve();
      }
      this.#wake = done;
    });
  }
}
