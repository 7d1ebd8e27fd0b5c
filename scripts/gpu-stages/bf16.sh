#!/usr/bin/env bash
# cap: 75
# bf16.sh: the GPU stage of the bf16 training step (issue 7), run by run-all.sh after .ci/gpu with the
# bundle in .gpu-bundle/ (or $BUNDLE). What .ci/gpu (its gpu tests and its train stage) does not measure:
#   1. where a bf16 step's time goes, kernel by kernel: when nsys is on the machine, 3 eager bf16 steps of
#      GPT-2 124M at B8 x 1024 under nsys, then its per-kernel summary (kernels.csv: time, calls, average);
#   2. the B16 x 1024 step eager (the issue's memory target), with its per-phase times and the pool.
# Files in $STAGE_OUT: kernels.csv (and kernels.txt, the top of it), train-bf16.csv (rows as .ci/gpu's
# train-anvil.csv).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bundle="${BUNDLE:-$root/.gpu-bundle}"
out="${STAGE_OUT:-$root/out/bf16}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$bundle/jre.tgz"
java="$work/jre/bin/java"
cp="$bundle/test-classes:$(ls "$bundle"/lib/*.jar | grep -v console-standalone | tr '\n' ':')"
jvm=(-Xmx12g -Dorg.bytedeco.javacpp.cachedir="$work/javacpp" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
bench=(ai.anvil.backend.cuda.Gpt2TrainBench)

nsys="$(command -v nsys || ls /usr/local/cuda*/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)"
if [[ -n "$nsys" ]]; then
  echo "=== nsys: 3 eager bf16 steps, B8 x 1024 (t=${SECONDS}s)"
  timeout --kill-after=5 30 "$nsys" profile --trace=cuda --sample=none --cpuctxsw=none --force-overwrite=true \
    -o "$work/step" "$java" "${jvm[@]}" -cp "$cp" "${bench[@]}" "$work/nsys.csv" 8 3 8 bf16
  echo "--- nsys exit $? (t=${SECONDS}s)"
  timeout 15 "$nsys" stats --report cuda_gpu_kern_sum --format csv --output "$work/k" "$work/step.nsys-rep" >/dev/null 2>&1
  cp "$work"/k*.csv "$out/kernels.csv" 2>/dev/null && head -40 "$out/kernels.csv" | cut -c1-200 | tee "$out/kernels.txt"
else
  # No nsys on these machines (device KINDS.md): Nsight Compute times each kernel instead (one metric, no
  # replay, clocks and caches left alone), over the first
  # 4000 launches, whole steps only (a step ends at the fused AdamW's update kernel).
  ncu="$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
  if [[ -n "$ncu" ]]; then
    echo "=== ncu: the first 4000 kernels of eager bf16 steps, B8 x 1024 (t=${SECONDS}s)"
    timeout --kill-after=5 40 "$ncu" --clock-control none --cache-control none --target-processes all \
      --launch-count 4000 \
      --metrics gpu__time_duration.sum --print-kernel-base function --csv --page raw \
      --log-file "$work/ncu.csv" "$java" "${jvm[@]}" -cp "$cp" "${bench[@]}" "$work/ncu-bench.csv" 8 1 30 bf16
    echo "--- ncu exit $? (t=${SECONDS}s)"
    cp "$work/ncu.csv" "$out/ncu-raw.csv" 2>/dev/null
    python3 "$root/bench/gpu/kernel_breakdown.py" "$work/ncu.csv" adamw_multi_kernel > "$out/kernels.csv" 2>&1
    head -45 "$out/kernels.csv" | tee "$out/kernels.txt"
  else
    echo "no nsys or ncu here: no per-kernel breakdown (the per-phase times of .ci/gpu's bf16 variant stand in)"
  fi
fi

echo "=== Gpt2TrainBench bf16 B16 eager (t=${SECONDS}s)"
timeout --kill-after=5 25 "$java" "${jvm[@]}" -cp "$cp" "${bench[@]}" "$out/train-bf16.csv" 8 6 18 bf16:16
echo "--- bench exit $? (t=${SECONDS}s)"
