// Float64 reference for kernels/attention.wgsl: scaled dot-product attention
// with grouped-query heads, a key padding mask and an optional causal mask,
// forward and backward. Plain loops; the spec.
//
// q is [B, T, H, D], k and v are [B, T, Hkv, D] (H % Hkv == 0; query head h
// uses kv head h / (H / Hkv)), mask is [B, T] (nonzero = a valid key; null =
// every key valid). Query t may attend key s when mask[b, s] != 0 and, when
// causal, s <= t.
//
//   s_ts  = scale * q_t . k_s                (scale = 1 / sqrt(D) by default)
//   lse_t = log sum_s exp(s_ts)              over the allowed keys
//   p_ts  = exp(s_ts - lse_t),  o_t = sum_s p_ts v_s
//
// A row with no allowed key outputs o = 0 and lse = LSE_EMPTY, and its
// gradients are zero. Backward, given dO (and o, lse of the forward):
//   D_t = dO_t . o_t,  dp_ts = dO_t . v_s,  ds_ts = p_ts (dp_ts - D_t)
//   dq_t = scale sum_s ds_ts k_s,  dk_s = scale sum_t ds_ts q_t,  dv_s = sum_t p_ts dO_t
// where dk and dv of a kv head sum over the H / Hkv query heads that share it.
//
// Besides the results, each function returns per element the magnitude its
// float32 rounding error grows with (the tests' error scale, see below).
type Arr = ArrayLike<number>;

/** lse of a row with no allowed key: "log 0" as the float32 the kernel writes (-3e38 rounded); finite so no inf reaches a kernel. */
export const LSE_EMPTY = Math.fround(-3.0e38);

export interface AttentionShape {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  causal: boolean;
  /** Default 1 / sqrt(D). */
  scale?: number;
}

export function defaultScale(s: AttentionShape): number {
  return s.scale ?? 1 / Math.sqrt(s.D);
}

/** Index of x[b, t, h, d] in a [B, T, heads, D] tensor. */
function at(s: AttentionShape, heads: number, b: number, t: number, h: number): number {
  return ((b * s.T + t) * heads + h) * s.D;
}

function allowed(s: AttentionShape, mask: Arr | null, b: number, t: number, key: number): boolean {
  return (mask === null || mask[b * s.T + key] !== 0) && (!s.causal || key <= t);
}

interface Row {
  /** Allowed keys of the row. */
  keys: number[];
  /** p over those keys. */
  p: Float64Array;
  /** scale * sum_d |q_d k_d| per key (the score's rounding scale). */
  sabs: Float64Array;
  lse: number;
}

function row(q: Arr, k: Arr, mask: Arr | null, s: AttentionShape, b: number, t: number, h: number): Row {
  const { D, H, Hkv } = s;
  const scale = defaultScale(s);
  const hk = Math.floor(h / (H / Hkv));
  const keys: number[] = [];
  for (let key = 0; key < s.T; key++) if (allowed(s, mask, b, t, key)) keys.push(key);
  const sc = new Float64Array(keys.length);
  const sabs = new Float64Array(keys.length);
  const qi = at(s, H, b, t, h);
  keys.forEach((key, j) => {
    const ki = at(s, Hkv, b, key, hk);
    let acc = 0, mag = 0;
    for (let d = 0; d < D; d++) {
      acc += q[qi + d] * k[ki + d];
      mag += Math.abs(q[qi + d] * k[ki + d]);
    }
    sc[j] = scale * acc;
    sabs[j] = scale * mag;
  });
  let m = -Infinity;
  for (const x of sc) m = Math.max(m, x);
  let l = 0;
  for (const x of sc) l += Math.exp(x - m);
  const lse = keys.length === 0 ? LSE_EMPTY : m + Math.log(l);
  const p = sc.map((x) => Math.exp(x - lse));
  return { keys, p, sabs, lse };
}

/** 1 + |lse| + max score magnitude: how far rounding of the scores moves every p of the row. */
function rowCondition(r: Row): number {
  let big = 0;
  for (const x of r.sabs) big = Math.max(big, x);
  return 1 + (r.keys.length ? Math.abs(r.lse) : 0) + big;
}

export interface AttentionResult {
  o: Float64Array;
  /** [B, H, T]. */
  lse: Float64Array;
  /** Error scale of o: (sum_s p_ts |v_s,d|) * rowCondition. */
  oScale: Float64Array;
  /** Error scale of lse: rowCondition (0 for empty rows, which must be exact). */
  lseScale: Float64Array;
}

export function attention(q: Arr, k: Arr, v: Arr, mask: Arr | null, s: AttentionShape): AttentionResult {
  const { B, T, H, Hkv, D } = s;
  const o = new Float64Array(B * T * H * D);
  const oScale = new Float64Array(o.length);
  const lse = new Float64Array(B * H * T);
  const lseScale = new Float64Array(lse.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / (H / Hkv));
      for (let t = 0; t < T; t++) {
        const r = row(q, k, mask, s, b, t, h);
        const cond = rowCondition(r);
        const oi = at(s, H, b, t, h);
        r.keys.forEach((key, j) => {
          const vi = at(s, Hkv, b, key, hk);
          for (let d = 0; d < D; d++) {
            o[oi + d] += r.p[j] * v[vi + d];
            oScale[oi + d] += r.p[j] * Math.abs(v[vi + d]) * cond;
          }
        });
        lse[(b * H + h) * T + t] = r.lse;
        lseScale[(b * H + h) * T + t] = r.keys.length ? cond : 0;
      }
    }
  }
  return { o, lse, oScale, lseScale };
}

export interface AttentionGrads {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  dqScale: Float64Array;
  dkScale: Float64Array;
  dvScale: Float64Array;
}

/**
 * Gradients for the loss L with dL/do = dO. p is recomputed from q, k (the
 * kernels recompute it from the saved lse; the result is the same).
 * Error scales: with c = rowCondition and a_ts = p_ts (sum_d |dO_t,d v_s,d| + sum_d |dO_t,d o_t,d|) c,
 *   dq: scale sum_s a_ts |k_s,d|,  dk: scale sum_t a_ts |q_t,d|,  dv: sum_t p_ts |dO_t,d| c.
 */
export function attentionBackward(q: Arr, k: Arr, v: Arr, mask: Arr | null, dO: Arr, s: AttentionShape): AttentionGrads {
  const { B, T, H, Hkv, D } = s;
  const scale = defaultScale(s);
  const { o } = attention(q, k, v, mask, s);
  const dq = new Float64Array(B * T * H * D);
  const dqScale = new Float64Array(dq.length);
  const dk = new Float64Array(B * T * Hkv * D);
  const dkScale = new Float64Array(dk.length);
  const dv = new Float64Array(dk.length);
  const dvScale = new Float64Array(dk.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / (H / Hkv));
      for (let t = 0; t < T; t++) {
        const r = row(q, k, mask, s, b, t, h);
        const cond = rowCondition(r);
        const qi = at(s, H, b, t, h);
        let Dt = 0, Dabs = 0;
        for (let d = 0; d < D; d++) {
          Dt += dO[qi + d] * o[qi + d];
          Dabs += Math.abs(dO[qi + d] * o[qi + d]);
        }
        r.keys.forEach((key, j) => {
          const ki = at(s, Hkv, b, key, hk);
          let dp = 0, dpAbs = 0;
          for (let d = 0; d < D; d++) {
            dp += dO[qi + d] * v[ki + d];
            dpAbs += Math.abs(dO[qi + d] * v[ki + d]);
          }
          const p = r.p[j];
          const ds = p * (dp - Dt);
          const a = p * (dpAbs + Dabs) * cond;
          for (let d = 0; d < D; d++) {
            dq[qi + d] += scale * ds * k[ki + d];
            dqScale[qi + d] += scale * a * Math.abs(k[ki + d]);
            dk[ki + d] += scale * ds * q[qi + d];
            dkScale[ki + d] += scale * a * Math.abs(q[qi + d]);
            dv[ki + d] += p * dO[qi + d];
            dvScale[ki + d] += p * Math.abs(dO[qi + d]) * cond;
          }
        });
      }
    }
  }
  return { dq, dk, dv, dqScale, dkScale, dvScale };
}
