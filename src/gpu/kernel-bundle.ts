// The WGSL kernels as text, for builds that must not read files (a browser).
// In the source tree this is null and kernel-source.ts reads kernels/*.wgsl;
// scripts/build.ts replaces this module in dist/ with every kernel file, its
// includes already substituted.
export const BUNDLED_KERNELS: Readonly<Record<string, string>> | null = null;
