#!/usr/bin/env bash
# Tokens/s of CPU pre-training on 1 process vs 2 data-parallel ranks (Gloo over loopback) on this
# machine, cpu-small model (4 layers x 128, context 64, char-level KJV). Each configuration runs REPS
# times; prints one line per run and the medians. The global batch is the same everywhere (12 rows):
#   1 process, 2 threads, batch 12 | 1 process, 1 thread, batch 12 | 2 ranks x 1 thread, batch 6 each
# Usage: bench/dist-scaling.sh [STEPS] [REPS]   (needs a built jar: ./anvil --help builds one)
#   ANVIL_CP overrides the classpath (default: target/anvil-*.jar + target/runtime.classpath).
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-60}"
reps="${2:-3}"
cp="${ANVIL_CP:-$(ls target/anvil-*.jar | grep -v -e sources -e tests | head -n 1):$(cat target/runtime.classpath)}"
out="$(mktemp -d)"
common=(pretrain --max-steps "$steps" --eval-interval "$steps" --eval-iters 2 --sample-tokens 0 --device cpu --warmup-steps 10)
tps() { grep -o '"tokens_per_s":[0-9.]*' "$1" | cut -d: -f2; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
echo "load before: $(uptime)"
for rep in $(seq "$reps"); do
  java -cp "$cp" ai.anvil.cli.Main "${common[@]}" --threads 2 --batch-size 12 --out "$out/p2" > "$out/p2.$rep" 2>/dev/null
  java -cp "$cp" ai.anvil.cli.Main "${common[@]}" --threads 1 --batch-size 12 --out "$out/p1" > "$out/p1.$rep" 2>/dev/null
  port=$((29600 + rep))
  for r in 1 0; do
    RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port java -cp "$cp" ai.anvil.cli.Main "${common[@]}" \
      --threads 1 --batch-size 6 --distributed env --out "$out/dp" > "$out/dp$r.$rep" 2>/dev/null &
  done
  wait
  echo "rep $rep: 1 proc x 2 threads $(tps "$out/p2.$rep") tok/s | 1 proc x 1 thread $(tps "$out/p1.$rep") tok/s | 2 ranks x 1 thread $(tps "$out/dp0.$rep") tok/s"
done
for k in p2 p1 dp0; do
  printf '%s median %s tok/s\n' "$k" "$(for rep in $(seq "$reps"); do tps "$out/$k.$rep"; done | median)"
done
echo "load after: $(uptime)"
rm -rf "$out"
