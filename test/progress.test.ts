// Training progress lines on a fake clock: the exact format, the smoothed
// tok/s window, ETA by steps or tokens, and write throttling.
import { describe, expect, it } from 'vitest';
import { formatDuration, formatLr, groupThousands, Progress, type ProgressOptions } from '../src/train/progress.ts';

/** A Progress whose clock and output the test controls. */
function setup(opts: Partial<ProgressOptions> & { totalSteps: number }) {
  const clock = { t: 0 };
  const written: string[] = [];
  const p = new Progress({ now: () => clock.t, out: { write: (s: string) => written.push(s) }, ...opts });
  return { p, clock, written };
}

describe('Progress', () => {
  it('formats the line exactly', () => {
    const { p, clock, written } = setup({ totalSteps: 2000 });
    clock.t = 65_000;
    const line = p.update({ step: 120, tokens: 80_210, loss: 3.41234, lr: 3e-4 });
    // 80 210 tokens / 65 s = 1 234 tok/s; 1880 steps left at 120 / 65 s per step = 1018.3 s
    expect(line).toBe('step 120/2000  loss 3.412  lr 3.0e-4  1,234 tok/s  elapsed 1m05s  ETA 16m58s');
    expect(written).toEqual([`${line}\n`]);
  });

  it('says "-" and "?" before any time has passed; NaN loss is "nan"', () => {
    const { p } = setup({ totalSteps: 10 });
    expect(p.update({ step: 0, tokens: 0, loss: NaN, lr: 0 })).toBe('step 0/10  loss nan  lr 0  - tok/s  elapsed 0s  ETA ?');
  });

  it('ETA follows the token rate when the token total is known, and is 0 when done', () => {
    const { p, clock } = setup({ totalSteps: 100, totalTokens: 1_000_000 });
    clock.t = 10_000;
    // 50 000 tok / 10 s = 5000 tok/s; 950 000 tokens left = 190 s (steps would say 90 s)
    expect(p.update({ step: 10, tokens: 50_000, loss: 1, lr: 1e-3 })).toMatch(/5,000 tok\/s {2}elapsed 10s {2}ETA 3m10s$/);
    clock.t = 20_000;
    expect(p.update({ step: 100, tokens: 1_000_000, loss: 1, lr: 1e-3 })).toMatch(/ETA 0s$/);
  });

  it('smooths tok/s over the window: a slow start stops counting once the window passes it', () => {
    const { p, clock } = setup({ totalSteps: 100, windowMs: 5000, intervalMs: 0 });
    let tokens = 0;
    const lines: string[] = [];
    // step 1 takes 10 s (compilation), then 1 step/s of 1000 tokens
    clock.t = 10_000;
    tokens += 1000;
    lines.push(p.update({ step: 1, tokens, loss: 2, lr: 1e-3 }));
    for (let s = 2; s <= 12; s++) {
      clock.t += 1000;
      tokens += 1000;
      lines.push(p.update({ step: s, tokens, loss: 2, lr: 1e-3 }));
    }
    expect(lines[0]).toContain(' 100 tok/s'); // 1000 tokens over 10 s
    // step 3, t = 12 s: the last sample at or before 12 - 5 = 7 s is t = 0: 3000 / 12 s
    expect(lines[2]).toContain(' 250 tok/s');
    // step 6, t = 15 s: it is now t = 10 s (1000 tokens): 5000 / 5 s
    expect(lines[5]).toContain(' 1,000 tok/s');
    expect(lines[11]).toContain(' 1,000 tok/s');

    // the rate doubles; 5 s later the window only holds the new rate, halfway it is mixed
    const mixed: string[] = [];
    for (let s = 13; s <= 20; s++) {
      clock.t += 1000;
      tokens += 2000;
      mixed.push(p.update({ step: s, tokens, loss: 2, lr: 1e-3 }));
    }
    // step 14, t = 23 s: from t = 18 s (9000 tokens) to 23 s (16 000 tokens): 1400 tok/s
    expect(mixed[1]).toContain(' 1,400 tok/s');
    expect(mixed[7]).toContain(' 2,000 tok/s');
  });

  it('writes at most every intervalMs unless forced, and returns the line every time', () => {
    const { p, clock, written } = setup({ totalSteps: 100, intervalMs: 1000 });
    let returned = 0;
    for (let s = 1; s <= 30; s++) {
      clock.t = s * 100;
      if (p.update({ step: s, tokens: s * 10, loss: 1, lr: 1e-3 })) returned++;
    }
    expect(returned).toBe(30);
    // t = 100 (first), 1100, 2100; 3000 is only 900 ms after 2100
    expect(written.map((l) => l.split('  ')[0])).toEqual(['step 1/100', 'step 11/100', 'step 21/100']);
    clock.t = 3050;
    p.update({ step: 31, tokens: 310, loss: 1, lr: 1e-3 }, true);
    expect(written).toHaveLength(4);
    expect(written.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
  });

  it('measures rate and elapsed time of a resumed run from where it restarts', () => {
    const { p, clock } = setup({ totalSteps: 100, startStep: 50, startTokens: 50_000 });
    clock.t = 5000;
    expect(p.update({ step: 55, tokens: 55_000, loss: 1, lr: 1e-3 })).toBe('step 55/100  loss 1.000  lr 1.0e-3  1,000 tok/s  elapsed 5s  ETA 45s');
  });

  it('refuses a bad total', () => {
    expect(() => new Progress({ totalSteps: 0 })).toThrow(/totalSteps 0 must be an integer >= 1/);
    expect(() => new Progress({ totalSteps: 10, totalTokens: -5 })).toThrow(/totalTokens -5 must be > 0/);
  });
});

describe('formatting helpers', () => {
  it('durations, thousands, learning rates', () => {
    expect([0, 0.4, 59.4, 59.6, 65, 3599, 3723, 90_061].map(formatDuration)).toEqual(['0s', '0s', '59s', '1m00s', '1m05s', '59m59s', '1h02m03s', '25h01m01s']);
    expect([0, 999, 1000, 1234567, -4321].map(groupThousands)).toEqual(['0', '999', '1,000', '1,234,567', '-4,321']);
    expect([3e-4, 1e-3, 6e-5, 0.1, 2.5, 0].map(formatLr)).toEqual(['3.0e-4', '1.0e-3', '6.0e-5', '1.0e-1', '2.5e0', '0']);
  });
});
