// Seeded inputs and the tolerance comparison of `lco doctor`'s kernel checks.
// The error model is the test suite's: an element passes when
//   |actual - expected| <= atol + rtol * scale
// where scale is the magnitude the float32 rounding error grows with
// (|expected| by default; for a dot product, sum_k |a_k b_k|). A check
// reports its worst element as the ratio of its error to that allowance.

import { Rng } from '../model/sample.ts';

/** The project's seeded uniform stream (mulberry32, Rng) as a function, so a failing check can be replayed. */
export function rng(seed: number): () => number {
  const r = new Rng(seed >>> 0);
  return () => r.next();
}

/**
 * Uniform in ±[lo, hi] with a random sign. The magnitude is never below lo:
 * no element is zero, so a kernel that skips an element cannot match by luck.
 */
export function randomData(n: number, seed: number, lo = 0.05, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() < 0.5 ? -1 : 1) * (lo + (hi - lo) * r());
  return out;
}

/** Integers in [lo, hiExclusive). */
export function randomInts(n: number, seed: number, lo: number, hiExclusive: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hiExclusive - lo)));
}

/** rows x E, each row of unit norm, rounded to float32 once (a GPU kernel and its reference read the same values). */
export function unitRows(rows: number, E: number, seed: number): Float32Array {
  const x = randomData(rows * E, seed);
  const y = new Float32Array(rows * E);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let e = 0; e < E; e++) ss += x[r * E + e] ** 2;
    for (let e = 0; e < E; e++) y[r * E + e] = x[r * E + e] / Math.sqrt(ss);
  }
  return y;
}

/** M random modality labels from UNITE's bit set: text 1, image 2, video 4, image+text 3. */
export function randomModalityLabels(M: number, seed: number): Uint32Array {
  const codes = [1, 2, 4, 3];
  return Uint32Array.from(randomInts(M, seed, 0, codes.length), (n) => codes[n]);
}

export interface Tolerance {
  /** Allowed error relative to the scale (float32 rounding: a few 1e-7 per operation). */
  rtol: number;
  /** Absolute floor of the allowed error (results float32 may flush to zero). Default 0. */
  atol?: number;
}

/** The worst element of one or more compared outputs. */
export interface Comparison {
  /** True when every element is within tolerance and no output is NaN where the reference is not. */
  ok: boolean;
  /** Worst |actual - expected| / (atol + rtol * scale); Infinity for NaN, Inf or a length mismatch. */
  ratio: number;
  /** A NaN came back where the reference has a number (typically an element the kernel never wrote). */
  nan: boolean;
  rtol: number;
  atol: number;
  /** The output holding the worst element. */
  output: string;
  /** Index of the worst element (-1 when every element is exact, or on a length mismatch). */
  index: number;
  actual: number;
  expected: number;
  /** Set when the lengths differ. */
  lengthMismatch?: { actual: number; expected: number };
}

/**
 * Compares a GPU output with its float64 reference under the tolerance model
 * above. A non-finite reference element must be matched exactly (NaN by NaN).
 */
export function compare(
  output: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  scale?: ArrayLike<number>,
): Comparison {
  const atol = tol.atol ?? 0;
  const base = { rtol: tol.rtol, atol, output };
  if (actual.length !== expected.length) {
    return { ...base, ok: false, ratio: Infinity, nan: false, index: -1, actual: NaN, expected: NaN,
      lengthMismatch: { actual: actual.length, expected: expected.length } };
  }
  let worst = -1;
  let worstRatio = 0;
  let firstNaN = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    let ratio: number;
    if (!Number.isFinite(e)) {
      ratio = Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)) ? 0 : Infinity;
    } else if (!Number.isFinite(a)) {
      ratio = Infinity;
    } else {
      const allowed = atol + tol.rtol * Math.abs(scale ? scale[i] : e);
      const err = Math.abs(a - e);
      ratio = allowed > 0 ? err / allowed : err > 0 ? Infinity : 0;
    }
    if (firstNaN < 0 && Number.isNaN(a) && !Number.isNaN(e)) firstNaN = i;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  // A NaN is the most telling failure (an element never written): name it.
  const at = firstNaN >= 0 ? firstNaN : worst;
  return {
    ...base,
    ok: worstRatio <= 1 && firstNaN < 0,
    ratio: worstRatio,
    nan: firstNaN >= 0,
    index: at,
    actual: at >= 0 ? actual[at] : NaN,
    expected: at >= 0 ? expected[at] : NaN,
  };
}

/** The comparison of several outputs of one op: the worst of them, failing if any fails. */
export function worstOf(...cs: Comparison[]): Comparison {
  if (cs.length === 0) throw new Error('worstOf: no comparisons');
  const failing = cs.filter((c) => !c.ok);
  const pool = failing.length > 0 ? failing : cs;
  // Among failures prefer a NaN (the most telling), then the largest ratio.
  return pool.reduce((w, c) => (c.nan && !w.nan) || (c.nan === w.nan && c.ratio > w.ratio) ? c : w);
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toPrecision(6) : x.toExponential(3));

/** 1e-5 rather than 0.00001; at most 3 significant digits. */
const fmtTolValue = (x: number) => (x >= 1e-3 ? String(Number(x.toPrecision(3))) : Number(x.toPrecision(3)).toExponential());

function fmtTol(c: Comparison): string {
  if (c.rtol === 0 && c.atol === 0) return 'exact';
  const rtol = `rtol ${fmtTolValue(c.rtol)}`;
  return c.atol > 0 ? `${rtol}, atol ${fmtTolValue(c.atol)}` : rtol;
}

/** A short human line: "max err 0.03x tol (rtol 1e-5)", or what went wrong and where. */
export function describeComparison(c: Comparison): string {
  if (c.lengthMismatch) return `${c.output}: ${c.lengthMismatch.actual} elements, expected ${c.lengthMismatch.expected}`;
  const where = `${c.output}[${c.index}] = ${fmt(c.actual)}, expected ${fmt(c.expected)}`;
  if (c.nan) return `${where} (NaN: an element not written, or a NaN computed)`;
  if (!c.ok) return `${where}: ${c.ratio === Infinity ? 'non-finite' : `${c.ratio.toPrecision(3)}x tol`} (${fmtTol(c)})`;
  const ratio = c.ratio === 0 ? '0' : c.ratio.toPrecision(2);
  return `max err ${ratio}x tol${c.output ? ` in ${c.output}` : ''} (${fmtTol(c)})`;
}
