// The learning-rate schedules equal Hugging Face transformers' schedulers at
// every optimizer step. transformers' lr lambdas (optimization.py; a LambdaLR
// multiplies the peak lr by lambda(current_step), current_step = 0 for the
// first optimizer step) are written out below as the reference:
//
//   warmup (all three):  s < W:  s / max(1, W)
//   cosine   (get_cosine_schedule_with_warmup, num_cycles 0.5):
//            p = (s - W) / max(1, T - W);  max(0, 0.5 (1 + cos(pi 2 0.5 p)))
//   cosine with a floor (get_cosine_with_min_lr_schedule_with_warmup, min_lr_rate m):
//            f = 0.5 (1 + cos(pi p));  max(0, f (1 - m) + m)
//   linear   (get_linear_schedule_with_warmup):  max(0, (T - s) / max(1, T - W))
//   constant (get_constant_schedule_with_warmup): 1
//
// Our linear schedule with a floor m > 0 has no transformers counterpart; it
// is m + (1 - m) times transformers' linear factor, tested the same way.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSchedule, lrAt, type ScheduleKind } from '../src/train/schedule.ts';

function transformersFactor(kind: ScheduleKind, s: number, W: number, T: number, m: number): number {
  if (s < W) return s / Math.max(1, W);
  if (kind === 'constant') return 1;
  const p = (s - W) / Math.max(1, T - W);
  if (kind === 'cosine') return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 2 * 0.5 * p)) * (1 - m) + m);
  return m + (1 - m) * Math.max(0, (T - s) / Math.max(1, T - W));
}

describe('learning-rate schedule (transformers convention, 0-based optimizer steps)', () => {
  it('equals the transformers formulas at every step, for every kind, warmup and floor', () => {
    fc.assert(fc.property(
      fc.constantFrom<ScheduleKind>('cosine', 'linear', 'constant'),
      fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 60 }),
      fc.constantFrom(0, 0.1, 0.5, 1), fc.double({ min: 1e-6, max: 3, noNaN: true }),
      (kind, total, warmup, minRatio, peak) => {
        const sc = { peak, warmup, total, kind, minRatio };
        checkSchedule(sc);
        for (let s = 0; s < total; s++) {
          const want = peak * transformersFactor(kind, s, warmup, total, minRatio);
          expect(Math.abs(lrAt(sc, s) - want), `${kind} W ${warmup} T ${total} m ${minRatio} step ${s}`).toBeLessThanOrEqual(1e-15 * peak);
        }
      },
    ), { numRuns: 300 });
  });

  it('no warmup: the first update runs at the peak, and no update runs at 0 (the old 1-based schedule ran its last at the floor)', () => {
    for (const kind of ['cosine', 'linear', 'constant'] as const) {
      expect(lrAt({ peak: 1, warmup: 0, total: 1, kind, minRatio: 0 }, 0)).toBe(1); // a one-step run moves the weights
      expect(lrAt({ peak: 2e-4, warmup: 0, total: 10, kind, minRatio: 0 }, 0)).toBe(2e-4);
      for (let s = 0; s < 10; s++) expect(lrAt({ peak: 1, warmup: 0, total: 10, kind, minRatio: 0 }, s)).toBeGreaterThan(0);
    }
  });

  it('hand values: warmup 10 of 110, cosine / linear to a floor of 0.1', () => {
    const s = { peak: 1, warmup: 10, total: 110, minRatio: 0.1 };
    expect(lrAt({ ...s, kind: 'cosine' }, 0)).toBe(0); // the first warmup step runs at 0, as in transformers
    expect(lrAt({ ...s, kind: 'cosine' }, 5)).toBeCloseTo(0.5, 12);
    expect(lrAt({ ...s, kind: 'cosine' }, 9)).toBeCloseTo(0.9, 12);
    expect(lrAt({ ...s, kind: 'cosine' }, 10)).toBeCloseTo(1, 12); // first step after warmup: the peak
    expect(lrAt({ ...s, kind: 'cosine' }, 60)).toBeCloseTo(0.55, 12); // p = 1/2: halfway to the floor
    expect(lrAt({ ...s, kind: 'cosine' }, 109)).toBeCloseTo(0.1 + 0.9 * (1 + Math.cos(Math.PI * 0.99)) / 2, 12); // the last, just above the floor
    expect(lrAt({ ...s, kind: 'linear' }, 35)).toBeCloseTo(0.775, 12); // p = 1/4
    expect(lrAt({ ...s, kind: 'linear' }, 109)).toBeCloseTo(0.1 + 0.9 * 0.01, 12);
    expect(lrAt({ ...s, kind: 'constant' }, 100)).toBe(1);
  });

  it('warmup longer than the run: every step is a warmup step', () => {
    const sc = { peak: 1, warmup: 8, total: 4, kind: 'cosine' as const };
    expect([0, 1, 2, 3].map((s) => lrAt(sc, s))).toEqual([0, 0.125, 0.25, 0.375]);
  });

  it('rejects a bad schedule, naming the field', () => {
    expect(() => checkSchedule({ peak: -1, warmup: 0, total: 1, kind: 'cosine' })).toThrow(/peak lr -1/);
    expect(() => checkSchedule({ peak: 1, warmup: 1.5, total: 1, kind: 'cosine' })).toThrow(/warmup 1.5/);
    expect(() => checkSchedule({ peak: 1, warmup: 0, total: 0, kind: 'cosine' })).toThrow(/total 0/);
    expect(() => checkSchedule({ peak: 1, warmup: 0, total: 1, kind: 'step' as ScheduleKind })).toThrow(/kind "step"/);
    expect(() => checkSchedule({ peak: 1, warmup: 0, total: 1, kind: 'linear', minRatio: 2 })).toThrow(/minRatio 2/);
  });
});
