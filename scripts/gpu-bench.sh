#!/usr/bin/env bash
# Runs the kernels and model benchmark suites on whatever GPU Dawn finds
# through Vulkan, from a copy of the working tree with nothing but Node and a
# Vulkan loader added, and writes the tables to bench/RESULTS-gpu.md (kept
# apart from the CPU machine's bench/RESULTS.md).
#
#   bash scripts/gpu-bench-pack.sh     here, once (the packages, linux-x64)
#   bash scripts/gpu-bench.sh [OUT [FLAGS...]]   there, with .gpu-bench carried;
#                                                FLAGS go to bench/run.ts (e.g. --quick)
#
# Without PyTorch or tfjs there, the peers columns say so; each row's "% peak"
# is against that adapter's own measured FP32 and copy peak (bench/peak.ts).
# Compare with the card's datasheet FP32 peak by hand (H100 SXM: 67 TFLOP/s).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench}"
shift || true
[ -d node_modules ] || ln -s .gpu-bench/node_modules node_modules
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" "$out"
node -e "const{create,globals}=require('./node_modules/webgpu/dist/linux-x64/dawn.node');Object.assign(globalThis,globals);create([]).requestAdapter().then(a=>{if(!a){console.error('gpu-bench: Dawn found no adapter (is a Vulkan driver installed?)');process.exit(1)}const i=a.info;console.log('adapter:',i.vendor,i.architecture,i.device,i.description,[...a.features].join(' '));process.exit(0)})"
cp bench/RESULTS-gpu.md "$out/RESULTS-gpu.md" 2>/dev/null || printf '# Benchmark results on a GPU\n\nProduced by scripts/gpu-bench.sh (npm run bench -- --suite kernels,model --results ...).\n' > "$out/RESULTS-gpu.md"
node --import tsx bench/run.ts --suite kernels,model --results "$out/RESULTS-gpu.md" "$@" 2>&1 | tee "$out/gpu-bench.log"
