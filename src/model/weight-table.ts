// What every model here does with its table of weights (decoder.ts's
// weightSpecs, vision.ts's visionWeightSpecs): upload from a data source,
// draw fresh values, read back for saving, release. One table per model
// names every tensor, its shape and its init kind; these helpers walk it.
import type { Gpu } from '../gpu/gpu.ts';
import { fmtShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { rng } from '../doctor/compare.ts';
import type { TensorEntry, TensorToWrite } from '../io/safetensors.ts';

export interface TableSpec<W> {
  name: string;
  shape: number[];
  /** 'norm' weights start at 1, 'bias' at 0, 'matrix' (linears, embeddings, positions) random. */
  kind: 'matrix' | 'norm' | 'bias';
  get(w: W): Tensor;
  set(w: W, t: Tensor): void;
}

/**
 * Uploads every spec's data into `weights`; on any failure the tensors
 * already uploaded are released (a bad file leaves nothing on the GPU).
 */
export async function uploadTable<W, S extends TableSpec<W>>(gpu: Gpu, specs: readonly S[], weights: W, data: (spec: S) => Promise<ArrayLike<number>>): Promise<W> {
  const loaded: Tensor[] = [];
  try {
    for (const spec of specs) {
      const t = gpu.tensor(await data(spec), spec.shape, 'f32', spec.name);
      loaded.push(t);
      spec.set(weights, t);
    }
  } catch (err) {
    for (const t of loaded) t.release();
    throw err;
  }
  return weights;
}

/**
 * Fresh values as transformers initialises them: 'matrix' ~ N(0, std^2),
 * norms 1, biases 0. Seeded: the same seed gives the same values.
 */
export function freshValues(seed: number, std: number): (spec: { shape: number[]; kind: TableSpec<unknown>['kind'] }) => Promise<Float32Array> {
  const u = rng(seed);
  // Box-Muller over the seeded uniform generator
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(u(), 2 ** -32))) * Math.cos(2 * Math.PI * u());
  return async ({ shape, kind }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (kind === 'norm') return new Float32Array(n).fill(1);
    if (kind === 'bias') return new Float32Array(n);
    return Float32Array.from({ length: n }, () => normal() * std);
  };
}

/** Every weight read back, ready for writeSafetensors. */
export async function tableTensors<W>(gpu: Gpu, specs: readonly TableSpec<W>[], weights: W, dtype: 'F32' | 'BF16' | 'F16' = 'F32'): Promise<TensorToWrite[]> {
  const out: TensorToWrite[] = [];
  for (const spec of specs) out.push({ name: spec.name, shape: spec.shape, dtype, data: await gpu.read(spec.get(weights)) });
  return out;
}

export function releaseTable<W>(specs: readonly TableSpec<W>[], weights: W): void {
  for (const spec of specs) spec.get(weights).release();
}

/** The stored tensor must have the spec's shape; `where` and `from` name the file and the config. */
export function checkStoredShape(where: string, name: string, entry: TensorEntry, shape: readonly number[], from: string): void {
  if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${where}: tensor "${name}" has shape ${fmtShape(entry.shape)}, expected ${fmtShape(shape)} from ${from}`);
  }
}
