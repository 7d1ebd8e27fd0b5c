// gemm_generic.cpp: the portable GEMM kernel for CPUs without AVX2+FMA, a 6x8 micro-tile written with
// GCC vector extensions (4 floats: SSE on baseline x86-64): 12 accumulators, 2 B vectors and a
// broadcast fill 15 of the 16 xmm registers.
#include "gemm_blocked.h"

namespace {

constexpr int64_t kKC = 256;

typedef float v4 __attribute__((vector_size(16), aligned(4)));

template <int MR, int WIDE, int LAYOUT>
struct MicroGeneric {
  // Where value i of one depth step sits, and how far the next step is (see ALayout).
  static constexpr int64_t kRow = LAYOUT == kRows ? kKC : 1, kStep = LAYOUT == kRows ? 1 : MR;
  static constexpr int NR = 8;
  static constexpr int NV = WIDE ? 2 : 1;  // vectors computed; the rest of the sliver is padding

  static void run(int64_t kc, const float* __restrict a, const float* __restrict b, float* c,
                  int64_t ldc, int nr, float alpha, float beta, const float* bias) {
    v4 acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = v4{0, 0, 0, 0};
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; ++p) {
      v4 bv[NV];
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) __builtin_memcpy(&bv[v], b + 4 * v, sizeof(v4));
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const float ai = a[i * kRow];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[i][v] += ai * bv[v];
      }
      a += kStep;
      b += NR;
    }
    for (int i = 0; i < MR; ++i) {
      float* row = c + i * ldc;
      for (int j = 0; j < nr; ++j) {
        float r = alpha * acc[i][j / 4][j % 4] + (bias ? bias[j] : 0.0f);
        row[j] = beta != 0.0f ? r + beta * row[j] : r;
      }
    }
  }
};

struct TraitsGeneric {
  static constexpr int MR = 6, NR = 8;
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
