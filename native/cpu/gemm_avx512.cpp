// gemm_avx512.cpp: the AVX-512 GEMM kernel, a 14x32 micro-tile. Compiled with -mavx512f/bw/dq/vl -mfma;
// called only when the CPU reports those (see active() in matmul.cpp).
//   Per depth step: 2 zmm loads of packed B (32 columns), 14 broadcasts of packed A, 28 FMAs into 28 zmm
//   accumulators; 31 of the 32 zmm registers are live. Columns past nr are masked off in the epilogue
//   (packed B is zero padded), so any n works.
//   B stored (n,k) is packed with 16x16 register transposes; up to four rows against it (decoding) run
//   as dot products straight from B.
// GCC 12's shuffle/unpack intrinsics seed their pass-through operand with a self-initialized
// "undefined" vector and warn about it (GCC bug 105593); the warning is located in the header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "gemm_blocked.h"

namespace {

constexpr int64_t kKC = 384;

template <int MR, int WIDE, int LAYOUT>
struct Micro512 {
  static constexpr int NV = WIDE ? 2 : 1;
  // Where value i of one depth step sits, and how far the next step is (see ALayout).
  static constexpr int64_t kRow = LAYOUT == kRows ? kKC : 1, kStep = LAYOUT == kRows ? 1 : MR;

  static void run(int64_t kc, const float* __restrict a, const float* __restrict b, float* c,
                  int64_t ldc, int nr, float alpha, float beta, const float* bias) {
    __m512 acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {  // the C tile, read or written at the end: both lines of each row
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16 * NV - 1), _MM_HINT_T0);
    }

#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; ++p) {
      __m512 bv[NV];
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const __m512 ai = _mm512_set1_ps(a[i * kRow]);
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
      }
      a += kStep;
      b += 32;
    }

    __mmask16 mask[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      const int left = nr - 16 * v;
      mask[v] = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
    }
    const __m512 alpha_v = _mm512_set1_ps(alpha);
    const __m512 beta_v = _mm512_set1_ps(beta);
    __m512 bias_v[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      bias_v[v] = bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      float* row = c + i * ldc;
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) {
        __m512 r = _mm512_fmadd_ps(alpha_v, acc[i][v], bias_v[v]);
        if (beta != 0.0f)
          r = _mm512_fmadd_ps(beta_v, _mm512_maskz_loadu_ps(mask[v], row + 16 * v), r);
        _mm512_mask_storeu_ps(row + 16 * v, mask[v], r);
      }
    }
  }
};

// In-register transpose of 16 rows of 16 floats: r[j] becomes column j. Three shuffle stages: pairs of
// rows (unpack), quads within 128-bit lanes (shuffle_ps), then 128-bit lanes across rows (shuffle_f32x4,
// twice).
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {  // r[4q + c], lane L: column 4L + c of rows 4q .. 4q+3
    r[4 * q] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    t[c + 4] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
    t[c + 8] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    t[c + 12] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0x88);
    r[c + 8] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0xdd);
    r[c + 4] = _mm512_shuffle_f32x4(t[c + 4], t[c + 12], 0x88);
    r[c + 12] = _mm512_shuffle_f32x4(t[c + 4], t[c + 12], 0xdd);
  }
}

// One 32-column sliver of Bp from B stored (n,k), as 16x16 register transposes; rows past nr and depth
// past kc read as zeros (masked loads).
void pack_bt512(const float* src, int64_t ldb, int nr, int64_t kc, float* dst) {
  for (int half = 0; half < 2; ++half) {
    const int rows = nr - 16 * half;
    for (int64_t p = 0; p < kc; p += 16) {
      const int steps = static_cast<int>(min_of(16, kc - p));
      const __mmask16 mask = static_cast<__mmask16>((1u << steps) - 1);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(mask, src + (16 * half + i) * ldb + p) : _mm512_setzero_ps();
      transpose16(r);
      for (int q = 0; q < steps; ++q) _mm512_store_ps(dst + (p + q) * 32 + 16 * half, r[q]);
    }
  }
}

// C (M,n) = alpha A (M,k) B^T + beta C + bias for B stored (n,k) and M <= 4: four rows of B at a time,
// 16 depth steps per load, M x 4 accumulators summed across lanes at the end.
template <int M>
void dots512(const anvil::gemm::Args& g, const float* a, int64_t lda) {
  const int64_t k = g.k, full = k / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (k - full)) - 1);
  for (int64_t j = 0; j < g.n; j += 4) {
    const int jn = static_cast<int>(min_of(4, g.n - j));
    const float* rows[4];
    for (int q = 0; q < 4; ++q) rows[q] = g.b + (j + (q < jn ? q : jn - 1)) * g.ldb;  // edge: repeat the last
    __m512 acc[M][4];
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) acc[i][q] = _mm512_setzero_ps();
    for (int64_t p = 0; p < full; p += 16) {
      __m512 bv[4];
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) bv[q] = _mm512_loadu_ps(rows[q] + p);
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) {
        const __m512 av = _mm512_loadu_ps(a + i * lda + p);
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) acc[i][q] = _mm512_fmadd_ps(av, bv[q], acc[i][q]);
      }
    }
    if (tail) {
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) {
        const __m512 av = _mm512_maskz_loadu_ps(tail, a + i * lda + full);
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q)
          acc[i][q] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(tail, rows[q] + full), acc[i][q]);
      }
    }
    for (int i = 0; i < M; ++i) {
      float* c = g.c + i * g.ldc + j;
      for (int q = 0; q < jn; ++q) {
        float v = g.alpha * _mm512_reduce_add_ps(acc[i][q]) + (g.bias ? g.bias[j + q] : 0.0f);
        c[q] = g.beta != 0.0f ? v + g.beta * c[q] : v;
      }
    }
  }
}

void dots(const anvil::gemm::Args& g, const float* a, int64_t lda) {
  switch (g.m) {
    case 1: return dots512<1>(g, a, lda);
    case 2: return dots512<2>(g, a, lda);
    case 3: return dots512<3>(g, a, lda);
    default: return dots512<4>(g, a, lda);
  }
}

struct Traits512 {
  static constexpr int MR = 14, NR = 32;
  static constexpr int64_t KC = kKC, NC = 768;
  static constexpr MicroTable<Micro512, MR> table{};
  static constexpr const MicroFn* micro = table.fns;
  static constexpr auto pack_bt = pack_bt512;
  static constexpr int kDotRows = 4;
  static constexpr auto dots = ::dots;
};

void run(const anvil::gemm::Args& args, float* panel) { blocked<Traits512>(args, panel); }

}  // namespace

namespace anvil::gemm {
extern const Kernel avx512_kernel{"avx512", Traits512::MR, Traits512::NR, panel_floats<Traits512>(), run};
}
