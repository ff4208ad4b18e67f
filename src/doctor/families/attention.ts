// attention: the fused forward (o, lse) and the fused backward (dq, dk, dv),
// causal and bidirectional, on q [B 2, T 131, H 6, D 12] with k, v
// [B 2, T 131, Hkv 2, D 12] (grouped-query: 3 query heads per kv head) and a
// key mask [B, T]: batch 0 has scattered padded keys (and non-zero values
// other than 1), batch 1 twenty left-padding keys, so its first 20 causal
// queries see no key (o = 0, lse = LSE_EMPTY exactly, zero gradients).
// T = 131 is past one block of query rows (128 on a CPU adapter, 64 on a GPU)
// and ends in a partial block of 8 keys; D = 12 is not a power of two.
// The backward is given the reference o and lse, so it is checked on its own.
// The kernels run with the planned tiles, the ones training uses: cold on
// lavapipe their four pipelines take ~3 s to compile, warm the checks ~0.3 s.
import * as ref from '../../../reference/attention.ts';
import * as ops from '../../ops/attention.ts';
import { compare, randomData, worstOf } from '../compare.ts';
import type { KernelCheck, Scope } from '../scope.ts';

// The tests' tolerance (test/attention.test.ts): 1e-5 of the reference's
// per-element error scales (oScale, lseScale, dqScale, dkScale, dvScale: the
// sums of |terms| times the row's condition 1 + |lse| + max score magnitude).
// The worst seen over random shapes was ~1e-7 of them. Empty rows have scale 0
// and must be exact; atol only admits results below float32's normal range.
const TOL = { rtol: 1e-5, atol: 1e-37 };
const B = 2, T = 131, H = 6, Hkv = 2, D = 12;
const qShape = [B, T, H, D], kvShape = [B, T, Hkv, D];
const LEFT_PAD = 20;

/** Batch 0: every 11th key padded, valid values 1 and 7; batch 1: LEFT_PAD padding keys, then valid values 1 and -3. */
function makeMask(): Int32Array {
  const mask = new Int32Array(B * T);
  for (let t = 0; t < T; t++) {
    mask[t] = t % 11 === 5 ? 0 : t % 2 === 0 ? 1 : 7;
    mask[T + t] = t < LEFT_PAD ? 0 : t % 2 === 0 ? 1 : -3;
  }
  return mask;
}

function inputs(seed: number) {
  return {
    q: randomData(B * T * H * D, seed),
    k: randomData(B * T * Hkv * D, seed + 1),
    v: randomData(B * T * Hkv * D, seed + 2),
    dO: randomData(B * T * H * D, seed + 3),
    mask: makeMask(),
  };
}

async function forward(s: Scope, causal: boolean, seed: number) {
  const x = inputs(seed);
  const { o, lse } = ops.attention(s.gpu, s.tensor(x.q, qShape), s.tensor(x.k, kvShape), s.tensor(x.v, kvShape), {
    mask: s.tensor(x.mask, [B, T], 'i32'), causal, out: s.poisoned(qShape), lse: s.poisoned([B, H, T]),
  });
  const want = ref.attention(x.q, x.k, x.v, x.mask, { B, T, H, Hkv, D, causal });
  return worstOf(
    compare('o', await o.read(), want.o, TOL, want.oScale),
    compare('lse', await lse.read(), want.lse, TOL, want.lseScale),
  );
}

async function backward(s: Scope, causal: boolean, seed: number) {
  const x = inputs(seed);
  const shape = { B, T, H, Hkv, D, causal };
  const f = ref.attention(x.q, x.k, x.v, x.mask, shape);
  const { dq, dk, dv } = ops.attentionBackward(
    s.gpu, s.tensor(x.q, qShape), s.tensor(x.k, kvShape), s.tensor(x.v, kvShape),
    s.tensor(Float32Array.from(f.o), qShape), s.tensor(Float32Array.from(f.lse), [B, H, T]), s.tensor(x.dO, qShape),
    { mask: s.tensor(x.mask, [B, T], 'i32'), causal, dq: s.poisoned(qShape), dk: s.poisoned(kvShape), dv: s.poisoned(kvShape) },
  );
  const want = ref.attentionBackward(x.q, x.k, x.v, x.mask, x.dO, shape);
  return worstOf(
    compare('dq', await dq.read(), want.dq, TOL, want.dqScale),
    compare('dk', await dk.read(), want.dk, TOL, want.dkScale),
    compare('dv', await dv.read(), want.dv, TOL, want.dvScale),
  );
}

export const attentionChecks: KernelCheck[] = [
  { family: 'attention', op: 'forward (causal, GQA 6/2, key mask)', run: (s) => forward(s, true, 1101) },
  { family: 'attention', op: 'forward (bidirectional, GQA, key mask)', run: (s) => forward(s, false, 1111) },
  { family: 'attention', op: 'backward dq dk dv (causal)', run: (s) => backward(s, true, 1121) },
  { family: 'attention', op: 'backward dq dk dv (bidirectional)', run: (s) => backward(s, false, 1131) },
];
