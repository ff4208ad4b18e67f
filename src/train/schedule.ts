// Learning-rate schedules: linear warmup from 0, then a cosine or linear
// decay to minRatio * peak at the last step (or constant).
//
//   step s (1-based) <= warmup:  lr = peak * s / warmup
//   after:  progress p = (s - warmup) / (total - warmup) in [0, 1]
//     cosine:   lr = min + (peak - min) * (1 + cos(pi p)) / 2
//     linear:   lr = peak - (peak - min) p
//     constant: lr = peak

export type ScheduleKind = 'cosine' | 'linear' | 'constant';

export interface Schedule {
  peak: number;
  warmup: number;
  total: number;
  kind: ScheduleKind;
  /** Final lr as a fraction of peak (default 0.1). */
  minRatio?: number;
}

export function checkSchedule(s: Schedule): void {
  const bad = (msg: string): never => {
    throw new RangeError(`learning-rate schedule: ${msg}`);
  };
  if (!Number.isFinite(s.peak) || s.peak < 0) bad(`peak lr ${s.peak} must be >= 0`);
  if (!Number.isInteger(s.warmup) || s.warmup < 0) bad(`warmup ${s.warmup} must be a whole number of steps`);
  if (!Number.isInteger(s.total) || s.total < 1) bad(`total ${s.total} must be a positive number of steps`);
  if (!['cosine', 'linear', 'constant'].includes(s.kind)) bad(`kind "${s.kind}" must be cosine, linear or constant`);
  const m = s.minRatio ?? 0.1;
  if (!Number.isFinite(m) || m < 0 || m > 1) bad(`minRatio ${m} must be in [0, 1]`);
}

/** The learning rate of step s (1-based). */
export function lrAt(s: Schedule, step: number): number {
  if (step <= s.warmup) return (s.peak * step) / s.warmup;
  if (s.kind === 'constant') return s.peak;
  const min = s.peak * (s.minRatio ?? 0.1);
  const span = Math.max(1, s.total - s.warmup);
  const p = Math.min(1, (step - s.warmup) / span);
  return s.kind === 'cosine' ? min + ((s.peak - min) * (1 + Math.cos(Math.PI * p))) / 2 : s.peak - (s.peak - min) * p;
}
