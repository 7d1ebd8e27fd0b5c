#!/usr/bin/env bash
# run-all.sh: the GPU session's extra stages, one script per piece of work under scripts/gpu-stages/
# (NAME.sh, each ending within the seconds on its "# cap: N" line, default 60), run after .ci/gpu on the
# GPU machine from the repository root. Each stage gets its own output folder in $STAGE_OUT (exported to
# it) and its output is packed, with .ci/gpu's, into $OUT/NAME.tgz after the stage, so a call cut off
# still returns what finished. The bundle (.gpu-bundle/) and the playground binaries (target/dev/) are
# built on the build machine beforehand (scripts/gpu-bundle.sh, kernels/dev/run_*.sh --build-only).
#
#   scripts/gpu-stages/run-all.sh [NAME ...]     the named stages, or every NAME.sh here
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
final="${OUT:-$root/out/stages}"
mkdir -p "$final"
names=("$@")
if (( ${#names[@]} == 0 )); then
  for f in scripts/gpu-stages/*.sh; do n="$(basename "$f" .sh)"; [[ "$n" == run-all ]] || names+=("$n"); done
fi
for n in "${names[@]}"; do
  f="scripts/gpu-stages/$n.sh"
  [[ -f "$f" ]] || { echo "no stage $f"; continue; }
  cap="$(sed -n 's/^# cap: *\([0-9]*\).*/\1/p' "$f" | head -1)"
  work="$(mktemp -d)"
  echo "=== stage $n (cap ${cap:-60}s, t=${SECONDS}s)"
  STAGE_OUT="$work" timeout --kill-after=5 "${cap:-60}" bash "$f" > "$work/stage.log" 2>&1
  echo "--- stage $n: exit $? (t=${SECONDS}s)" | tee -a "$work/stage.log"
  tail -n 60 "$work/stage.log"
  tar -C "$work" -czf "$final/$n.tgz" .
done
