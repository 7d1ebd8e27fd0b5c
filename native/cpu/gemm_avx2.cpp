// gemm_avx2.cpp: the AVX2+FMA GEMM kernel, a 6x16 micro-tile. Compiled with -mavx2 -mfma; called only
// when the CPU reports both (see active() in matmul.cpp).
//   Per depth step: 2 ymm loads of packed B (16 columns), 6 broadcasts of packed A, 12 FMAs into 12 ymm
//   accumulators (15 of 16 ymm registers live). Columns past nr use masked loads and stores.
#include <immintrin.h>

#include "gemm_blocked.h"

namespace {

constexpr int64_t kKC = 256;

template <int MR, int WIDE, int LAYOUT>
struct Micro256 {
  static constexpr int NV = WIDE ? 2 : 1;
  // Where value i of one depth step sits, and how far the next step is (see ALayout).
  static constexpr int64_t kRow = LAYOUT == kRows ? kKC : 1, kStep = LAYOUT == kRows ? 1 : MR;

  static void run(int64_t kc, const float* __restrict a, const float* __restrict b, float* c,
                  int64_t ldc, int nr, float alpha, float beta, const float* bias) {
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();

#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; ++p) {
      __m256 bv[NV];
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m256 ai = _mm256_broadcast_ss(a + i * kRow);
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
      }
      a += kStep;
      b += 16;
    }

    // Lane masks for the last columns: lane l is on when 8v + l < nr.
    __m256i mask[NV];
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * v), lanes);
    const bool full = nr == 8 * NV;
    const __m256 alpha_v = _mm256_set1_ps(alpha);
    const __m256 beta_v = _mm256_set1_ps(beta);
    __m256 bias_v[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      bias_v[v] = bias ? _mm256_maskload_ps(bias + 8 * v, mask[v]) : _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      float* row = c + i * ldc;
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) {
        __m256 r = _mm256_fmadd_ps(alpha_v, acc[i][v], bias_v[v]);
        if (full) {
          if (beta != 0.0f) r = _mm256_fmadd_ps(beta_v, _mm256_loadu_ps(row + 8 * v), r);
          _mm256_storeu_ps(row + 8 * v, r);
        } else {
          if (beta != 0.0f) r = _mm256_fmadd_ps(beta_v, _mm256_maskload_ps(row + 8 * v, mask[v]), r);
          _mm256_maskstore_ps(row + 8 * v, mask[v], r);
        }
      }
    }
  }
};

struct Traits256 {
  static constexpr int MR = 6, NR = 16;
  static constexpr int64_t KC = kKC, NC = 1024;
  static constexpr MicroTable<Micro256, MR> table{};
  static constexpr const MicroFn* micro = table.fns;
  static constexpr auto pack_bt = pack_bt_scalar<NR>;
  static constexpr int kDotRows = 0;
  static constexpr void (*dots)(const anvil::gemm::Args&, const float*, int64_t) = nullptr;
};

void run(const anvil::gemm::Args& args, float* panel) { blocked<Traits256>(args, panel); }

}  // namespace

namespace anvil::gemm {
extern const Kernel avx2_kernel{"avx2", Traits256::MR, Traits256::NR, panel_floats<Traits256>(), run};
}
