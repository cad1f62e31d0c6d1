#!/bin/bash
# Packs what `run.sh` needs to time tfjs webgpu (Dawn) on a machine with an NVIDIA GPU but no Node, no
# node_modules and no Vulkan loader: docs/performance.md, "Reproducing the real-GPU figures".
#   bash scripts/gpu/pack.sh [DIR]     (default .gpu-bench; copy DIR to the GPU machine, then bash DIR/run.sh)
# Needs: this repo's node_modules (npm ci), xz, and apt-get reaching Debian's archive (for the .deb files).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$root/.gpu-bench}")
mkdir -p "$out/debs" "$out/node_modules/webgpu/dist/linux-x64"
banner="import { createRequire as __cr } from 'module'; import { fileURLToPath as __fu } from 'url'; \
import { dirname as __dn } from 'path'; const require = __cr(import.meta.url); \
const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
(cd "$root" && npx esbuild scripts/bench.ts --bundle --platform=node --format=esm --external:webgpu \
  --log-level=warning --outfile="$out/bench.mjs" --banner:js="$banner")
for script in profile-step launch-cost; do
  (cd "$root" && npx esbuild "scripts/gpu/$script.ts" --bundle --platform=node --format=esm --external:webgpu \
    --log-level=warning --outfile="$out/$script.mjs" --banner:js="$banner")
done
cp "$root"/node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$out/"
cp "$root"/node_modules/webgpu/{index.js,package.json} "$out/node_modules/webgpu/"
xz -T0 -c "$root/node_modules/webgpu/dist/linux-x64/dawn.node" > "$out/dawn.node.xz"
xz -T0 -c "$(command -v node)" > "$out/node.xz"
cp "$root/scripts/bench_torch.py" "$root/scripts/gpu/run.sh" "$root/scripts/gpu/adapter.mjs" "$out/"
# The Vulkan loader, and glvnd (NVIDIA's ICD, libGLX_nvidia.so.0, loads through it).
(cd "$out/debs" && apt-get -q download libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libgles2 libopengl0)
du -sh "$out"
