// Float64 reference for kernels/cross_entropy.wgsl. Plain loops; the spec.
//
// logits [rows, vocab], targets [rows]. Rows whose target is ignoreIndex have
// loss 0, no part in the reduction and zero gradient; any other target outside
// [0, vocab) gives a NaN loss and gradient for its row.
type Arr = ArrayLike<number>;

export type Reduction = 'mean' | 'sum';

export interface CrossEntropyRef {
  losses: Float64Array;
  lse: Float64Array;
  count: number;
  /** Mean over the rows not ignored (0 when none), or their sum. */
  loss: number;
}

function valid(t: number, vocab: number): boolean {
  return Number.isInteger(t) && t >= 0 && t < vocab;
}

export function crossEntropy(logits: Arr, targets: Arr, rows: number, vocab: number, ignoreIndex = -100,
  reduction: Reduction = 'mean'): CrossEntropyRef {
  const losses = new Float64Array(rows);
  const lse = new Float64Array(rows);
  let count = 0;
  let sum = 0;
  for (let i = 0; i < rows; i++) {
    let m = -Infinity;
    for (let j = 0; j < vocab; j++) m = Math.max(m, logits[i * vocab + j]);
    let s = 0;
    for (let j = 0; j < vocab; j++) s += Math.exp(logits[i * vocab + j] - m);
    lse[i] = m + Math.log(s);
    const t = targets[i];
    if (t === ignoreIndex) continue;
    losses[i] = valid(t, vocab) ? m - logits[i * vocab + t] + Math.log(s) : NaN;
    sum += losses[i];
    count++;
  }
  return { losses, lse, count, loss: reduction === 'sum' ? sum : count > 0 ? sum / count : 0 };
}

/** dlogits = (softmax(logits) - onehot(t)) * g, g = gradScale / count ('mean') or gradScale ('sum'). */
export function crossEntropyBackward(logits: Arr, targets: Arr, rows: number, vocab: number, ignoreIndex = -100,
  reduction: Reduction = 'mean', gradScale = 1): Float64Array {
  const { lse, count } = crossEntropy(logits, targets, rows, vocab, ignoreIndex, reduction);
  const g = reduction === 'sum' ? gradScale : gradScale / Math.max(count, 1);
  const dx = new Float64Array(rows * vocab);
  for (let i = 0; i < rows; i++) {
    const t = targets[i];
    if (t === ignoreIndex) continue;
    for (let j = 0; j < vocab; j++) {
      dx[i * vocab + j] = valid(t, vocab) ? (Math.exp(logits[i * vocab + j] - lse[i]) - (j === t ? 1 : 0)) * g : NaN;
    }
  }
  return dx;
}
