#!/usr/bin/env bash
# run_emu.sh: checks of the CUDA kernels on the CPU, without a GPU (kernels/dev/emu/cuda_emu.h emulates
# threads, warps, ldmatrix, mma.sync and cp.async; AddressSanitizer checks every global access):
#   gemm, attention  the playgrounds' --check lists (each version against fp64 references)
#   abi              the product's anvil_cuda_matmul_* / anvil_cuda_attention_* (dispatch included) against
#                    the CPU library through the C ABI (abi_check.cpp; builds libanvil_cpu in target/emu)
#   adamw            the fused AdamW (anvil_cuda_adamw_table/_schedule/_multi_fwd) against anvil_cpu_adamw_fwd
#                    (adamw_check.cpp; a few seconds)
#   sample           anvil_cuda_sample_fwd (argmax, top-k, full-vocabulary sampling) against a CPU reference
#                    (sample_check.cpp)
#   cross_entropy    anvil_cuda_cross_entropy_bwd_dgrad against the host-gradient backward (bit for bit) and
#                    anvil_cpu_cross_entropy_bwd (cross_entropy_check.cpp)
#   cast             cast.cu, bit for bit against round-to-nearest-even (cast_check.cpp)
#   column_sums      matmul/column_sums.cuh, a linear's bias gradient, against fp64 sums (column_sums_check.cpp)
#   eltwise          eltwise.cu's add of a bf16 operand into fp32, bit for bit (eltwise_check.cpp)
#   layernorm        layernorm.cu's bf16 output / bf16 dy / dx += / params = paths against its fp32 path, bit
#                    for bit, and the fp32 kernels against anvil_cpu_layernorm_* (layernorm_check.cpp)
#   decode           anvil_cuda_attention_decode_fwd (lengths in device memory) against anvil_cpu_attention_fwd per
#                    row, anvil_cuda_kv_append / kv_advance (decode_check.cpp)
# Catches index, mask, fragment-layout, dispatch and pipeline-order bugs; says nothing about speed or about
# races between real hardware threads (compute-sanitizer racecheck covers those on a GPU).
# About 8 minutes for all three on two cores.
#
#   kernels/dev/emu/run_emu.sh [--out DIR] [gemm|attention|abi|adamw|sample|cross_entropy|cast|column_sums|eltwise|layernorm|decode ...]   (default: all; DIR: target/emu)
# Exit status 1 when any check fails.
set -uo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
out=target/emu
if [[ "${1:-}" == --out ]]; then out="$2"; shift 2; fi
mkdir -p "$out"
cuda_include="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")/include"
[[ -f "$cuda_include/cuda_bf16.h" ]] || cuda_include=/usr/local/cuda/include
# -fno-strict-aliasing: the kernels reinterpret bf16 storage as 16-byte vectors, fine under nvcc, undefined
# behaviour under g++'s type-based alias analysis.
flags=(-x c++ -std=c++20 -O2 -g -fno-strict-aliasing -fsanitize=address -fno-omit-frame-pointer -DANVIL_HOST_EMULATION
       -include kernels/dev/emu/cuda_emu.h -I native/include -I kernels -I "$cuda_include" -pthread -w -Wno-psabi)
targets=("$@")
(( ${#targets[@]} == 0 )) && targets=(gemm attention abi adamw sample cross_entropy cast column_sums eltwise layernorm decode)
status=0
for t in "${targets[@]}"; do
  echo "=== $t (emulated)"
  if [[ "$t" == abi || "$t" == adamw || "$t" == sample || "$t" == cross_entropy || "$t" == cast || "$t" == column_sums || "$t" == eltwise || "$t" == layernorm || "$t" == decode ]]; then
    cmake -S . -B "$out/build" -DANVIL_CUDA=OFF -DANVIL_NATIVE_TESTS=OFF > "$out/cmake.log" 2>&1 &&
      cmake --build "$out/build" -j2 --target anvil_cpu >> "$out/cmake.log" 2>&1 || { echo "libanvil_cpu build failed"; status=1; continue; }
    lib="$(cd "$out/build/lib" && pwd)"
    g++ "${flags[@]}" -o "$out/$t" "kernels/dev/emu/${t}_check.cpp" -L"$lib" -lanvil_cpu -Wl,-rpath,"$lib" ||
      { echo "build of ${t}_check failed"; status=1; continue; }
    ASAN_OPTIONS=detect_leaks=0 "$out/$t" | grep -v "failures so far" || status=1
    continue
  fi
  g++ "${flags[@]}" -o "$out/$t" "kernels/dev/$t/$t.cu" || { echo "build of $t failed"; status=1; continue; }
  ASAN_OPTIONS=detect_leaks=0 "$out/$t" --check | grep -v "failures so far" || status=1
done
exit $status
