#!/bin/bash
# Times tfjs webgpu (Dawn on the NVIDIA Vulkan driver), tfjs wasm and PyTorch eager (CUDA) on one machine.
# Run as root from the folder `pack.sh` wrote: [MODELS=a,b] [STEPS=n] bash run.sh [OUTDIR]. Writes machine.txt and
# one JSON per part. PROFILE=1: GPU ms by kernel instead (profile-step.ts), to profile.jsonl;
# CPUPROF=1: a V8 CPU profile of the webgpu bench, per method, to cpuprof-*/; LAUNCH=1: what a split, a concat and
# an AdamW update of 73 small tensors cost per call (launch-cost.ts), to launch.jsonl.
cd "$(dirname "$0")"
out=$(realpath -m "${1:-results}"); mkdir -p "$out"
for f in debs/*.deb; do dpkg -x "$f" /; done; ldconfig
xz -dc node.xz > /tmp/node && chmod +x /tmp/node
xz -dc dawn.node.xz > node_modules/webgpu/dist/linux-x64/dawn.node
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json # where the NVIDIA container runtime puts it
export VK_ICD_FILENAMES=$icd VK_DRIVER_FILES=$icd
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nproc; date -u; } > "$out/machine.txt"
timeout 30 /tmp/node adapter.mjs >> "$out/machine.txt" 2>&1
grep -q '"vendor"' "$out/machine.txt" || { cat "$out/machine.txt"; echo "Dawn found no GPU adapter"; exit 3; }
models=${MODELS:-nano,tiny,mini,small}
if [ -n "${PROFILE:-}" ]; then # GPU ms by kernel (profile-step.ts) instead of the timings
  timeout 400 /tmp/node profile-step.mjs --models "$models" | tee "$out/profile.jsonl"; exit
fi
if [ -n "${LAUNCH:-}" ]; then # launch costs: tfjs's kernels against this repo's copies and AdamW programs
  timeout 120 /tmp/node launch-cost.mjs --calls 500 | tee "$out/launch.jsonl"; exit
fi
if [ -n "${CPUPROF:-}" ]; then # where the CPU's time goes in webgpu steps: one V8 profile per method
  for m in standard alum1; do
    timeout 200 /tmp/node --cpu-prof --cpu-prof-dir="$out/cpuprof-$m" bench.mjs --backends webgpu --models "$models" \
      --methods $m --steps "${STEPS:-5}" --json "$out/webgpu-$m.json" | tail -3
  done; exit
fi
timeout 120 python3 bench_torch.py --models "$models" --json "$out/torch-cuda.json"
timeout 300 /tmp/node bench.mjs --backends webgpu --models "$models" --methods standard,alum1 --steps "${STEPS:-5}" \
  --json "$out/webgpu.json"
timeout 120 /tmp/node bench.mjs --backends wasm --models tiny --methods standard,alum1 --steps 2 \
  --json "$out/wasm.json"
cat "$out/machine.txt"
