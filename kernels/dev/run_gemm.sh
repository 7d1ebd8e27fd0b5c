#!/usr/bin/env bash
# run_gemm.sh: the GEMM playground on a GPU machine, in one go (one device call):
#   1. the binary: target/dev/gemm when its stamp matches the sources (built here beforehand with
#      `kernels/dev/run_gemm.sh --build-only` and carried), else built now with nvcc for sm_90a (~1 min);
#   2. validate every version (CPU reference), then time them at the bench shapes (each spot-checked);
#   3. time torch.matmul (cuBLAS) at the same shapes in the same run and print the joined table last.
# scripts/gpu-stages/gemm.sh is the short form the GPU session runs (check 2-3, bench 3, torch).
# Results under $OUT (default out/gemm): gemm.log, gemm-anvil.csv, gemm-torch.csv.
#
#   kernels/dev/run_gemm.sh [--build-only] [playground flags: --quick --check --bench]
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
OUT="${OUT:-$root/out/gemm}"
mkdir -p "$OUT" target/dev
bin=target/dev/gemm
sources=(kernels/dev/gemm/gemm.cu kernels/dev/gemm/*.cuh kernels/matmul/*.cuh
         kernels/tensor_core.cuh kernels/hopper.cuh
         kernels/common.cuh native/include/anvil/anvil.h)
stamp="$(cat "${sources[@]}" | sha256sum | cut -c1-16)"
if [[ ! -x "$bin" || "$(cat "$bin.stamp" 2>/dev/null)" != "$stamp" ]]; then
  echo "building $bin (sm_90a)"
  nvcc -std=c++17 -O3 --use_fast_math -lineinfo -gencode arch=compute_90a,code=sm_90a \
    -I native/include -I kernels -o "$bin" kernels/dev/gemm/gemm.cu || { echo "build failed"; exit 2; }
  echo "$stamp" > "$bin.stamp"
fi
[[ "${1:-}" == "--build-only" ]] && exit 0

nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1 | tee "$OUT/gemm.log"
status=0
# Versions 1-2 (the stand-in and the sm_80 path) first; version 3 (sm_90a, the product's kernel on
# compute capability 9.0) in its own process, so that a trap there cannot take the others' results with it.
timeout 200 "$bin" --versions 1,2 --csv "$OUT/gemm-anvil.csv" "$@" 2>&1 | tee -a "$OUT/gemm.log"
(( PIPESTATUS[0] != 0 )) && status=1
timeout 100 "$bin" --versions 3 --csv "$OUT/gemm-anvil-v3.csv" "$@" 2>&1 | tee -a "$OUT/gemm.log"
(( PIPESTATUS[0] != 0 )) && { echo "version 3 failed (exit ${PIPESTATUS[0]})" | tee -a "$OUT/gemm.log"; status=1; }
# version 4 (the ping-pong schedule of matmul/gemm_sm90.cuh) in its own process too
timeout 100 "$bin" --versions 4 --csv "$OUT/gemm-anvil-v4.csv" "$@" 2>&1 | tee -a "$OUT/gemm.log"
(( PIPESTATUS[0] != 0 )) && { echo "version 4 failed (exit ${PIPESTATUS[0]})" | tee -a "$OUT/gemm.log"; status=1; }
# version 5 (gemm_sm90_cluster.cuh: clusters with TMA multicast, not yet run on a GPU) likewise
timeout 100 "$bin" --versions 5 --csv "$OUT/gemm-anvil-v5.csv" "$@" 2>&1 | tee -a "$OUT/gemm.log"
(( PIPESTATUS[0] != 0 )) && { echo "version 5 failed (exit ${PIPESTATUS[0]})" | tee -a "$OUT/gemm.log"; status=1; }
if ! grep -q -- "--check" <<<"$*"; then
  { cat "$OUT/gemm-anvil.csv"; tail -q -n +2 "$OUT/gemm-anvil-v3.csv" "$OUT/gemm-anvil-v4.csv" \
      "$OUT/gemm-anvil-v5.csv" 2>/dev/null; } \
    > "$OUT/gemm-anvil-all.csv"
  timeout 120 python3 kernels/dev/gemm/torch_peer.py "$OUT/gemm-torch.csv" "$OUT/gemm-anvil-all.csv" 2>&1 | tee -a "$OUT/gemm.log"
fi
exit $status
