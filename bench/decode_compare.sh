#!/usr/bin/env bash
# Decoding speed, Anvil against PyTorch, in one invocation: bench/decode_compare.sh [--threads N] [--reps R]
# Runs ai.anvil.bench.DecodeBench and bench/harness/decode_peer.py (when a Python with torch exists) on the
# same shapes (cpu-medium: 6 layers, 6 heads, 384 wide, context 256, batch 1; vocabularies 65 and 50257),
# then prints one line per shape with both tokens/s and the ratio.
#   --build DIR   use the classes and test classes of a build made with -Danvil.buildDir=DIR (default target)
#   --classes DIR take the main classes (natives inside) from DIR instead, to compare two builds
#   --python PATH a Python with torch (default: the first of /tmp/anvil-torch-venv, python3 that has it;
#                 bench/train-vs-torch.sh makes that venv from the local wheel)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2
reps=5
build="$PWD/target"
classes=""
python=""
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --classes) classes="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
mvn -q -ntp -Danvil.buildDir="$build" test-compile dependency:build-classpath \
  -Dmdep.outputFile="$build/test.classpath" -Dmdep.includeScope=test
out=$(mktemp)
trap 'rm -f "$out"' EXIT
java -cp "${classes:-$build/classes}:$build/test-classes:$(cat "$build/test.classpath")" ai.anvil.bench.DecodeBench \
  --threads "$threads" --reps "$reps" | tee "$out"
peer=""
for py in $python /tmp/anvil-torch-venv/bin/python python3 /usr/bin/python3; do
  if "$py" -c "import torch" 2>/dev/null; then peer="$py"; break; fi
done
if [ -z "$peer" ]; then
  echo "no Python with torch: Anvil figures only" >&2
  exit 0
fi
"$peer" bench/harness/decode_peer.py --threads "$threads" --reps "$reps" | tee -a "$out"
"$peer" - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
anvil = {r["vocab"]: r for r in rows if r["bench"] == "decode"}
torch = {r["vocab"]: r for r in rows if r["bench"] == "decode_peer"}
for v in sorted(anvil):
    if v in torch:
        a, t = anvil[v]["tokens_per_s_mean"], torch[v]["tokens_per_s_mean"]
        print(f"decode vocab {v}: anvil {a:.1f} tok/s, torch {torch[v]['torch']} {t:.1f} tok/s, ratio {a / t:.2f}x")
PY
