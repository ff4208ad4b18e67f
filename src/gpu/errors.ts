// Errors raised by the GPU runtime. Each names what was being done (the op or
// kernel), the shapes involved and, where a limit was hit, the limit.

/** Bad input to an op: mismatched shapes, wrong dtype, a tensor too large. */
export class OpInputError extends Error {
  override name = 'OpInputError';
}

/** A WebGPU validation / out-of-memory / internal error, with the labels of the dispatches in flight. */
export class GpuError extends Error {
  override name = 'GpuError';
}

/** The device was lost (driver reset, destroy(), out of resources). Nothing more can run on it. */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}

/** "[2, 3]" for a shape. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Throws an OpInputError prefixed by the op name when `ok` is false. */
export function check(ok: boolean, op: string, message: () => string): asserts ok {
  if (!ok) throw new OpInputError(`${op}: ${message()}`);
}
