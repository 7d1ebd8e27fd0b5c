#!/usr/bin/env bash
# gpu_session.sh: what a GPU session runs for the GEMM and attention issues, in at most two device calls
# of under 10 minutes each. Results go to $OUT as session-<part>.tgz (every log and CSV) plus
# summary-<part>.txt (the tables), re-packed after each stage so a run cut off still returns what finished.
#   check  (~6 min): the playgrounds' validations (CPU fp64 references), then .ci/gpu (the @Tag gpu tests
#          through the C ABI, compute-sanitizer memcheck + racecheck, CudaOpBench vs PyTorch)
#   bench  (~4 min): the playgrounds' benchmarks, each version vs torch.matmul / SDPA in the same run
#
#   kernels/dev/gpu_session.sh check|bench
# Prepare on the build machine first (the GPU machine has no Maven and no network):
#   scripts/gpu-bundle.sh --build-dir /tmp/cudagemm-target        # .gpu-bundle/ with the new natives
#   kernels/dev/run_gemm.sh --build-only && kernels/dev/run_attention.sh --build-only   # target/dev/
# and carry [".gpu-bundle", "target/dev"].
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
part="${1:-check}"
final="${OUT:-$root/out/session}"
mkdir -p "$final"
work="$(mktemp -d)"
summary="$final/summary-$part.txt"
: > "$summary"
pack() { tar -C "$work" -czf "$final/session-$part.tgz" . ; }
# stage NAME CAP COMMAND...: runs under a cap, logs to $work/NAME.txt, appends its tail to the summary
stage() {
  local name="$1" cap="$2"; shift 2
  echo "=== $name (cap ${cap}s, t=${SECONDS}s)" | tee -a "$summary"
  timeout --kill-after=5 "$cap" "$@" > "$work/$name.txt" 2>&1
  local rc=$?
  tail -n 45 "$work/$name.txt" >> "$summary"
  echo "--- $name: exit $rc" | tee -a "$summary"
  pack
}
nvidia-smi > "$work/nvidia-smi.txt" 2>&1
head -15 "$work/nvidia-smi.txt" >> "$summary"
case "$part" in
  check)
    OUT="$work/gemm" stage gemm-check 90 kernels/dev/run_gemm.sh --check
    OUT="$work/attention" stage attention-check 90 kernels/dev/run_attention.sh --check
    OUT="$work/ci" stage ci-gpu 330 .ci/gpu
    ;;
  bench)
    OUT="$work/gemm" stage gemm-bench 240 kernels/dev/run_gemm.sh --bench
    OUT="$work/attention" stage attention-bench 240 kernels/dev/run_attention.sh --bench
    ;;
  *) echo "usage: gpu_session.sh check|bench" >&2; exit 2 ;;
esac
echo "=== done in ${SECONDS}s" | tee -a "$summary"
cat "$summary"
