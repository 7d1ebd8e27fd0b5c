#!/usr/bin/env bash
# Trains one recipe in Anvil and in PyTorch (eager, bench/harness/train_peer.py) in one invocation, one
# after the other with the same threads, and prints both runs' tokens/s and val loss and the speed ratio.
# tokens/s = batch x context x steps / training time, evaluation left out (both sides measure the same way).
#
#   bench/train-vs-torch.sh [cpu-small|cpu-medium] [--steps N] [--threads N] [--python PATH] [--out DIR]
#                           [--classes DIR]
#
# --python names a Python with torch; without it, a venv in /tmp/anvil-torch-venv is made from the local
# torch wheel (find / -name 'torch-2*.whl'). Never used by CI: users' machines have no torch.
# --classes runs Anvil from a compiled classes folder (natives inside, e.g. a build made with
# -Danvil.buildDir=/tmp/x: /tmp/x/classes) instead of ./anvil, so a build can be compared with another.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

recipe=cpu-small steps="" threads=2 python="" out="/tmp/anvil-train-vs-torch" classes=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    cpu-small|cpu-medium) recipe="$1"; shift ;;
    --steps) steps="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --classes) classes="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

# The recipes of issue 3; the optimizer settings are shared.
common=(--lr 1e-3 --beta1 0.9 --beta2 0.99 --weight-decay 0.1 --warmup-steps 100 --grad-clip 1.0 --dropout 0
        --eval-iters 50 --seed 1337)
case "$recipe" in
  cpu-small)  shape=(--n-layer 4 --n-head 4 --n-embd 128 --block-size 64 --batch-size 12); steps="${steps:-2000}" ;;
  cpu-medium) shape=(--n-layer 6 --n-head 6 --n-embd 384 --block-size 256 --batch-size 16); steps="${steps:-100}" ;;
esac
eval_interval=$(( steps < 250 ? steps : 250 ))
flags=("${shape[@]}" "${common[@]}" --max-steps "$steps" --eval-interval "$eval_interval")

if [[ -z "$python" ]]; then
  python=/tmp/anvil-torch-venv/bin/python
  if ! "$python" -c 'import torch' 2>/dev/null; then
    links=()
    for d in $(find / -name 'torch-2*.whl' -not -path '/proc/*' 2>/dev/null | xargs -r -n1 dirname | sort -u) /opt/pypi/files; do
      [[ -d "$d" ]] && links+=(--find-links "$d")
    done
    echo "making $python from local wheels (${links[*]})" >&2
    python3 -m venv /tmp/anvil-torch-venv
    "$python" -m pip install -q --no-index "${links[@]}" torch numpy >&2
  fi
fi

anvil=(./anvil)
if [[ -n "$classes" ]]; then
  mvn -q -ntp dependency:build-classpath -Dmdep.outputFile="$out.classpath" -Dmdep.includeScope=runtime >&2
  anvil=(java -cp "$classes:$(cat "$out.classpath")" ai.anvil.cli.Main)
fi

mkdir -p "$out"
echo "== $recipe, $steps steps, $threads threads: Anvil ${classes:-(./anvil)}" >&2
"${anvil[@]}" pretrain "${flags[@]}" --threads "$threads" --device cpu --sample-tokens 0 --out "$out/anvil" \
  | tail -n 1 > "$out/anvil.json"
echo "== $recipe, $steps steps, $threads threads: PyTorch" >&2
"$python" bench/harness/train_peer.py "${flags[@]}" --threads "$threads" | tail -n 1 > "$out/torch.json"

"$python" - "$out/anvil.json" "$out/torch.json" "$recipe" "$steps" "$threads" <<'PY'
import json, sys
a, t = (json.load(open(p)) for p in sys.argv[1:3])
recipe, steps, threads = sys.argv[3:6]
print(f"recipe {recipe}, {steps} steps, {threads} threads")
print(f"{'':8} {'tokens/s':>10} {'val loss':>9} {'best':>7} {'train s':>8}")
for name, r in (("anvil", a), ("pytorch", t)):
    print(f"{name:8} {r['tokens_per_s']:10.0f} {r['final_val_loss']:9.4f} {r['best_val_loss']:7.4f} {r['train_seconds']:8.1f}")
print(f"ratio anvil/pytorch tokens/s: {a['tokens_per_s'] / t['tokens_per_s']:.2f}x")
print(json.dumps({"recipe": recipe, "steps": int(steps), "threads": int(threads),
                  "anvil_tokens_per_s": a["tokens_per_s"], "torch_tokens_per_s": t["tokens_per_s"],
                  "ratio": a["tokens_per_s"] / t["tokens_per_s"],
                  "anvil_val_loss": a["final_val_loss"], "torch_val_loss": t["final_val_loss"]}))
PY
