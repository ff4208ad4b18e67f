// A batch of token sequences, left-padded to the longest: ids, mask and
// rotary positions [B, T] (positions count real tokens from 0, so a row's
// embedding does not depend on how much padding its batch needs).
import type { Gpu } from '../gpu/gpu.ts';
import type { TrainInput } from '../model/forward.ts';

export interface PaddedRows {
  B: number;
  T: number;
  ids: Int32Array;
  mask: Int32Array;
  pos: Int32Array;
}

export function padLeft(rows: readonly ArrayLike<number>[]): PaddedRows {
  const B = rows.length;
  const T = rows.reduce((m, r) => Math.max(m, r.length), 0);
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const pos = new Int32Array(B * T);
  rows.forEach((r, b) => {
    const start = b * T + T - r.length;
    for (let t = 0; t < r.length; t++) {
      ids[start + t] = r[t];
      mask[start + t] = 1;
      pos[start + t] = t;
    }
  });
  return { B, T, ids, mask, pos };
}

/** Uploads a padded batch as the decoder's input (release ids, mask, pos after use). */
export function uploadRows(gpu: Gpu, p: PaddedRows): TrainInput {
  const { B, T } = p;
  return {
    B, T, idsData: p.ids,
    ids: gpu.tensor(p.ids, [B, T], 'i32', 'batch.ids'),
    mask: gpu.tensor(p.mask, [B, T], 'i32', 'batch.mask'),
    pos: gpu.tensor(p.pos, [B, T], 'i32', 'batch.pos'),
  };
}
