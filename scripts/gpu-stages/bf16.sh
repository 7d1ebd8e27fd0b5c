#!/usr/bin/env bash
# cap: 75
# bf16.sh: the GPU stage of the bf16 training step (issue 7), run by run-all.sh after .ci/gpu with the
# bundle in .gpu-bundle/ (or $BUNDLE). What .ci/gpu does not already measure:
#   1. the bf16 GPU tests alone, with their printed figures (CudaBf16StepTest: the cast kernel, one GPT step
#      against the CPU fp32 step, the 200-step loss curve against the CPU fp32 curve and its worst deviation);
#   2. Gpt2TrainBench variants beside .ci/gpu's: the fp32 mode (the reference the bf16 path replaces), bf16
#      with per-block recompute, and B16 eager (per-phase times and the pool at issue 7's memory target);
#   3. which profiler is on the machine, for the next run's per-kernel breakdown.
# Files in $STAGE_OUT: tests.txt, train-bf16.csv (rows as .ci/gpu's train-anvil.csv).
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
console="$(ls "$bundle"/lib/junit-platform-console-standalone-*.jar)"
jvm=(-Xmx12g -Dorg.bytedeco.javacpp.cachedir="$work/javacpp" -Dorg.slf4j.simpleLogger.defaultLogLevel=info)
echo "profilers: $(command -v nsys || echo 'no nsys') $(command -v ncu || echo 'no ncu')"

echo "=== bf16 GPU tests (t=${SECONDS}s)"
timeout --kill-after=5 30 "$java" "${jvm[@]}" -jar "$console" execute --class-path "$cp" \
  --select-class ai.anvil.backend.cuda.CudaBf16StepTest --details tree --disable-banner 2>&1 | tee "$out/tests.txt"
echo "--- tests exit ${PIPESTATUS[0]}"

echo "=== Gpt2TrainBench: fp32 reference, bf16 recompute, bf16 B16 eager (t=${SECONDS}s)"
timeout --kill-after=5 35 "$java" "${jvm[@]}" -cp "$cp" ai.anvil.backend.cuda.Gpt2TrainBench "$out/train-bf16.csv" 8 6 28 \
  bf16:16 bf16-recompute fp32-graph
echo "--- bench exit $? (t=${SECONDS}s)"
