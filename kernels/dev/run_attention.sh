#!/usr/bin/env bash
# run_attention.sh: the attention playground on a GPU machine, in one go (one device call):
#   1. the binary: target/dev/attention when its stamp matches the sources (built beforehand with
#      `kernels/dev/run_attention.sh --build-only` and carried), else built now with nvcc for sm_90a;
#   2. validate every version (fp64 CPU reference), then time them at the bench shapes (each checked);
#   3. time PyTorch SDPA (flash, cuDNN) at the same shapes in the same run; the joined table prints last.
# Results under $OUT (default out/attention): attention.log, attention-anvil.csv, attention-torch.csv.
#
#   kernels/dev/run_attention.sh [--build-only] [playground flags: --quick --check --bench --version N]
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
OUT="${OUT:-$root/out/attention}"
mkdir -p "$OUT" target/dev
bin=target/dev/attention
sources=(kernels/dev/attention/attention.cu kernels/attention/*.cuh kernels/tensor_core.cuh kernels/common.cuh
         native/include/anvil/anvil.h)
stamp="$(cat "${sources[@]}" | sha256sum | cut -c1-16)"
if [[ ! -x "$bin" || "$(cat "$bin.stamp" 2>/dev/null)" != "$stamp" ]]; then
  echo "building $bin (sm_90a)"
  nvcc -std=c++17 -O3 --use_fast_math -lineinfo -gencode arch=compute_90a,code=sm_90a \
    -I native/include -I kernels -o "$bin" kernels/dev/attention/attention.cu || { echo "build failed"; exit 2; }
  echo "$stamp" > "$bin.stamp"
fi
[[ "${1:-}" == "--build-only" ]] && exit 0

nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1 | tee "$OUT/attention.log"
status=0
timeout 300 "$bin" --csv "$OUT/attention-anvil.csv" "$@" 2>&1 | tee -a "$OUT/attention.log"
(( PIPESTATUS[0] != 0 )) && status=1
if ! grep -q -- "--check" <<<"$*"; then
  timeout 120 python3 kernels/dev/attention/torch_peer.py "$OUT/attention-torch.csv" "$OUT/attention-anvil.csv" 2>&1 \
    | tee -a "$OUT/attention.log"
fi
exit $status
