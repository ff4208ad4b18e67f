// Quantized embeddings (sentence-transformers' quantize_embeddings):
//
//   int8    per-dimension calibration over a set of embeddings: range
//           [min_d, max_d] cut into 255 steps, q = floor((x - min_d) / step_d) - 128,
//           clamped to [-128, 127]
//   binary  one bit per dimension (x > 0), packed 8 per byte, most significant
//           bit first (numpy.packbits); compared by Hamming distance
//
// Calibrate on a representative set (the corpus), then quantize queries and
// documents with the same ranges.

export interface Int8Calibration {
  min: Float32Array;
  max: Float32Array;
}

function dimOf(rows: readonly ArrayLike<number>[]): number {
  if (rows.length === 0) throw new RangeError('quantize: no embeddings to calibrate on');
  const d = rows[0].length;
  rows.forEach((r, i) => {
    if (r.length !== d) throw new RangeError(`quantize: embedding ${i} has ${r.length} dimensions, the first has ${d}`);
  });
  return d;
}

/** Per-dimension min and max over the rows. */
export function calibrateInt8(rows: readonly ArrayLike<number>[]): Int8Calibration {
  const d = dimOf(rows);
  const min = new Float32Array(d).fill(Infinity);
  const max = new Float32Array(d).fill(-Infinity);
  for (const r of rows) {
    for (let j = 0; j < d; j++) {
      if (!Number.isFinite(r[j])) throw new RangeError(`quantize: non-finite value ${r[j]} at dimension ${j}`);
      min[j] = Math.min(min[j], r[j]);
      max[j] = Math.max(max[j], r[j]);
    }
  }
  return { min, max };
}

export function quantizeInt8(x: ArrayLike<number>, c: Int8Calibration): Int8Array {
  if (x.length !== c.min.length) throw new RangeError(`quantizeInt8: ${x.length} dimensions, calibrated for ${c.min.length}`);
  const q = new Int8Array(x.length);
  for (let j = 0; j < x.length; j++) {
    const step = (c.max[j] - c.min[j]) / 255;
    const level = step > 0 ? Math.floor((x[j] - c.min[j]) / step) : 0;
    q[j] = Math.max(-128, Math.min(127, level - 128));
  }
  return q;
}

/** Sign bits, packed MSB first: ceil(d / 8) bytes. */
export function quantizeBinary(x: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(x.length / 8));
  for (let j = 0; j < x.length; j++) if (x[j] > 0) out[j >> 3] |= 0x80 >> (j & 7);
  return out;
}

/** Number of differing bits between two packed binary embeddings. */
export function hamming(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new RangeError(`hamming: ${a.length} and ${b.length} bytes`);
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    let v = a[i] ^ b[i];
    while (v) {
      v &= v - 1;
      n++;
    }
  }
  return n;
}
