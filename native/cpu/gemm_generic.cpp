// gemm_generic.cpp: the portable GEMM kernel for CPUs without AVX2+FMA, a 4x16 micro-tile in plain C++
// (baseline x86-64: the compiler maps the fixed-size inner loops onto SSE registers).
#include "gemm_blocked.h"

namespace {

constexpr int64_t kKC = 256;

template <int MR, int WIDE, int LAYOUT>
struct MicroGeneric {
  // Where value i of one depth step sits, and how far the next step is (see ALayout).
  static constexpr int64_t kRow = LAYOUT == kRows ? kKC : 1, kStep = LAYOUT == kRows ? 1 : MR;
  static constexpr int NR = 16;
  static constexpr int NW = WIDE ? NR : NR / 2;  // columns computed; the rest of the sliver is padding

  static void run(int64_t kc, const float* __restrict a, const float* __restrict b, float* c,
                  int64_t ldc, int nr, float alpha, float beta, const float* bias) {
    float acc[MR][NW] = {};
    for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const float ai = a[i * kRow];
#pragma GCC unroll 16
        for (int j = 0; j < NW; ++j) acc[i][j] += ai * b[j];
      }
      a += kStep;
      b += NR;
    }
    for (int i = 0; i < MR; ++i) {
      float* row = c + i * ldc;
      for (int j = 0; j < nr; ++j) {
        float r = alpha * acc[i][j] + (bias ? bias[j] : 0.0f);
        row[j] = beta != 0.0f ? r + beta * row[j] : r;
      }
    }
  }
};

struct TraitsGeneric {
  static constexpr int MR = 4, NR = 16;
  static constexpr int64_t KC = kKC, NC = 1024;
  static constexpr MicroTable<MicroGeneric, MR> table{};
  static constexpr const MicroFn* micro = table.fns;
  static constexpr auto pack_bt = pack_bt_scalar<NR>;
  static constexpr int kDotRows = 0;
  static constexpr void (*dots)(const anvil::gemm::Args&, const float*, int64_t) = nullptr;
};

void run(const anvil::gemm::Args& args, float* panel) { blocked<TraitsGeneric>(args, panel); }

}  // namespace

namespace anvil::gemm {
extern const Kernel generic_kernel{"generic", TraitsGeneric::MR, TraitsGeneric::NR,
                                   panel_floats<TraitsGeneric>(), run};
}
