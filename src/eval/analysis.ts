// Representation analysis from LCO-Emb (arXiv 2510.11693), in float64.
//
// Anisotropy of a set x_1..x_n: the mean cosine over all pairs i < j, no centring:
//   A = (2 / (n (n - 1))) sum_{i<j} u_i . u_j,   u_i = x_i / ||x_i||
// Since |sum_i u_i|^2 = sum_i |u_i|^2 + 2 sum_{i<j} u_i . u_j = n + 2 sum_{i<j} u_i . u_j,
//   A = (|sum_i u_i|^2 - n) / (n (n - 1)),
// which is O(n D) instead of O(n^2 D). A constant set gives 1, orthonormal vectors 0.
//
// Mutual kNN alignment of two feature sets A [n, Da], B [n, Db] of the same n
// items (row i of each is item i): L2-normalise the rows of each, S = U U^T,
// S[i][i] = -1e8 (self excluded), N_A(i) = the k columns of highest S in row i
// (ties to the lower index), likewise N_B(i) from B; then
//   score = (1/n) sum_i |N_A(i) ∩ N_B(i)| / k.
// Identical sets give 1; independent random sets about k / (n - 1) (each
// N_B(i) is k of the n - 1 others at random: expected overlap k^2 / (n - 1)).
import { checkInt, checkMatrix, fail, gram, normalizedRows, type Matrix } from './matrix.ts';
import { rankTopK } from './metrics.ts';

/** The neighbour count of the paper. */
export const MUTUAL_KNN_K = 10;
/** The value the diagonal of the similarity matrix is set to, so an item is never its own neighbour. */
export const SELF_SIMILARITY = -1e8;

/** Mean pairwise cosine (i < j) of the rows of x [n, dim]; n >= 2, no zero rows. */
export function anisotropy(x: Matrix, n: number, dim: number): number {
  const where = 'anisotropy';
  checkMatrix(where, 'x', x, n, dim);
  if (n < 2) fail(where, `needs at least 2 rows to form a pair, got n = ${n}`);
  const u = normalizedRows(where, 'x', x, n, dim);
  const s = new Float64Array(dim); // sum_i u_i
  for (let i = 0; i < n; i++) for (let c = 0; c < dim; c++) s[c] += u[i * dim + c];
  let ss = 0;
  for (let c = 0; c < dim; c++) ss += s[c] * s[c];
  return (ss - n) / (n * (n - 1));
}

/**
 * The k nearest neighbours by cosine of every row of x [n, dim], self
 * excluded: [n, k] row-major, nearest first (ties to the lower index).
 */
export function cosineKnn(x: Matrix, n: number, dim: number, k: number = MUTUAL_KNN_K): Int32Array {
  const where = 'cosineKnn';
  checkMatrix(where, 'x', x, n, dim);
  checkInt(where, 'k', k);
  if (k > n - 1) fail(where, `k = ${k} neighbours needs n >= k + 1 rows (self excluded), got n = ${n}`);
  return knnOfUnitRows(normalizedRows(where, 'x', x, n, dim), n, dim, k);
}

/** kNN [n, k] of unit rows u [n, dim] by dot product, diagonal set to SELF_SIMILARITY. */
function knnOfUnitRows(u: Float64Array, n: number, dim: number, k: number): Int32Array {
  const sim = gram(u, n, u, n, dim); // [n, n]
  for (let i = 0; i < n; i++) sim[i * n + i] = SELF_SIMILARITY;
  const out = new Int32Array(n * k);
  for (let i = 0; i < n; i++) out.set(rankTopK(sim, k, i * n, n), i * k);
  return out;
}

export interface MutualKnnResult {
  /** mean_i |N_A(i) ∩ N_B(i)| / k, in [0, 1]. */
  score: number;
  /** |N_A(i) ∩ N_B(i)| / k per item [n]. */
  perItem: Float64Array;
  k: number;
}

/** Mutual kNN alignment between paired features a [n, dimA] and b [n, dimB]. */
export function mutualKnn(a: Matrix, b: Matrix, n: number, dimA: number, dimB: number, k: number = MUTUAL_KNN_K): MutualKnnResult {
  const where = 'mutualKnn';
  checkMatrix(where, 'a', a, n, dimA);
  checkMatrix(where, 'b', b, n, dimB);
  checkInt(where, 'k', k);
  if (k > n - 1) fail(where, `k = ${k} neighbours needs n >= k + 1 paired items (self excluded), got n = ${n}`);
  const na = knnOfUnitRows(normalizedRows(where, 'a', a, n, dimA), n, dimA, k);
  const nb = knnOfUnitRows(normalizedRows(where, 'b', b, n, dimB), n, dimB, k);
  const perItem = new Float64Array(n);
  const mark = new Int32Array(n).fill(-1); // mark[j] = i when j is in N_A(i)
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) mark[na[i * k + t]] = i;
    let common = 0;
    for (let t = 0; t < k; t++) if (mark[nb[i * k + t]] === i) common++;
    perItem[i] = common / k;
    total += perItem[i];
  }
  return { score: total / n, perItem, k };
}
