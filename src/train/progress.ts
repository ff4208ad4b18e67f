// One-line training progress:
//   step 120/2000  loss 3.412  lr 3.0e-4  1,234 tok/s  elapsed 1m05s  ETA 17m10s
//
// `step` is the number of steps done and `tokens` the tokens processed so far
// (both cumulative). Throughput is smoothed over a sliding window of wall
// time: with samples (t_i, tokens_i) of the updates, the oldest kept sample s
// being the last one at or before now - window,
//   tok/s = (tokens_now - tokens_s) / (t_now - t_s)
// so a slow first step (kernel compilation) stops counting once the window
// has moved past it. ETA = tokens left / tok/s when the token total is known,
// else steps left / (steps per second over the same window). The clock is
// injectable so tests can drive time; lines are written at most every
// intervalMs unless an update is forced (say, the last step).

export interface ProgressOptions {
  totalSteps: number;
  /** Total tokens of the run; ETA then follows the token rate. */
  totalTokens?: number;
  /** Step and tokens already done when the run (re)starts. Default 0. */
  startStep?: number;
  startTokens?: number;
  /** Milliseconds, monotonic. Default performance.now. */
  now?: () => number;
  /** Where lines go. Default process.stderr. */
  out?: { write(s: string): unknown };
  /** Least time between written lines. Default 1000 ms. */
  intervalMs?: number;
  /** Throughput window. Default 10 000 ms. */
  windowMs?: number;
  /** What `tokens` counts, for the rate's label ("tok/s" by default, e.g. "examples/s"). */
  unit?: string;
}

export interface ProgressUpdate {
  step: number;
  tokens: number;
  loss: number;
  lr: number;
}

interface Sample {
  t: number;
  step: number;
  tokens: number;
}

export class Progress {
  readonly #totalSteps: number;
  readonly #totalTokens: number | undefined;
  readonly #now: () => number;
  readonly #out: { write(s: string): unknown };
  readonly #intervalMs: number;
  readonly #windowMs: number;
  readonly #unit: string;
  readonly #start: number;
  #samples: Sample[];
  #lastWrite: number | undefined;

  constructor(opts: ProgressOptions) {
    if (!Number.isInteger(opts.totalSteps) || opts.totalSteps < 1) throw new RangeError(`Progress: totalSteps ${opts.totalSteps} must be an integer >= 1`);
    if (opts.totalTokens !== undefined && !(opts.totalTokens > 0)) throw new RangeError(`Progress: totalTokens ${opts.totalTokens} must be > 0`);
    this.#totalSteps = opts.totalSteps;
    this.#totalTokens = opts.totalTokens;
    this.#now = opts.now ?? (() => performance.now());
    this.#out = opts.out ?? process.stderr;
    this.#intervalMs = opts.intervalMs ?? 1000;
    this.#windowMs = opts.windowMs ?? 10_000;
    this.#unit = opts.unit ?? 'tok';
    this.#start = this.#now();
    this.#samples = [{ t: this.#start, step: opts.startStep ?? 0, tokens: opts.startTokens ?? 0 }];
  }

  /** Records a step and returns its line; writes it when intervalMs has passed since the last write, or when forced. */
  update(u: ProgressUpdate, force = false): string {
    const t = this.#now();
    const samples = this.#samples;
    samples.push({ t, step: u.step, tokens: u.tokens });
    while (samples.length > 2 && samples[1].t <= t - this.#windowMs) samples.shift();
    const s = samples[0];
    const dt = (t - s.t) / 1000;
    const tokPerSec = dt > 0 ? (u.tokens - s.tokens) / dt : undefined;
    const stepsPerSec = dt > 0 ? (u.step - s.step) / dt : undefined;

    let eta: number | undefined;
    if (u.step >= this.#totalSteps) eta = 0;
    else if (this.#totalTokens !== undefined && tokPerSec !== undefined && tokPerSec > 0) eta = Math.max(0, this.#totalTokens - u.tokens) / tokPerSec;
    else if (stepsPerSec !== undefined && stepsPerSec > 0) eta = (this.#totalSteps - u.step) / stepsPerSec;

    const line = [
      `step ${u.step}/${this.#totalSteps}`,
      `loss ${Number.isFinite(u.loss) ? u.loss.toFixed(3) : String(u.loss).toLowerCase()}`,
      `lr ${formatLr(u.lr)}`,
      `${tokPerSec === undefined ? '-' : groupThousands(Math.round(tokPerSec))} ${this.#unit}/s`,
      `elapsed ${formatDuration((t - this.#start) / 1000)}`,
      `ETA ${eta === undefined ? '?' : formatDuration(eta)}`,
    ].join('  ');
    if (force || this.#lastWrite === undefined || t - this.#lastWrite >= this.#intervalMs) {
      this.#out.write(`${line}\n`);
      this.#lastWrite = t;
    }
    return line;
  }
}

/** 3e-4 -> "3.0e-4"; 0 -> "0". */
export function formatLr(lr: number): string {
  if (lr === 0) return '0';
  return lr.toExponential(1).replace('e+', 'e');
}

/** 1234567 -> "1,234,567" (fixed, not the locale's separator). */
export function groupThousands(n: number): string {
  const sign = n < 0 ? '-' : '';
  return sign + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Seconds -> "45s", "1m05s", "2h03m07s" (rounded to the second). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const pad = (v: number) => String(v).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m${pad(s % 60)}s`;
}
