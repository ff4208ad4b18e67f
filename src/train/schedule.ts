// Learning-rate schedules in the convention of Hugging Face transformers'
// get_{cosine,linear,constant}_schedule_with_warmup (a LambdaLR stepped once
// per optimizer step), which PEFT and sentence-transformers use too.
//
// Optimizer step s is 0-based: s = 0 is the first update, s = total - 1 the
// last. With min = minRatio * peak:
//
//   s < warmup:  lr = peak * s / warmup          (so the first warmup step
//                                                 runs at 0, as in transformers)
//   after:  p = (s - warmup) / max(1, total - warmup)  in [0, 1)
//     cosine:   lr = min + (peak - min) * (1 + cos(pi p)) / 2
//     linear:   lr = min + (peak - min) * (1 - p)
//     constant: lr = peak
//
// The first step after warmup runs at the peak; the decay approaches min but
// never reaches it (the last step has p = (total - 1 - warmup) / (total -
// warmup)). With minRatio 0 these are transformers' formulas exactly; with
// minRatio > 0 the cosine is get_cosine_with_min_lr_schedule_with_warmup's
// (min_lr_rate), and the linear decay ends at min the same way.

export type ScheduleKind = 'cosine' | 'linear' | 'constant';

export interface Schedule {
  peak: number;
  warmup: number;
  total: number;
  kind: ScheduleKind;
  /** The floor the decay approaches, as a fraction of peak (default 0.1). */
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

/** The learning rate of optimizer step s, 0-based (s = 0 is the first update). */
export function lrAt(sc: Schedule, s: number): number {
  if (s < sc.warmup) return (sc.peak * s) / sc.warmup;
  if (sc.kind === 'constant') return sc.peak;
  const min = sc.peak * (sc.minRatio ?? 0.1);
  const p = (s - sc.warmup) / Math.max(1, sc.total - sc.warmup);
  const factor = sc.kind === 'cosine' ? (1 + Math.cos(Math.PI * p)) / 2 : Math.max(0, 1 - p);
  return min + (sc.peak - min) * factor;
}
