// kernels/dev/emu/column_sums_check.cpp: matmul/column_sums.cuh (a linear's bias gradient) under the CPU
// emulator: dbias (n) = / += column sums of dc (rows, n), fp32 and bf16, against an fp64 sum, at widths
// around the 16-byte pack (n 7, 8, 264, 768: the scalar path when n * size is not a multiple of 16 or dc is
// misaligned) and row counts around the 64-row splits (1, 65, 200, 1024); the same call twice must give the
// same bits; nothing outside dbias may be written.
// Built and run by kernels/dev/emu/run_emu.sh column_sums.
#include "../../matmul/column_sums.cuh"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check_kit.h"

namespace {

template <typename T>
void run(int64_t rows, int64_t n, int offset, bool accumulate, std::mt19937& rng) {
  const bool bf = sizeof(T) == 2;
  const std::string label = std::string(bf ? "bf16" : "fp32") + " rows " + std::to_string(rows) + " n " +
                            std::to_string(n) + " offset " + std::to_string(offset) + (accumulate ? " +=" : " =");
  std::normal_distribution<float> normal(0.5f, 2.0f);
  T* dc;
  float* dbias;
  const int pad = 8;
  cudaMalloc(reinterpret_cast<void**>(&dc), (rows * n + offset) * sizeof(T));
  cudaMalloc(reinterpret_cast<void**>(&dbias), (n + 2 * pad) * sizeof(float));
  std::vector<double> ref(n, 0.0), mag(n, 0.0);
  for (int64_t i = 0; i < rows * n; ++i) {
    float v = normal(rng);
    if (bf) {
      uint16_t h = rne(v);
      memcpy(reinterpret_cast<char*>(dc + offset + i), &h, 2);
      v = widen(h);
    } else {
      memcpy(reinterpret_cast<char*>(dc + offset + i), &v, 4);
    }
    ref[i % n] += v;
    mag[i % n] += std::fabs(v);
  }
  const float start = 1.25f;
  for (int64_t i = 0; i < n + 2 * pad; ++i) dbias[i] = i >= pad && i < pad + n ? start : -7.0f;
  const int64_t at = reinterpret_cast<int64_t>(dc + offset), out = reinterpret_cast<int64_t>(dbias + pad);
  if (anvil::colsum::column_sums<T>(at, out, rows, n, accumulate, nullptr) != 0) fail(label + ": " + anvil_last_error());
  std::vector<float> first(dbias + pad, dbias + pad + n);
  for (int64_t c = 0; c < n; ++c) {
    ++checks;
    const double want = ref[c] + (accumulate ? start : 0.0);
    // fp32 adds along at most ~64 + 8 + splits/8 + 8 steps: a few hundred roundings of sum |x| at most.
    const double bound = 1e-5 * (mag[c] + std::fabs(start)) + 1e-30;
    if (!(std::fabs(first[c] - want) <= bound)) {
      fail(label + ": column " + std::to_string(c) + " got " + std::to_string(first[c]) + " want " + std::to_string(want));
      break;
    }
  }
  for (int i = 0; i < pad; ++i) {
    ++checks;
    if (dbias[i] != -7.0f || dbias[pad + n + i] != -7.0f) fail(label + ": wrote outside dbias");
  }
  // Deterministic: the same call on the same input gives the same bits.
  for (int64_t i = 0; i < n; ++i) dbias[pad + i] = start;
  anvil::colsum::column_sums<T>(at, out, rows, n, accumulate, nullptr);
  ++checks;
  if (memcmp(first.data(), dbias + pad, n * sizeof(float)) != 0) fail(label + ": a second run differs");
  cudaFree(dc);
  cudaFree(dbias);
}

}  // namespace

int main() {
  // Small under emulation (every CUDA thread is an OS thread): the split logic is row_splits' (common.cuh).
  std::mt19937 rng(11);
  for (int64_t rows : {1, 65, 200})
    for (int64_t n : {7, 8, 264})
      for (int offset : {0, 1})
        for (bool acc : {false, true}) {
          run<float>(rows, n, offset, acc, rng);
          run<anvil::bf16>(rows, n, offset, acc, rng);
        }
  run<anvil::bf16>(1024, 768, 0, true, rng);  // GPT-2's width: 16 splits of 64 rows, 3 tiles of 256 columns
  printf("column_sums: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
