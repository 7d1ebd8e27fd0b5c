// gemm_avx2.cpp: the AVX2+FMA GEMM kernel, a 6x16 micro-tile. Compiled with -mavx2 -mfma; called only
// when the CPU reports both (see active() in matmul.cpp).
//   Per depth step: 2 ymm loads of packed B (16 columns), 6 broadcasts of packed A, 12 FMAs into 12 ymm
//   accumulators (15 of 16 ymm registers live). Columns past nr use masked loads and stores.
//   B stored (n,k) is packed with 8x8 register transposes; one or two rows against it (decoding) run as
//   dot products straight from B.
#include <immintrin.h>

#include "gemm_blocked.h"

namespace {

constexpr int64_t kKC = 256;

// Lanes l < count on (a maskload/maskstore mask).
inline __m256i first_lanes(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

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
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) mask[v] = first_lanes(nr - 8 * v);
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

// In-register transpose of 8 rows of 8 floats: r[j] becomes column j.
inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {  // u[4h + c]: column c | column c + 4 of rows 4h .. 4h+3
    u[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    r[c + 4] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}

// One 16-column sliver of Bp from B stored (n,k), as 8x8 register transposes; rows past nr and depth
// past kc read as zeros.
void pack_bt256(const float* src, int64_t ldb, int nr, int64_t kc, float* dst) {
  for (int half = 0; half < 2; ++half) {
    const int rows = nr - 8 * half;
    for (int64_t p = 0; p < kc; p += 8) {
      const int steps = static_cast<int>(min_of(8, kc - p));
      const __m256i mask = first_lanes(steps);
      __m256 r[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i)
        r[i] = i < rows ? _mm256_maskload_ps(src + (8 * half + i) * ldb + p, mask) : _mm256_setzero_ps();
      transpose8(r);
      for (int q = 0; q < steps; ++q) _mm256_store_ps(dst + (p + q) * 16 + 8 * half, r[q]);
    }
  }
}

inline float sum_lanes(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}

// C (M,n) = alpha A (M,k) B^T + beta C + bias for B stored (n,k) and M <= 2: four rows of B at a time,
// 8 depth steps per load (M x 4 accumulators, 4 B vectors: 13 of the 16 ymm registers).
template <int M>
void dots256(const anvil::gemm::Args& g, const float* a, int64_t lda) {
  const int64_t k = g.k, full = k / 8 * 8;
  const __m256i tail = first_lanes(static_cast<int>(k - full));
  for (int64_t j = 0; j < g.n; j += 4) {
    const int jn = static_cast<int>(min_of(4, g.n - j));
    const float* rows[4];
    for (int q = 0; q < 4; ++q) rows[q] = g.b + (j + (q < jn ? q : jn - 1)) * g.ldb;  // edge: repeat the last
    __m256 acc[M][4];
#pragma GCC unroll 2
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) acc[i][q] = _mm256_setzero_ps();
    for (int64_t p = 0; p < full; p += 8) {
      __m256 bv[4];
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) bv[q] = _mm256_loadu_ps(rows[q] + p);
#pragma GCC unroll 2
      for (int i = 0; i < M; ++i) {
        const __m256 av = _mm256_loadu_ps(a + i * lda + p);
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) acc[i][q] = _mm256_fmadd_ps(av, bv[q], acc[i][q]);
      }
    }
    if (full < k) {
#pragma GCC unroll 2
      for (int i = 0; i < M; ++i) {
        const __m256 av = _mm256_maskload_ps(a + i * lda + full, tail);
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q)
          acc[i][q] = _mm256_fmadd_ps(av, _mm256_maskload_ps(rows[q] + full, tail), acc[i][q]);
      }
    }
    for (int i = 0; i < M; ++i) {
      float* c = g.c + i * g.ldc + j;
      for (int q = 0; q < jn; ++q) {
        float v = g.alpha * sum_lanes(acc[i][q]) + (g.bias ? g.bias[j + q] : 0.0f);
        c[q] = g.beta != 0.0f ? v + g.beta * c[q] : v;
      }
    }
  }
}

void dots(const anvil::gemm::Args& g, const float* a, int64_t lda) {
  if (g.m == 1) return dots256<1>(g, a, lda);
  return dots256<2>(g, a, lda);
}

struct Traits256 {
  static constexpr int MR = 6, NR = 16;
  static constexpr int64_t KC = kKC, NC = 1024;
  static constexpr MicroTable<Micro256, MR> table{};
  static constexpr const MicroFn* micro = table.fns;
  static constexpr auto pack_bt = pack_bt256;
  static constexpr int kDotRows = 2;
  static constexpr auto dots = ::dots;
};

void run(const anvil::gemm::Args& args, float* panel) { blocked<Traits256>(args, panel); }

}  // namespace

namespace anvil::gemm {
extern const Kernel avx2_kernel{"avx2", Traits256::MR, Traits256::NR, panel_floats<Traits256>(), run};
}
