#!/usr/bin/env bash
# cap: 80
# The GEMM stage (issue 5): the playground (kernels/dev/gemm) on the GPU machine, files into $STAGE_OUT as
# each step ends:
#   1. check.log   versions 2 (mma.sync, sm_80 path) and 3 (TMA + wgmma, sm_90a: the product's kernel on
#                  compute capability 9.0; both tile widths on 7 CTAs) against the fp64 CPU reference: every
#                  layout (NT, NN, TN, TT) and epilogue (bias, GELU, accumulate, alpha), bf16 and fp32 out,
#                  odd sizes, k = 0, batched, more tiles than CTAs;
#      check-v4.log   version 4 (the ping-pong schedule of the product kernel) on the same list;
#   2. bench.log, gemm-anvil.csv   versions 3 and 4 (2 off Hopper) timed (CUDA events, median,
#                  inputs rotated past L2) at the 4096 and 8192 squares and every layout of the GPT-2 small
#                  Linears (8192 rows; 768->2304, 768->768, 768->3072, 3072->768, 768->50304);
#   2b. v5.log, gemm-anvil-v5.csv   version 5 (gemm_sm90_cluster.cuh: clusters of 2 with TMA multicast, never
#                  run on a GPU before) in one process of its own after the others: the same check list (both
#                  tile widths x both pairings on 3 clusters), then timed at the squares, lm_head NT and c_fc
#                  TN (the clusters launched printed per row); a hang or trap there costs only its own time
#                  (10 s, or what the steps before left ahead of the torch step);
#   3. torch.log, gemm-torch.csv   torch.matmul (cuBLAS) at the same shapes in the same run, then the joined
#                  table (ratio = cuBLAS ms / Anvil ms: >= 1.0 is Anvil as fast or faster).
# The binary is target/dev/gemm (kernels/dev/run_gemm.sh --build-only on the build machine); when it is
# missing or stale it is built here with nvcc (~30 s, which the cap can barely afford).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out="${STAGE_OUT:-$root/out/gemm-stage}"
mkdir -p "$out"
kernels/dev/run_gemm.sh --build-only || { echo "gemm playground build failed"; exit 2; }
bin=target/dev/gemm
versions=2,3
hopper=1
nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader | tee "$out/device.txt" | grep -q ", 9.0" || hopper=0
(( hopper )) || versions=2
status=0
timeout 18 "$bin" --check --versions "$versions" > "$out/check.log" 2>&1 || status=1
grep -E "FAIL|checked|failures" "$out/check.log" | head -20
if (( hopper )); then
  # version 4 (the ping-pong schedule of matmul/gemm_sm90.cuh) in its own processes: a trap
  # there keeps the rest
  timeout 10 "$bin" --check --versions 4 > "$out/check-v4.log" 2>&1 || status=1
  grep -E "FAIL|checked|failures" "$out/check-v4.log" | head -20
  timeout 12 "$bin" --bench --versions 3 --csv "$out/gemm-anvil.csv" > "$out/bench.log" 2>&1 || status=1
  timeout 16 "$bin" --bench --versions 4 --csv "$out/gemm-anvil-v4.csv" > "$out/bench-v4.log" 2>&1 || status=1
  tail -n +2 "$out/gemm-anvil-v4.csv" >> "$out/gemm-anvil.csv" 2>/dev/null
  grep -hv "rel err" "$out/bench.log" "$out/bench-v4.log"
  # version 5 (kernels/dev/gemm/gemm_sm90_cluster.cuh: clusters, never run on a GPU before): check and bench
  # in one process, last of the playground's steps, so a hang there costs nobody else's rows; at most 10 s,
  # less when the steps before left less than that ahead of the torch step's 14 s and the cap
  v5_budget=$(( 80 - SECONDS - 16 ))
  (( v5_budget > 10 )) && v5_budget=10
  if (( v5_budget >= 4 )); then
    timeout "$v5_budget" "$bin" --versions 5 --shapes square4096,square8192,lm_head:NT,c_fc:TN \
      --csv "$out/gemm-anvil-v5.csv" > "$out/v5.log" 2>&1 || { echo "version 5: exit $? (${v5_budget} s)"; status=1; }
    tail -n +2 "$out/gemm-anvil-v5.csv" >> "$out/gemm-anvil.csv" 2>/dev/null
    grep -E "FAIL|checked|failures|WRONG|clusters\)" "$out/v5.log" | head -30
  else
    echo "version 5: skipped, ${v5_budget} s left before the torch step" | tee "$out/v5.log"
  fi
else
  timeout 20 "$bin" --bench --versions 2 --csv "$out/gemm-anvil.csv" > "$out/bench.log" 2>&1 || status=1
  grep -v "rel err" "$out/bench.log"
fi
timeout 14 python3 kernels/dev/gemm/torch_peer.py "$out/gemm-torch.csv" "$out/gemm-anvil.csv" \
  > "$out/torch.log" 2>&1 || status=1
sed -n '/^shape/,$p' "$out/torch.log"
exit $status
