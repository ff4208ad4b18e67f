// Clustering evaluation: k-means, then V-measure and NMI of the clusters
// against gold labels (MTEB clustering: k = number of gold labels).
//
// k-means on X [n, D] with k clusters (float64):
//   init (greedy k-means++, as scikit-learn's kmeans_plusplus): c_0 = a
//     uniformly drawn point; for each next centre, L candidates are drawn,
//     point i with probability D(i)^2 / sum_j D(j)^2 (D(i) = distance to the
//     nearest centre so far), and the candidate that leaves the lowest
//     potential sum_i min(D(i), |x_i - cand|)^2 is kept (ties: the first
//     drawn). L = 2 + floor(ln k) by default (sklearn's n_local_trials);
//     L = 1 is plain k-means++ (Arthur & Vassilvitskii). On 20 blobs in 8-D
//     (test/eval-cluster.test.ts) single restarts end at a median 1.10x the
//     blobs' objective with L = 4, 1.62x with L = 1.
//   Lloyd: assign each point to its nearest centre (ties to the lower centre
//     index), move each centre to the mean of its points; repeat until no
//     assignment changes (a fixed point) or maxIters updates.
//   An empty cluster takes the point farthest from its own centre.
//   restarts: several inits from one seeded stream (mulberry32); the run with
//     the lowest inertia is kept (ties: the earlier run). Same seed, same result.
//   metric 'euclidean': inertia = sum_i ||x_i - c(i)||^2.
//   metric 'cosine' (spherical k-means): rows are L2-normalised, centres are
//     re-normalised after each mean, points go to the centre of highest cosine
//     (= lowest ||x - c||^2 = 2 - 2 cos on the unit sphere);
//     inertia = sum_i (1 - cos(x_i, c(i))).
//
// Scores (sklearn.metrics, natural-log entropies). C = gold classes, K = clusters,
// n_ck = items of class c in cluster k, N items, a_c, b_k the marginals:
//   H(C) = -sum_c (a_c / N) ln(a_c / N),   H(K) likewise with b_k
//   I(C; K) = sum_{n_ck > 0} (n_ck / N) ln(N n_ck / (a_c b_k)), clipped at >= 0
//   homogeneity h = I / H(C) (1 when H(C) = 0: one class),
//   completeness c = I / H(K) (1 when H(K) = 0: one cluster),
//   V = (1 + beta) h c / (beta h + c), 0 when h + c = 0 (beta = 1: harmonic mean)
//   NMI = I / ((H(C) + H(K)) / 2) (average_method 'arithmetic'); 1 when both
//   sides are a single label, else 0 when I = 0.
//   No items at all: every score is 1.0, as sklearn returns.
import { Rng } from '../model/sample.ts';
import {
  checkInt, checkMatrix, encodeLabels, fail, normalizedRows, toFloat64, type Labels, type Matrix,
} from './matrix.ts';

export type KMeansMetric = 'euclidean' | 'cosine';

export interface KMeansOptions {
  /** Seed of the mulberry32 stream, an integer in [0, 2^32). Default 0. */
  seed?: number;
  /** Independent k-means++ inits; the lowest inertia wins. Default 10 (sklearn's long-standing n_init). */
  restarts?: number;
  /** Candidates drawn per centre by the greedy seeding. Default 2 + floor(ln k); 1 is plain k-means++. */
  seedingTrials?: number;
  /** Most centre updates per run. Default 300 (sklearn's max_iter). */
  maxIters?: number;
  /** Default 'euclidean'. */
  metric?: KMeansMetric;
}

export interface KMeansResult {
  /** Cluster of each point, in [0, k): [n]. */
  labels: Int32Array;
  /** Centres [k, dim], float64 (unit rows for 'cosine'). */
  centroids: Float64Array;
  /** Of the kept run: sum of squared distances ('euclidean') or of 1 - cos ('cosine'). */
  inertia: number;
  /** Centre updates the kept run made. */
  iterations: number;
  /** Whether the kept run reached a fixed point before maxIters. */
  converged: boolean;
  /** Index of the kept run. */
  restart: number;
  /** Final inertia of every run, in run order. */
  inertias: number[];
}

/** ||x_i - c_j||^2 with x [., dim] and c [., dim]. */
function sqDist(x: Float64Array, i: number, c: Float64Array, j: number, dim: number): number {
  const xo = i * dim, co = j * dim;
  let s = 0;
  for (let t = 0; t < dim; t++) {
    const d = x[xo + t] - c[co + t];
    s += d * d;
  }
  return s;
}

/** Greedy k-means++ seeds drawn from the points, `trials` candidates per centre: centres [k, dim] and their point indices [k]. */
function initPlusPlus(x: Float64Array, n: number, dim: number, k: number, trials: number, rng: Rng): { centres: Float64Array; indices: Int32Array } {
  const centres = new Float64Array(k * dim);
  const indices = new Int32Array(k);
  const pick = (j: number, i: number) => {
    centres.set(x.subarray(i * dim, (i + 1) * dim), j * dim);
    indices[j] = i;
  };
  pick(0, Math.min(n - 1, Math.floor(rng.next() * n)));
  let d2 = new Float64Array(n); // squared distance to the nearest centre so far
  for (let i = 0; i < n; i++) d2[i] = sqDist(x, i, centres, 0, dim);
  const cum = new Float64Array(n);
  const tried = Array.from({ length: trials }, () => new Float64Array(n)); // d2 with each candidate added
  for (let j = 1; j < k; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) cum[i] = total += d2[i];
    let best = -1, bestPotential = Infinity, bestPoint = 0;
    for (let t = 0; t < trials; t++) {
      let cand: number;
      if (total > 0) {
        // The first point whose cumulative weight passes the draw: never a
        // point of weight 0. Rounding can put the draw at the very end: then
        // the last point of positive weight.
        const r = rng.next() * total;
        let lo = 0, hi = n - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cum[mid] > r) hi = mid; else lo = mid + 1;
        }
        cand = lo;
        while (d2[cand] === 0 && cand > 0) cand--;
      } else {
        // Every point sits on a centre (fewer distinct points than k): any point
        // will do; the duplicate centre's cluster is emptied and refilled later.
        cand = Math.min(n - 1, Math.floor(rng.next() * n));
      }
      const d = tried[t];
      let potential = 0;
      for (let i = 0; i < n; i++) potential += d[i] = Math.min(d2[i], sqDist(x, i, x, cand, dim));
      if (potential < bestPotential) { bestPotential = potential; best = t; bestPoint = cand; }
    }
    pick(j, bestPoint);
    [d2, tried[best]] = [tried[best], d2];
  }
  return { centres, indices };
}

/** The data, k, seed and candidates-per-centre checks kmeans and kmeansPlusPlus share; the defaults filled in. */
function checkSeeding(where: string, trialsName: string, data: Matrix, n: number, dim: number, k: number, seed = 0, trials = 2 + Math.floor(Math.log(k))) {
  checkMatrix(where, 'data', data, n, dim);
  checkInt(where, 'k', k);
  if (k > n) fail(where, `k = ${k} clusters needs at least k points, got n = ${n}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) fail(where, `seed ${seed} must be an integer in [0, 2^32)`);
  checkInt(where, trialsName, trials);
  return { seed, trials };
}

export interface SeedingOptions {
  /** Seed of the mulberry32 stream. Default 0. */
  seed?: number;
  /** Candidates per centre. Default 2 + floor(ln k); 1 is plain k-means++. */
  trials?: number;
}

/**
 * The greedy k-means++ seeds of data [n, dim] (scikit-learn's
 * kmeans_plusplus): the centres [k, dim] and the indices of the points they
 * are. The first of kmeans()'s restarts with the same seed starts from these
 * (euclidean metric).
 */
export function kmeansPlusPlus(data: Matrix, n: number, dim: number, k: number, options: SeedingOptions = {}): { centres: Float64Array; indices: Int32Array } {
  const { seed, trials } = checkSeeding('kmeansPlusPlus', 'trials', data, n, dim, k, options.seed, options.trials);
  return initPlusPlus(toFloat64(data), n, dim, k, trials, new Rng(seed));
}

/** Nearest centre of every point (ties: lower index); returns whether any label changed. */
function assign(x: Float64Array, n: number, dim: number, centres: Float64Array, k: number, labels: Int32Array, dist: Float64Array): boolean {
  let changed = false;
  for (let i = 0; i < n; i++) {
    let best = 0, bestD = sqDist(x, i, centres, 0, dim);
    for (let j = 1; j < k; j++) {
      const d = sqDist(x, i, centres, j, dim);
      if (d < bestD) { bestD = d; best = j; }
    }
    if (labels[i] !== best) { labels[i] = best; changed = true; }
    dist[i] = bestD;
  }
  return changed;
}

/** Centres = means of their points (re-normalised for cosine); an empty cluster takes the farthest point. */
function update(x: Float64Array, n: number, dim: number, centres: Float64Array, k: number, labels: Int32Array, dist: Float64Array, cosine: boolean): void {
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const j = labels[i];
    counts[j]++;
    for (let t = 0; t < dim; t++) sums[j * dim + t] += x[i * dim + t];
  }
  const far = dist.slice(); // distance of each point to its centre; zeroed once a point is taken
  for (let j = 0; j < k; j++) {
    const o = j * dim;
    if (counts[j] === 0) {
      let best = 0;
      for (let i = 1; i < n; i++) if (far[i] > far[best]) best = i;
      far[best] = 0;
      centres.set(x.subarray(best * dim, (best + 1) * dim), o);
      continue;
    }
    let ss = 0;
    for (let t = 0; t < dim; t++) {
      const m = sums[o + t] / counts[j];
      sums[o + t] = m;
      ss += m * m;
    }
    if (cosine) {
      // Points that cancel (mean 0) give no direction: keep the previous centre.
      if (ss === 0) continue;
      const inv = 1 / Math.sqrt(ss);
      for (let t = 0; t < dim; t++) centres[o + t] = sums[o + t] * inv;
    } else {
      centres.set(sums.subarray(o, o + dim), o);
    }
  }
}

/** k-means (k-means++ init, Lloyd iterations, restarts) on data [n, dim]. */
export function kmeans(data: Matrix, n: number, dim: number, k: number, options: KMeansOptions = {}): KMeansResult {
  const where = 'kmeans';
  const { seed, trials } = checkSeeding(where, 'seedingTrials', data, n, dim, k, options.seed, options.seedingTrials);
  const restarts = options.restarts ?? 10;
  checkInt(where, 'restarts', restarts);
  const maxIters = options.maxIters ?? 300;
  checkInt(where, 'maxIters', maxIters);
  const metric = options.metric ?? 'euclidean';
  if (metric !== 'euclidean' && metric !== 'cosine') fail(where, `metric "${String(metric)}" must be 'euclidean' or 'cosine'`);
  const cosine = metric === 'cosine';
  const x = cosine ? normalizedRows(where, 'data', data, n, dim) : toFloat64(data);

  const rng = new Rng(seed);
  let best: KMeansResult | null = null;
  const inertias: number[] = [];
  for (let run = 0; run < restarts; run++) {
    const { centres } = initPlusPlus(x, n, dim, k, trials, rng);
    const labels = new Int32Array(n).fill(-1);
    const dist = new Float64Array(n);
    assign(x, n, dim, centres, k, labels, dist);
    let iterations = 0, converged = false;
    while (iterations < maxIters) {
      update(x, n, dim, centres, k, labels, dist, cosine);
      iterations++;
      if (!assign(x, n, dim, centres, k, labels, dist)) { converged = true; break; }
    }
    let inertia = 0;
    for (let i = 0; i < n; i++) inertia += dist[i];
    if (cosine) inertia /= 2; // ||x - c||^2 = 2 (1 - cos) for unit x, c
    inertias.push(inertia);
    if (best === null || inertia < best.inertia) {
      best = { labels, centroids: centres, inertia, iterations, converged, restart: run, inertias };
    }
  }
  return best!;
}

// ---------------------------------------------------------------------------
// Scores against gold labels.

/** Entropy (natural log) of a labelling; 1.0 for no labels, as sklearn. */
export function entropy(labels: Labels): number {
  const { codes, classes } = encodeLabels('entropy', 'labels', labels, labels?.length);
  return entropyOfCodes(codes, classes.length);
}

function entropyOfCodes(codes: Int32Array, m: number): number {
  const n = codes.length;
  if (n === 0) return 1.0;
  const counts = new Float64Array(m);
  for (let i = 0; i < n; i++) counts[codes[i]]++;
  let h = 0;
  for (let j = 0; j < m; j++) if (counts[j] > 0) h -= (counts[j] / n) * (Math.log(counts[j]) - Math.log(n));
  return h;
}

interface Pair {
  t: Int32Array; nt: number;
  p: Int32Array; np: number;
}

function encodePair(where: string, labelsTrue: Labels, labelsPred: Labels): Pair {
  const n = labelsTrue?.length;
  const a = encodeLabels(where, 'labelsTrue', labelsTrue, n);
  const b = encodeLabels(where, 'labelsPred', labelsPred, n);
  return { t: a.codes, nt: a.classes.length, p: b.codes, np: b.classes.length };
}

/** I(C; K) in nats from encoded labels; 0 when a side has one label. */
function mutualInfoOfCodes({ t, nt, p, np }: Pair): number {
  const n = t.length;
  if (nt <= 1 || np <= 1) return 0;
  const table = new Float64Array(nt * np); // contingency n_ck [classes, clusters]
  const a = new Float64Array(nt), b = new Float64Array(np);
  for (let i = 0; i < n; i++) { table[t[i] * np + p[i]]++; a[t[i]]++; b[p[i]]++; }
  let mi = 0;
  for (let c = 0; c < nt; c++) {
    for (let k = 0; k < np; k++) {
      const v = table[c * np + k];
      if (v > 0) mi += (v / n) * (Math.log(v) + Math.log(n) - Math.log(a[c]) - Math.log(b[k]));
    }
  }
  return Math.max(0, mi);
}

/** Mutual information (nats) between two labellings of the same items. */
export function mutualInfo(labelsTrue: Labels, labelsPred: Labels): number {
  return mutualInfoOfCodes(encodePair('mutualInfo', labelsTrue, labelsPred));
}

export interface VMeasure {
  homogeneity: number;
  completeness: number;
  vMeasure: number;
}

/** Homogeneity, completeness and V-measure (sklearn.metrics.homogeneity_completeness_v_measure). */
export function homogeneityCompletenessVMeasure(labelsTrue: Labels, labelsPred: Labels, beta = 1): VMeasure {
  const where = 'homogeneityCompletenessVMeasure';
  if (!Number.isFinite(beta) || beta < 0) fail(where, `beta ${beta} must be finite and >= 0`);
  const pair = encodePair(where, labelsTrue, labelsPred);
  if (pair.t.length === 0) return { homogeneity: 1, completeness: 1, vMeasure: 1 };
  const hC = entropyOfCodes(pair.t, pair.nt);
  const hK = entropyOfCodes(pair.p, pair.np);
  const mi = mutualInfoOfCodes(pair);
  const homogeneity = hC > 0 ? mi / hC : 1;
  const completeness = hK > 0 ? mi / hK : 1;
  const vMeasure = homogeneity + completeness === 0 ? 0 : ((1 + beta) * homogeneity * completeness) / (beta * homogeneity + completeness);
  return { homogeneity, completeness, vMeasure };
}

/** V-measure (beta = 1 by default). */
export function vMeasure(labelsTrue: Labels, labelsPred: Labels, beta = 1): number {
  return homogeneityCompletenessVMeasure(labelsTrue, labelsPred, beta).vMeasure;
}

/** NMI with arithmetic-mean normalisation (sklearn's default average_method). */
export function normalizedMutualInfo(labelsTrue: Labels, labelsPred: Labels): number {
  const pair = encodePair('normalizedMutualInfo', labelsTrue, labelsPred);
  // Neither side split (or nothing at all): a perfect match by convention.
  if ((pair.nt === 1 && pair.np === 1) || (pair.nt === 0 && pair.np === 0)) return 1;
  const mi = mutualInfoOfCodes(pair);
  if (mi === 0) return 0;
  const norm = (entropyOfCodes(pair.t, pair.nt) + entropyOfCodes(pair.p, pair.np)) / 2;
  return mi / norm;
}

export interface ClusteringResult extends VMeasure {
  nmi: number;
  /** Number of clusters asked for: the number of distinct gold labels. */
  k: number;
  kmeans: KMeansResult;
}

/** MTEB-style clustering: k-means with k = number of gold labels, scored against them. */
export function clusteringFromEmbeddings(data: Matrix, n: number, dim: number, gold: Labels, options: KMeansOptions = {}): ClusteringResult {
  const where = 'clusteringFromEmbeddings';
  const { classes } = encodeLabels(where, 'gold', gold, n);
  const k = classes.length;
  if (k < 1) fail(where, 'no items to cluster');
  const km = kmeans(data, n, dim, k, options);
  const scores = homogeneityCompletenessVMeasure(gold, km.labels);
  return { ...scores, nmi: normalizedMutualInfo(gold, km.labels), k, kmeans: km };
}
