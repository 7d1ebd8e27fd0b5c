#!/usr/bin/env bash
# cap: 50
# The attention stage (issue 6): the playground (kernels/dev/attention) on the GPU machine, files into
# $STAGE_OUT as each step ends:
#   1. check.log   versions 3 (FA3-style wgmma, sm_90a: the product on cc 9.0), 2 (FA2, mma.sync) and 5 (3
#                  pipelined with ping-pong consumers; never run on a GPU yet) against the fp64 CPU
#                  reference over the playground's case list (odd lengths, masks, cross lengths, decode);
#   2. bench.log, attention-anvil.csv   the versions timed (CUDA events, median) at the issue's shapes;
#   3. torch.log, attention-torch.csv   SDPA flash and cuDNN at the same shapes in the same run, then the
#                  joined table (best Anvil version vs best SDPA backend, ratio >= 1.0: Anvil as fast).
# The binary is target/dev/attention (kernels/dev/run_attention.sh --build-only on the build machine);
# when it is missing or stale it is built here with nvcc (~10 s).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out="${STAGE_OUT:-$root/out/attention-stage}"
mkdir -p "$out"
kernels/dev/run_attention.sh --build-only || { echo "attention playground build failed"; exit 2; }
bin=target/dev/attention
versions=3,2,5  # v5 last: it has never run on a GPU (a hang there must not cost the others)
nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader | grep -q ", 9.0" || versions=2
status=0
timeout 13 "$bin" --check --version "$versions" > "$out/check.log" 2>&1 || status=1
tail -n 5 "$out/check.log"
timeout 20 "$bin" --bench --version "$versions" --shapes gpt2,d128_t4096,decode_8k \
  --csv "$out/attention-anvil.csv" > "$out/bench.log" 2>&1 || status=1
cat "$out/bench.log"
timeout 13 python3 kernels/dev/attention/torch_peer.py "$out/attention-torch.csv" "$out/attention-anvil.csv" \
  > "$out/torch.log" 2>&1 || status=1
cat "$out/torch.log"
exit $status
