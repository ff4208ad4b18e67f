export { Gpu, grid1d, type Dispatch } from './gpu.ts';
export { Tensor, numel, type DType, type TypedArrayOf } from './tensor.ts';
export { params, Params } from './params.ts';
export { OpInputError, GpuError, DeviceLostError, fmtShape, check } from './errors.ts';
export { WANTED_FEATURES, limitNames, describeAdapter, type AcquireOptions } from './device.ts';
export type { PoolStats } from './pool.ts';
