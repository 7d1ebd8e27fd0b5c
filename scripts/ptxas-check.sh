#!/usr/bin/env bash
# ptxas-check.sh: compiles every CUDA file of kernels/ for sm_80 and sm_90a with the library's flags and
# -Xptxas=-v, reads ptxas' report of each kernel (registers, stack, spill stores and loads), and fails
# when a kernel named in kernels/spill-budget.txt spills more bytes (stores + loads, on any arch) than
# its budget allows, or when a budget line matches no kernel (a renamed kernel must not pass silently).
#
#   scripts/ptxas-check.sh            check; the full report goes to target/ptxas-report.txt
#   scripts/ptxas-check.sh -v         also print every kernel's line
#
# Needs nvcc (no GPU). Each (file, arch) compiles in its own process so reports never interleave;
# they run in parallel, one per core.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
budget="$root/kernels/spill-budget.txt"
report="$root/target/ptxas-report.txt"
verbose=0
[[ "${1:-}" == "-v" ]] && verbose=1

nvcc="$(command -v nvcc || true)"
[[ -z "$nvcc" && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
if [[ -z "$nvcc" ]]; then
  echo "ptxas-check: nvcc not found; it is needed to compile the kernels" >&2
  exit 2
fi
command -v c++filt >/dev/null || { echo "ptxas-check: c++filt (binutils) not found" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$report")"

# The flags of kernels/CMakeLists.txt that change code generation.
flags=(-std=c++17 -O3 --use_fast_math -lineinfo -Xptxas=-v -I "$root/native/include" -I "$root/kernels" -c -o /dev/null)
# Reports are cached under target/ by a hash of everything that shapes them (the file, the shared
# headers, the flags, the arch and nvcc's version), so an unchanged kernel is not compiled again.
cache="$root/target/ptxas-cache"
mkdir -p "$cache"
# Headers include those of the per-op folders (kernels/matmul/, kernels/attention/), not the playgrounds.
shared_hash="$( (find "$root/kernels" -name '*.cuh' -not -path '*/dev/*' | sort | xargs cat;
  cat "$root/native/include/anvil/anvil.h"; echo "${flags[*]}"; "$nvcc" --version) | sha256sum | cut -c1-16)"
export nvcc work cache shared_hash
export flags_joined="${flags[*]}"
jobs=()
for file in "$root"/kernels/*.cu; do
  for arch in 80 90a; do jobs+=("$file $arch"); done
done
printf '%s\n' "${jobs[@]}" | xargs -P "$(nproc)" -L 1 bash -c '
  file="$0"; arch="$1"; name="$(basename "$file" .cu).sm_$arch"
  key="$name.$( (cat "$file"; echo "$shared_hash") | sha256sum | cut -c1-16)"
  if [[ -f "$cache/$key.log" ]]; then cp "$cache/$key.log" "$work/$name.log"; exit 0; fi
  # shellcheck disable=SC2086
  if ! "$nvcc" $flags_joined -gencode "arch=compute_${arch},code=sm_${arch}" "$file" >"$work/$name.log" 2>&1; then
    echo "ptxas-check: compiling $file for sm_$arch failed:" >&2; cat "$work/$name.log" >&2; exit 255
  fi
  cp "$work/$name.log" "$cache/$key.log"'

# One line per kernel and arch: arch registers stack spill_stores spill_loads mangled-name
cat "$work"/*.log | awk '
  /Compiling entry function/ {
    match($0, /function \x27[^\x27]+\x27/); name = substr($0, RSTART + 10, RLENGTH - 11)
    match($0, /for \x27[^\x27]+\x27/); arch = substr($0, RSTART + 5, RLENGTH - 6)
    entry = 1; next
  }
  /Function properties for/ { split($0, f, "for "); props = f[2]; next }
  /bytes stack frame/ {
    if (entry && props == name) { stack[name] = $1; stores[name] = $5; loads[name] = $9 }
    next
  }
  /Used [0-9]+ registers/ {
    if (entry) {
      match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART + 5, RLENGTH - 15)
      print arch, regs, stack[name] + 0, stores[name] + 0, loads[name] + 0, name
      entry = 0
    }
  }' > "$work/kernels.txt"

# Demangle and reduce each name to its function name (no namespaces, template arguments or parameters).
: > "$work/table.txt"
while read -r arch regs stack st ld mangled; do
  full="$(echo "$mangled" | c++filt)"
  base="${full#void }"
  base="${base//(anonymous namespace)::/}"
  base="${base%%(*}"
  # strip template arguments: everything from the first "<" that follows the last "::" before it
  plain="${base%%<*}"
  short="${plain##*::}"
  printf '%-7s %4s regs %5s stack %6s st %6s ld  %-34s %s\n' "$arch" "$regs" "$stack" "$st" "$ld" "$short" "$full" \
    >> "$work/table.txt"
done < "$work/kernels.txt"
sort -k8,8 -k1,1 "$work/table.txt" > "$report"
kernels=$(wc -l < "$report")
[[ $verbose == 1 ]] && cat "$report"

status=0
checked=0
while read -r pattern limit _; do
  [[ -z "$pattern" || "$pattern" == \#* ]] && continue
  matched=0
  while read -r arch regs _r stack _s st _st ld _l short _full; do
    # shellcheck disable=SC2053
    [[ "$short" == $pattern ]] || continue
    matched=$((matched + 1))
    spill=$((st + ld))
    if (( spill > limit )); then
      echo "ptxas-check: FAIL $short ($arch): $spill bytes of spills (stores $st + loads $ld) > budget $limit" >&2
      status=1
    fi
  done < "$report"
  if (( matched == 0 )); then
    echo "ptxas-check: FAIL budget line '$pattern' matches no kernel (renamed or deleted?)" >&2
    status=1
  fi
  checked=$((checked + matched))
done < "$budget"

echo "ptxas-check: $kernels kernel builds read, $checked under budget lines; report in ${report#"$root"/}"
exit $status
