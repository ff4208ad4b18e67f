// rope forward and backward on x [B 3, T 37, H 3, D 18] with partial rotary
// (12 of 18 channels; the tail passes through) and positions like a
// left-padded batch: row 0 counts from 0, row 1 from 1000, row 2 from -5.
import * as ref from '../../../reference/rope.ts';
import * as ops from '../../ops/rope.ts';
import { compare, randomData } from '../compare.ts';
import { ROWS, type KernelCheck, type Scope } from '../scope.ts';

// cos/sin come from the float64 digit table composed in float32 (~3e-7
// absolute), then two roundings: the error is relative to |a| + |b| of the
// rotated pair, independent of the position. The tests allow 1e-6.
const TOL = { rtol: 1e-6 };
const B = 3, T = ROWS, H = 3, D = 18, R = 12, theta = 1e4;
const shape = [B, T, H, D];

const positions = Int32Array.from({ length: B * T }, (_, i) => [0, 1000, -5][Math.floor(i / T)] + (i % T));

/** |x_j| + |x_{j+R/2}| for rotated channels, |x| for pass-through ones. */
function pairScale(x: Float32Array): Float64Array {
  const half = R / 2;
  return Float64Array.from(x, (v, i) => {
    const c = i % D;
    if (c >= R) return Math.abs(v);
    return Math.abs(v) + Math.abs(x[c < half ? i + half : i - half]);
  });
}

async function check(s: Scope, backward: boolean, seed: number) {
  const x = randomData(B * T * H * D, seed);
  const opts = { theta, rotaryDim: R, out: s.poisoned(shape) };
  const tx = s.tensor(x, shape), tpos = s.tensor(positions, [B, T], 'i32');
  const y = backward ? ops.ropeBackward(s.gpu, tx, tpos, opts) : ops.rope(s.gpu, tx, tpos, opts);
  const spec = { B, T, H, D, theta, rotaryDim: R };
  const want = backward ? ref.ropeBackward(x, positions, spec) : ref.rope(x, positions, spec);
  return compare(backward ? 'dx' : 'y', await y.read(), want, TOL, pairScale(x));
}

export const ropeChecks: KernelCheck[] = [
  { family: 'rope', op: 'forward', run: (s) => check(s, false, 701) },
  { family: 'rope', op: 'backward', run: (s) => check(s, true, 711) },
];
