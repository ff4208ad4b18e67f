// Float64 reference for kernels/adamw.wgsl: torch.optim.AdamW (decoupled
// weight decay) and torch.nn.utils.clip_grad_norm_'s factor. Plain loops; the spec.
type Arr = ArrayLike<number>;

export interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/**
 * Step t (1-based), with g := g * scale:
 *   p -= lr wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   p -= lr mhat / (sqrt(vhat) + eps), mhat = m / (1 - b1^t), vhat = v / (1 - b2^t).
 */
export function adamwStep(p: Arr, g: Arr, m: Arr, v: Arr, h: Hyper, t: number, scale = 1): { p: Float64Array; m: Float64Array; v: Float64Array } {
  const n = p.length;
  const P = new Float64Array(n), M = new Float64Array(n), V = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const gi = g[i] * scale;
    let pi = p[i] - h.lr * h.weightDecay * p[i];
    M[i] = h.beta1 * m[i] + (1 - h.beta1) * gi;
    V[i] = h.beta2 * v[i] + (1 - h.beta2) * gi * gi;
    const mhat = M[i] / (1 - h.beta1 ** t);
    const vhat = V[i] / (1 - h.beta2 ** t);
    pi -= (h.lr * mhat) / (Math.sqrt(vhat) + h.eps);
    P[i] = pi;
  }
  return { p: P, m: M, v: V };
}

/** sqrt(sum over tensors of sum g^2). */
export function gradNorm(grads: readonly Arr[]): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

/** min(1, maxNorm / (norm + 1e-6)). */
export function clipScale(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/** torch.optim.SGD step (dampening 0): g += wd p; b = mu b + g (b starts at 0); p -= lr b. */
export function sgdStep(p: Arr, g: Arr, b: Arr, lr: number, momentum: number, weightDecay: number, scale = 1): { p: Float64Array; b: Float64Array } {
  const np = new Float64Array(p.length);
  const nb = Float64Array.from(b);
  for (let i = 0; i < p.length; i++) {
    let d = g[i] * scale + weightDecay * p[i];
    if (momentum !== 0) {
      d = momentum * b[i] + d;
      nb[i] = d;
    }
    np[i] = p[i] - lr * d;
  }
  return { p: np, b: nb };
}
