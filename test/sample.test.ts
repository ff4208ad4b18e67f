// Next-token sampling: greedy is the argmax; the candidate distribution after
// temperature / top-k / top-p matches probabilities enumerated by hand; draws
// follow it; a seed fixes the stream; bad options and logits are named.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { argmax, candidates, Rng, sampleNext, SamplingError, type SamplingOptions } from '../src/model/sample.ts';
import { randomData, rng as doctorRng } from './helpers.ts';

/** Logits whose softmax at temperature 1 is w / sum(w). */
const logitsOf = (w: number[]) => Float32Array.from(w, Math.log);

/** Exact probabilities: weights w_i^(1/τ) over the kept ids, renormalised. */
function expected(w: number[], keep: number[], temperature = 1): Map<number, number> {
  const q = keep.map((i) => w[i] ** (1 / temperature));
  const s = q.reduce((a, b) => a + b, 0);
  return new Map(keep.map((id, j) => [id, q[j] / s]));
}

const W = [1, 2, 3, 4]; // p = 0.1, 0.2, 0.3, 0.4 at τ = 1

// [options, ids that survive, as enumerated by hand, most probable first]
const CASES: [string, SamplingOptions, number[]][] = [
  ['τ = 1, no filter', { temperature: 1 }, [3, 2, 1, 0]],
  ['τ = 0.5 squares the weights', { temperature: 0.5 }, [3, 2, 1, 0]],
  ['τ = 2 takes their square root', { temperature: 2 }, [3, 2, 1, 0]],
  ['top-k 2', { temperature: 1, topK: 2 }, [3, 2]],
  ['top-k larger than V keeps all', { temperature: 1, topK: 10 }, [3, 2, 1, 0]],
  ['top-p 0.6: 0.4 < 0.6 <= 0.4 + 0.3', { temperature: 1, topP: 0.6 }, [3, 2]],
  ['top-p 0.69', { temperature: 1, topP: 0.69 }, [3, 2]],
  ['top-p 0.71 needs a third token', { temperature: 1, topP: 0.71 }, [3, 2, 1]],
  ['top-p 0.3: at least the top token', { temperature: 1, topP: 0.3 }, [3]],
  // After top-k the kept mass is 0.7; 0.4 / 0.7 = 0.571 >= 0.55, so top-p
  // (measured on the top-k distribution, as transformers does) keeps one token.
  // Measured on the full distribution it would have kept two.
  ['top-k 2 then top-p 0.55 on the renormalised mass', { temperature: 1, topK: 2, topP: 0.55 }, [3]],
  ['τ = 0.5 then top-p 0.5: 16/30 >= 0.5', { temperature: 0.5, topP: 0.5 }, [3]],
];

describe('Rng (mulberry32)', () => {
  it('is the same stream as the mulberry32 lco doctor uses, for several seeds', () => {
    for (const seed of [0, 1, 12345, 0xffffffff]) {
      const a = new Rng(seed);
      const b = doctorRng(seed);
      for (let i = 0; i < 1000; i++) expect(a.next(), `seed ${seed}, draw ${i}`).toBe(b());
    }
  });

  it('resumes exactly from a saved state', () => {
    const a = new Rng(42);
    for (let i = 0; i < 17; i++) a.next();
    const b = Rng.fromState(a.state);
    for (let i = 0; i < 100; i++) expect(b.next()).toBe(a.next());
  });

  it('is uniform on [0, 1): 10 buckets of 100 000 draws each within 5 sigma of 1/10', () => {
    const r = new Rng(7);
    const N = 100_000;
    const counts = new Array(10).fill(0);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < N; i++) {
      const u = r.next();
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
      counts[Math.floor(u * 10)]++;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    const sigma = Math.sqrt(0.1 * 0.9 / N);
    for (const c of counts) expect(Math.abs(c / N - 0.1)).toBeLessThan(5 * sigma);
  });

  it('refuses seeds that are not a uint32', () => {
    for (const s of [-1, 1.5, 2 ** 32, NaN]) expect(() => new Rng(s)).toThrow(/seed .* must be an integer in \[0, 2\^32\)/);
  });
});

describe('greedy (temperature 0)', () => {
  it('is the argmax, the lowest id among ties, and does not advance the stream', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -8, max: 8 }), { minLength: 1, maxLength: 40 }), (vals) => {
        // small integers, so ties are common
        const logits = Float32Array.from(vals, (v) => v / 4);
        let best = 0;
        for (let i = 0; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        const r = new Rng(3);
        expect(sampleNext(logits, { temperature: 0 }, r)).toBe(best);
        expect(argmax(logits)).toBe(best);
        expect(r.state).toBe(3);
      }),
    );
  });

  it('ignores top-k / top-p and picks the lowest of tied maxima', () => {
    expect(sampleNext(Float32Array.of(1, 3, 3, 2), { temperature: 0, topK: 3, topP: 0.5 }, new Rng(0))).toBe(1);
    expect(sampleNext(Float32Array.of(-Infinity, -5, -Infinity), { temperature: 0 }, new Rng(0))).toBe(1);
  });
});

describe('candidate distribution against hand-enumerated probabilities', () => {
  // The logits are float32 logs of the weights (relative error ~6e-8), so the
  // probabilities agree with the exact ones to ~1e-7; 1e-6 is the bar.
  for (const [name, opts, keep] of CASES) {
    it(name, () => {
      const { ids, probs } = candidates(logitsOf(W), opts);
      expect([...ids]).toEqual(keep);
      const exact = expected(W, keep, opts.temperature);
      ids.forEach((id, j) => expect(Math.abs(probs[j] - exact.get(id)!), `p(${id})`).toBeLessThan(1e-6));
    });
  }

  it('breaks probability ties by the lower id (top-k and top-p)', () => {
    const logits = logitsOf([2, 1, 2, 1]);
    expect([...candidates(logits, { topK: 1 }).ids]).toEqual([0]);
    expect([...candidates(logits, { topK: 3 }).ids]).toEqual([0, 2, 1]);
    expect([...candidates(logits, { topP: 0.5 }).ids]).toEqual([0, 2]); // 1/3 < 0.5 <= 2/3
  });

  it('treats -Infinity as a masked token and stays finite for huge logits', () => {
    const masked = candidates(Float32Array.of(0, -Infinity, 0), {});
    expect([...masked.ids]).toEqual([0, 2]);
    const big = candidates(Float32Array.of(3e38, 3e38 - 2e31, -3e38), { temperature: 1e-3 });
    for (const p of big.probs) expect(Number.isFinite(p)).toBe(true);
    expect(big.ids[0]).toBe(0);
    // exp(-1) for a gap of 1 at τ = 1, far from any overflow
    const gap = candidates(Float32Array.of(1000, 999), {});
    expect(Math.abs(gap.probs[1] - Math.exp(-1) / (1 + Math.exp(-1)))).toBeLessThan(1e-12);
  });
});

describe('draws follow the distribution', () => {
  // N draws from a fixed seed: each id's frequency must lie within 5 binomial
  // standard deviations sqrt(p (1 - p) / N) of its probability (a deterministic
  // check; a wrong rule moves some frequency by > 0.05, 20 sigma here), and an
  // id outside the kept set must never come up.
  const N = 40_000;
  for (const [name, opts, keep] of CASES) {
    it(name, () => {
      const r = new Rng(2024);
      const logits = logitsOf(W);
      const counts = new Array(W.length).fill(0);
      for (let i = 0; i < N; i++) counts[sampleNext(logits, opts, r)]++;
      const exact = expected(W, keep, opts.temperature);
      for (let id = 0; id < W.length; id++) {
        const p = exact.get(id) ?? 0;
        if (p === 0) {
          expect(counts[id], `id ${id} is filtered out`).toBe(0);
          continue;
        }
        const sigma = Math.sqrt((p * (1 - p)) / N);
        expect(Math.abs(counts[id] / N - p), `frequency of id ${id} (p = ${p.toFixed(4)})`).toBeLessThanOrEqual(5 * sigma + 1e-12);
      }
    });
  }
});

describe('determinism', () => {
  const logits = randomData(300, 11, 0.05, 4);
  const run = (r: Rng, n: number) => Array.from({ length: n }, () => sampleNext(logits, { temperature: 0.9, topP: 0.95, topK: 50 }, r));

  it('the same seed gives the same tokens; another seed other tokens; a saved state resumes', () => {
    const a = run(new Rng(5), 200);
    expect(run(new Rng(5), 200)).toEqual(a);
    expect(run(new Rng(6), 200)).not.toEqual(a);
    const r = new Rng(5);
    run(r, 80);
    expect(run(Rng.fromState(r.state), 120)).toEqual(a.slice(80));
  });

  it('consumes exactly one draw per sampled token, even with one survivor', () => {
    const r = new Rng(9);
    sampleNext(logits, { temperature: 1, topK: 1 }, r);
    const ref = new Rng(9);
    ref.next();
    expect(r.state).toBe(ref.state);
  });
});

describe('errors', () => {
  const l = Float32Array.of(1, 2, 3);
  const r = new Rng(0);
  it('names bad options', () => {
    for (const t of [-0.5, NaN, Infinity]) expect(() => sampleNext(l, { temperature: t }, r)).toThrow(/temperature .* must be a finite number >= 0/);
    for (const p of [0, -0.1, 1.5, NaN]) expect(() => sampleNext(l, { topP: p }, r)).toThrow(/topP .* must be in \(0, 1\]/);
    for (const k of [0, -1, 1.5, NaN]) expect(() => sampleNext(l, { topK: k }, r)).toThrow(/topK .* must be an integer >= 1/);
    expect(() => sampleNext(l, { temperature: -1 }, r)).toThrow(SamplingError);
  });

  it('names the index of a NaN or +Infinity logit, in greedy and sampled modes', () => {
    const bad = Float32Array.of(0.5, 1, NaN, 2);
    for (const temperature of [0, 1]) expect(() => sampleNext(bad, { temperature }, r)).toThrow(/logit 2 of 4 is NaN/);
    expect(() => sampleNext(Float32Array.of(0, Infinity), {}, r)).toThrow(/logit 1 of 2 is \+Infinity/);
  });

  it('refuses an empty row and a row with every token masked', () => {
    expect(() => sampleNext(new Float32Array(0), {}, r)).toThrow(/empty/);
    expect(() => sampleNext(Float32Array.of(-Infinity, -Infinity), {}, r)).toThrow(/all 2 logits are -Infinity/);
  });
});
