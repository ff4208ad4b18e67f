// Input checks and row helpers shared by the CPU evaluation code (src/eval).
//
// A matrix is a row-major Float32Array or Float64Array with explicit
// [rows, cols]; element (r, c) is data[r * cols + c]. Every computation in
// src/eval reads the values as float64 and works in float64.
//
// Labels (classes, clusters) are numbers or strings; they are encoded as
// 0-based codes over the sorted distinct values (numbers ascending before
// strings in code-unit order), so results never depend on first-appearance order.

/** Bad input to an evaluation function: shapes, lengths, non-finite values, options. */
export class EvalInputError extends Error {
  override name = 'EvalInputError';
}

/** A row-major matrix of float32 or float64 values. */
export type Matrix = Float32Array | Float64Array;

/** Class or cluster labels, one per item. */
export type Labels = ArrayLike<number | string>;

/** Throws an EvalInputError prefixed by the function name. */
export function fail(where: string, message: string): never {
  throw new EvalInputError(`${where}: ${message}`);
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return (v as object).constructor?.name ?? 'object';
}

/** `v` must be an integer >= min (a count, a dimension, k). */
export function checkInt(where: string, what: string, v: number, min = 1): void {
  if (!Number.isInteger(v) || v < min) fail(where, `${what} = ${v} must be an integer >= ${min}`);
}

/**
 * `data` must be a Float32Array / Float64Array of rows * cols finite values.
 * The first non-finite element is named by row and column.
 */
export function checkMatrix(where: string, what: string, data: unknown, rows: number, cols: number): asserts data is Matrix {
  if (!(data instanceof Float32Array || data instanceof Float64Array)) {
    fail(where, `${what} must be a Float32Array or Float64Array (row-major [rows, cols]), got ${describeValue(data)}`);
  }
  checkInt(where, `${what} rows`, rows);
  checkInt(where, `${what} cols`, cols);
  if (data.length !== rows * cols) {
    fail(where, `${what} has ${data.length} elements; [${rows}, ${cols}] needs ${rows * cols}`);
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      fail(where, `${what}[${Math.floor(i / cols)}, ${i % cols}] = ${data[i]}; values must be finite`);
    }
  }
}

/** `data` must hold exactly n finite numbers (a typed array or a plain array). */
export function checkVector(where: string, what: string, data: ArrayLike<number>, n: number): void {
  if (data === null || typeof data !== 'object' || typeof data.length !== 'number') {
    fail(where, `${what} must be an array of numbers, got ${describeValue(data)}`);
  }
  if (data.length !== n) fail(where, `${what} has ${data.length} values, expected ${n}`);
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, `${what}[${i}] = ${String(v)}; values must be finite numbers`);
  }
}

/**
 * Rows scaled to unit L2 norm, as float64 [rows, cols]. A zero row has no
 * direction (its cosine with anything is undefined), so it is an error.
 */
export function normalizedRows(where: string, what: string, data: Matrix, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += data[o + c] * data[o + c];
    if (!(ss > 0)) fail(where, `${what} row ${r} has norm 0; cosine similarity needs non-zero rows`);
    const inv = 1 / Math.sqrt(ss);
    for (let c = 0; c < cols; c++) out[o + c] = data[o + c] * inv;
  }
  return out;
}

/** Float64 copy of a matrix (so the hot loops read one array type). */
export function toFloat64(data: Matrix): Float64Array {
  return data instanceof Float64Array ? data : Float64Array.from(data);
}

/** s = a b^T: a [na, d], b [nb, d] -> s [na, nb], float64. */
export function gram(a: Float64Array, na: number, b: Float64Array, nb: number, d: number): Float64Array {
  const s = new Float64Array(na * nb);
  for (let i = 0; i < na; i++) {
    const ai = i * d;
    for (let j = 0; j < nb; j++) {
      const bj = j * d;
      let dot = 0;
      for (let c = 0; c < d; c++) dot += a[ai + c] * b[bj + c];
      s[i * nb + j] = dot;
    }
  }
  return s;
}

/** Sort order of label values: numbers ascending, then strings by code units. */
function compareLabel(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface EncodedLabels {
  /** codes[i] in [0, classes.length): the index of labels[i] in `classes`. */
  codes: Int32Array;
  /** The distinct label values, sorted. */
  classes: (number | string)[];
}

/** Labels as 0-based codes over their sorted distinct values; numbers must be finite, n must match. */
export function encodeLabels(where: string, what: string, labels: Labels, n: number): EncodedLabels {
  if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number') {
    fail(where, `${what} must be an array of numbers or strings, got ${describeValue(labels)}`);
  }
  if (labels.length !== n) fail(where, `${what} has ${labels.length} labels, expected ${n}`);
  const distinct = new Set<number | string>();
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    if (!((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'string')) {
      fail(where, `${what}[${i}] = ${String(v)}; a label must be a finite number or a string`);
    }
    distinct.add(v);
  }
  const classes = [...distinct].sort(compareLabel);
  const index = new Map<number | string, number>();
  classes.forEach((c, i) => index.set(c, i));
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) codes[i] = index.get(labels[i])!;
  return { codes, classes };
}
