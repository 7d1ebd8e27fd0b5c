// gemm_blocked.h: the GotoBLAS/BLIS loop nest shared by gemm_{avx512,avx2,generic}.cpp. Each of those
// files includes this header once and supplies a Traits type:
//
//   struct Traits {
//     static constexpr int MR, NR;           // micro-tile: MR rows of op(A) x NR columns of op(B)
//     static constexpr int64_t KC, NC;       // cache blocks: KC deep, NC columns of B
//     static const MicroFn* micro;           // micro[(layout * MR + mr - 1) * 2 + wide]
//     static void pack_bt(...);              // one B sliver from B stored (n,k); see pack_bt_scalar
//     static constexpr int kDotRows;         // > 0: products of at most this many rows with B stored
//     static void dots(args, a, lda);        //   (n,k) go to dots(), which reads op(A) rows at a, lda
//   };
//
// A micro-kernel computes one tile:  C (mr,nr) = alpha * Ap (mr,kc) @ Bp (kc,NR) [+ beta C] [+ bias]
// from packed panels. Bp holds op(B)[p][j] at p*NR + j, zero padded past nr. Ap comes in two layouts,
// whichever is a plain copy of the source (no transpose while packing):
//   kRows  (A stored (m,k)):  op(A)[i][p] at i*KC + p   (the sliver's rows, KC apart)
//   kDepth (A stored (k,m)):  op(A)[i][p] at p*mr + i   (mr values per depth step)
// Either way the kernel reaches the 14 (or 6, 4) values of one step from one pointer with constant
// offsets. beta == 0 never reads C; wide = nr > NR/2 (the narrow kernels skip the empty half).
//
// Everything here has internal linkage (anonymous namespace) and uses no standard-library templates:
// the same code is compiled with different -m flags per file, and an inline function with external
// linkage would let the linker pick, say, the AVX-512 copy for the baseline path.
#pragma once

#include <cstdint>

#include "gemm.h"

namespace {

using MicroFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int nr,
                         float alpha, float beta, const float* bias);

inline int64_t min_of(int64_t x, int64_t y) { return x < y ? x : y; }
inline int64_t ceil_div(int64_t x, int64_t y) { return (x + y - 1) / y; }
inline int64_t round_up(int64_t x, int64_t y) { return ceil_div(x, y) * y; }

// dst[0..n) = src[0..n) in 64-byte moves (one zmm, two ymm or four xmm, by the file's flags). A plain
// loop would become a memcpy call (rep movs), slow to start on copies of a few hundred floats.
inline void copy_floats(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) __builtin_memcpy(dst + i, src + i, 16 * sizeof(float));
  for (; i < n; ++i) dst[i] = src[i];
}

enum ALayout { kDepth = 0, kRows = 1 };

// Ap for rows [i0, i0+mc) and depth [p0, p0+kc) of op(A): slivers of MR rows (the last one shorter),
// each KC*MR floats apart. Both layouts read the source sequentially, row after row.
template <int MR, int64_t KC>
void pack_a(const anvil::gemm::Args& g, int64_t i0, int64_t p0, int64_t mc, int64_t kc, float* out) {
  if (!g.trans_a) {  // kRows: each row's kc values, KC apart
    const float* src = g.a + i0 * g.lda + p0;
    for (int64_t i = 0; i < mc; ++i, src += g.lda) copy_floats(out + i * KC, src, kc);
    return;
  }
  // kDepth: A stored (k,m); depth step p is the contiguous run A[p0+p][i0 .. i0+mc), cut into slivers.
  const int64_t full = mc / MR * MR;
  const int tail = static_cast<int>(mc - full);
  const float* src = g.a + p0 * g.lda + i0;
  for (int64_t p = 0; p < kc; ++p, src += g.lda) {
    for (int64_t ir = 0; ir < full; ir += MR)  // a constant size: inlined into a few vector moves
      __builtin_memcpy(out + ir * KC + p * MR, src + ir, MR * sizeof(float));
    if (tail) __builtin_memcpy(out + full * KC + p * tail, src + full, tail * sizeof(float));
  }
}

// One sliver of Bp from B stored (n,k): row j < nr of src (ldb apart) becomes column j. Scalar
// transposes of 8 depth steps at a time; kernels with a register transpose supply their own.
template <int NR>
void pack_bt_scalar(const float* src, int64_t ldb, int nr, int64_t kc, float* dst) {
  for (int64_t p = 0; p < kc; p += 8) {
    const int64_t pe = min_of(8, kc - p);
    for (int j = 0; j < nr; ++j) {
      const float* row = src + j * ldb + p;
      for (int64_t q = 0; q < pe; ++q) dst[(p + q) * NR + j] = row[q];
    }
    for (int j = nr; j < NR; ++j)
      for (int64_t q = 0; q < pe; ++q) dst[(p + q) * NR + j] = 0.0f;
  }
}

// Bp for depth [p0, p0+kc) and columns [j0, j0+nc) of op(B): slivers of NR columns, zero padded past nc.
template <class T>
void pack_b(const anvil::gemm::Args& g, int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* out) {
  constexpr int NR = T::NR;
  if (g.trans_b) {  // B stored (n,k): column j of op(B) is row j of B
    for (int64_t jr = 0; jr < nc; jr += NR)
      T::pack_bt(g.b + (j0 + jr) * g.ldb + p0, g.ldb, static_cast<int>(min_of(NR, nc - jr)), kc,
                 out + jr * kc);
    return;
  }
  // B stored (k,n): depth step p is the contiguous run B[p0+p][j0 .. j0+nc), cut into slivers.
  const int64_t full = nc / NR * NR;
  const int tail = static_cast<int>(nc - full);
  const float* src = g.b + p0 * g.ldb + j0;
  for (int64_t p = 0; p < kc; ++p, src += g.ldb) {
    for (int64_t jr = 0; jr < full; jr += NR)
      __builtin_memcpy(out + jr * kc + p * NR, src + jr, NR * sizeof(float));
    if (tail) {
      float* dst = out + full * kc + p * NR;
      __builtin_memcpy(dst, src + full, tail * sizeof(float));
      __builtin_memset(dst + tail, 0, (NR - tail) * sizeof(float));
    }
  }
}

// C = beta C + bias when there is nothing to multiply (k == 0 or alpha == 0).
void scale_only(const anvil::gemm::Args& g) {
  for (int64_t i = 0; i < g.m; ++i) {
    float* row = g.c + i * g.ldc;
    for (int64_t j = 0; j < g.n; ++j) {
      float v = g.beta == 0.0f ? 0.0f : g.beta * row[j];
      row[j] = g.bias ? v + g.bias[j] : v;
    }
  }
}

// The packed B panel, KC x NC (rounded up to whole slivers).
template <class T>
constexpr int64_t panel_floats() {
  return T::KC * ((T::NC + T::NR - 1) / T::NR * T::NR);
}

// jc (NC columns) > pc (KC depth; pack the B panel) > ir (MR rows; pack one A sliver) > jr (NR) >
// micro-kernel. The A sliver (MR x KC, packed into the stack just before use) stays in L1 across the jr
// loop while B slivers stream from the panel (KC x NC) in L2. Single-threaded: sgemm (matmul.cpp) gives
// each thread its own block of C.
template <class T>
void blocked(const anvil::gemm::Args& g, float* pb) {
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0 || g.alpha == 0.0f) {
    scale_only(g);
    return;
  }
  if constexpr (T::kDotRows > 0) {
    // A few rows against B stored (n,k), as decoding runs its Linear layers: dot products straight
    // from B, read once. Packing would move B three times for one use.
    if (g.trans_b && g.m <= T::kDotRows && g.m * g.k <= panel_floats<T>()) {
      if (!g.trans_a) return T::dots(g, g.a, g.lda);
      for (int64_t i = 0; i < g.m; ++i)  // op(A)'s rows, gathered from A stored (k,m)
        for (int64_t p = 0; p < g.k; ++p) pb[i * g.k + p] = g.a[p * g.lda + i];
      return T::dots(g, pb, g.k);
    }
  }
  const MicroFn* micro = T::micro + (g.trans_a ? kDepth : kRows) * T::MR * 2;
  // Equal blocks rather than full ones and a stub: k = 512 runs as 2 x 256, not 384 + 128.
  const int64_t kb = round_up(ceil_div(g.k, ceil_div(g.k, T::KC)), 8);
  const int64_t nb = round_up(ceil_div(g.n, ceil_div(g.n, T::NC)), T::NR);
  alignas(64) float pa[T::MR * T::KC];
  for (int64_t jc = 0; jc < g.n; jc += nb) {
    const int64_t nc = min_of(nb, g.n - jc);
    for (int64_t pc = 0; pc < g.k; pc += kb) {
      const int64_t kc = min_of(kb, g.k - pc);
      pack_b<T>(g, pc, jc, kc, nc, pb);
      // The first depth block applies beta and bias; later ones add to what it wrote.
      const float beta = pc == 0 ? g.beta : 1.0f;
      const float* bias = pc == 0 && g.bias ? g.bias + jc : nullptr;
      for (int64_t ir = 0; ir < g.m; ir += T::MR) {
        const int mr = static_cast<int>(min_of(T::MR, g.m - ir));
        pack_a<T::MR, T::KC>(g, ir, pc, mr, kc, pa);
        float* c = g.c + ir * g.ldc + jc;
        for (int64_t jr = 0; jr < nc; jr += T::NR) {
          const int nr = static_cast<int>(min_of(T::NR, nc - jr));
          micro[(mr - 1) * 2 + (nr > T::NR / 2)](kc, pa, pb + jr * kc, c + jr, g.ldc, nr, g.alpha, beta,
                                                 bias ? bias + jr : nullptr);
        }
      }
    }
  }
}

// The micro-kernel table of a kernel template K<mr, wide, layout>:
// fns[(layout * MR + mr - 1) * 2 + wide] for mr in 1..MR.
template <template <int, int, int> class K, int MR, int mr>
constexpr void fill_micro(MicroFn* fns) {
  fns[(mr - 1) * 2] = K<mr, 0, kDepth>::run;
  fns[(mr - 1) * 2 + 1] = K<mr, 1, kDepth>::run;
  fns[(MR + mr - 1) * 2] = K<mr, 0, kRows>::run;
  fns[(MR + mr - 1) * 2 + 1] = K<mr, 1, kRows>::run;
  if constexpr (mr > 1) fill_micro<K, MR, mr - 1>(fns);
}

template <template <int, int, int> class K, int MR>
struct MicroTable {
  MicroFn fns[4 * MR];
  constexpr MicroTable() : fns{} { fill_micro<K, MR, MR>(fns); }
};

}  // namespace
