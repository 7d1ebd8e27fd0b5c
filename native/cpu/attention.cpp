// attention.cpp: fused multi-head scaled dot-product attention on fp32, forward and backward.
//   q (B,Tq,*) k, v (B,Tk,*) -> out (B,Tq,*), lse (B,H,Tq)   (token rows with strides, see anvil.h:
//   head h of a row is its columns [h*D, (h+1)*D), so q/k/v may be column blocks of one packed qkv row)
//   fwd: out_i = sum_j softmax_j(scale q_i.k_j + mask_ij) v_j ;  lse_i = log sum_j exp(scale q_i.k_j)
//        over the keys query i sees: key_mask[b][j] != 0 and, when causal, j <= i + (Tk - Tq).
//        A query that sees no key gets out = 0 and lse = -inf. lse may be 0 (inference, no bwd).
//   bwd: dq, dk, dv written (=) from q, k, v, out, lse, dout; zero for queries/keys that see nothing.
//
// Flash style: no (Tq,Tk) matrix exists, only 64x64 tiles in per-thread scratch.
//   Forward: one task per (batch, head) — or per 64-query block when there are too few heads to keep
//   every thread busy. Key blocks outside, query rows inside: each 64-key block of K is transposed
//   once, then for every 8 queries S = Q K^T, the online softmax (running max m and sum l, in log2
//   units so that exp is a bare 2^x), a rescale of the output accumulator, and O += P V.
//   Backward (FlashAttention-2): one task per (batch, head), so dq/dk/dv rows belong to one thread and
//   need no atomics. Key blocks outside: per (key block, query block) it recomputes P = exp(S - lse),
//   dP = dO V^T, dS = P (dP - rowsum(dO*O)) scale, adds dQ += dS K (head-wide scratch) and
//   dK += dS^T Q, dV += P^T dO (key-block scratch, written once when the block is done).
//   Decoding (Tq <= 4) forms scores by dot products instead of transposing K.
//
// Every product is one small GEMM with the same register-tiled micro-kernel (4 rows x 4 vectors of
// accumulators, or 8 x 2 with AVX-512's 32 registers), written with GCC vector types and compiled
// three times, for AVX-512, AVX2+FMA and baseline x86-64 (target attributes, chosen once at run time
// from the CPU's features: target_clones cannot pick a different vector width per clone). Q, V, dO
// and K rows are read in place; only K^T (and V^T in the backward) are packed, through register
// transposes. Causal tiles on the diagonal are trimmed per group of 8 queries (and 8 keys in the
// backward), so a causal call does about half the work of a full one. Results do not depend on the
// thread count.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "common.h"
#include "parallel.h"

ANVIL_PARAMS_CHECK(anvil_attention_params, ANVIL_ATTENTION_SLOTS);

using namespace anvil;

// Vector types of 64, 32 and 16 bytes travel only inside always_inline code of matching targets.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace {

#define ANVIL_INLINE inline __attribute__((always_inline))

constexpr int64_t kBlockQ = 64;   // queries per tile
constexpr int64_t kBlockK = 64;   // keys per tile
constexpr int kRows = 8;          // query (or key) rows handled together
constexpr int64_t kDotRows = 4;   // up to this many queries (decoding), scores are dot products
constexpr int64_t kPad = 16;      // packed widths round up to this (a multiple of every vector width)
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef int32_t v4i __attribute__((vector_size(16)));

template <class V>
struct Lanes;
template <>
struct Lanes<v16> {
  using I = v16i;
  static constexpr int W = 16;
};
template <>
struct Lanes<v8> {
  using I = v8i;
  static constexpr int W = 8;
};
template <>
struct Lanes<v4> {
  using I = v4i;
  static constexpr int W = 4;
};

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

struct Problem {
  const float *q, *k, *v, *out, *dout;
  float *out_w, *lse;
  const int32_t* mask;
  float *dq, *dk, *dv;
  int64_t batch, heads, tq, tk, d;
  int64_t qr, kr, vr, orow, qb, kb, vb, ob;  // row and batch strides
  bool causal;
  float scale;
  int64_t offset() const { return tk - tq; }  // bottom-right causal alignment
};

// Number of keys of the block starting at j0 (nk of them) that query i sees through the causal rule.
ANVIL_INLINE int64_t causal_limit(const Problem& p, int64_t i, int64_t j0, int64_t nk) {
  if (!p.causal) return nk;
  int64_t lim = i + p.offset() - j0 + 1;
  return lim < 0 ? 0 : (lim > nk ? nk : lim);
}

template <class V>
ANVIL_INLINE V vload(const float* src) {
  V v;
  __builtin_memcpy(&v, src, sizeof(V));
  return v;
}

template <class V>
ANVIL_INLINE void vstore(float* dst, const V& v) {
  __builtin_memcpy(dst, &v, sizeof(V));
}

template <class V>
ANVIL_INLINE V vmax(const V& a, const V& b) {
  return a > b ? a : b;
}

ANVIL_INLINE float hsum(const v4& v) { return (v[0] + v[2]) + (v[1] + v[3]); }
ANVIL_INLINE float hmax(const v4& v) { return std::max(std::max(v[0], v[2]), std::max(v[1], v[3])); }
template <class V, class H>
ANVIL_INLINE void halves(const V& v, H* lo, H* hi) {
  __builtin_memcpy(lo, &v, sizeof(H));
  __builtin_memcpy(hi, reinterpret_cast<const char*>(&v) + sizeof(H), sizeof(H));
}
ANVIL_INLINE float hsum(const v8& v) {
  v4 a, b;
  halves(v, &a, &b);
  return hsum(a + b);
}
ANVIL_INLINE float hmax(const v8& v) {
  v4 a, b;
  halves(v, &a, &b);
  return hmax(vmax(a, b));
}
ANVIL_INLINE float hsum(const v16& v) {
  v8 a, b;
  halves(v, &a, &b);
  return hsum(a + b);
}
ANVIL_INLINE float hmax(const v16& v) {
  v8 a, b;
  halves(v, &a, &b);
  return hmax(vmax(a, b));
}

// Lane indices 0..W-1 as int32.
template <class V>
ANVIL_INLINE typename Lanes<V>::I iota() {
  typename Lanes<V>::I v;
  for (int i = 0; i < Lanes<V>::W; i++) v[i] = i;
  return v;
}

// 2^t for t <= 0 (scores minus their max, in log2 units), 0 below 2^-126 so nothing is denormal.
// n = round(t), 2^(t-n) by a degree-6 fit on [-0.5, 0.5] (1.4 ulp), times 2^n built in the exponent
// field. 16 vector operations where exp() would need ~22.
template <class V>
ANVIL_INLINE V exp2_neg(const V& t) {
  using I = typename Lanes<V>::I;
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  V x = vmax(t, V{} - 127.0f);
  x = x < 127.0f ? x : V{} + 127.0f;
  const V r = x + kMagic;
  const V f = x - (r - kMagic);
  V poly = V{} + 1.535360789e-4f;
  poly = poly * f + 1.339888899e-3f;
  poly = poly * f + 9.618436918e-3f;
  poly = poly * f + 5.550332367e-2f;
  poly = poly * f + 2.402264774e-1f;
  poly = poly * f + 6.931471825e-1f;
  poly = poly * f + 1.0f;
  const I bits = ((I)r + 127) << 23;
  const V result = poly * (V)bits;
  return t < -126.0f ? V{} : result;
}

template <class V>
ANVIL_INLINE float exp2_scalar(float t) {
  return exp2_neg<V>(V{} + t)[0];
}

// C (R, NV*W) (+)= A (R, K) B (K, NV*W): A(r, k) = a[r*ar + k*ak] is broadcast, B's row k starts at
// b + k*bs, C's row r at c + r*cs. The R*NV accumulators stay in registers for the whole K loop.
template <class V, int R, int NV, bool ACC>
ANVIL_INLINE void micro_tile(int64_t kk, const float* a, int64_t ar, int64_t ak, const float* b, int64_t bs,
                             float* c, int64_t cs) {
  constexpr int W = sizeof(V) / sizeof(float);
  V acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int n = 0; n < NV; n++) acc[r][n] = ACC ? vload<V>(c + r * cs + n * W) : V{};
  for (int64_t k = 0; k < kk; k++) {
    V bv[NV];
#pragma GCC unroll 8
    for (int n = 0; n < NV; n++) bv[n] = vload<V>(b + k * bs + n * W);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      V av = a[r * ar + k * ak] - V{};  // a broadcast (x - 0 folds to x; x + 0 would not)
#pragma GCC unroll 8
      for (int n = 0; n < NV; n++) acc[r][n] += av * bv[n];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int n = 0; n < NV; n++) vstore<V>(c + r * cs + n * W, acc[r][n]);
}

template <class V, int NV, bool ACC>
ANVIL_INLINE void micro_rows(int64_t m, int64_t kk, const float* a, int64_t ar, int64_t ak, const float* b,
                             int64_t bs, float* c, int64_t cs) {
  int64_t r = 0;
  // 16 accumulators where there are 32 vector registers (AVX-512); at most 12 with 16 (AVX2, SSE).
  constexpr int R = NV <= 2 && sizeof(V) == 64 ? 8 : 4;
  for (; r + R <= m; r += R) micro_tile<V, R, NV, ACC>(kk, a + r * ar, ar, ak, b, bs, c + r * cs, cs);
  for (; r + 4 <= m; r += 4) micro_tile<V, 4, NV, ACC>(kk, a + r * ar, ar, ak, b, bs, c + r * cs, cs);
  for (; r < m; r++) micro_tile<V, 1, NV, ACC>(kk, a + r * ar, ar, ak, b, bs, c + r * cs, cs);
}

// C (m, n) (+)= A (m, kk) B (kk, n) for any n: register tiles of NV vectors, then one or two vectors,
// then scalar columns (only when n is not a multiple of the vector width, e.g. an odd head_dim).
template <class V, int NV, bool ACC>
ANVIL_INLINE void gemm_impl(int64_t m, int64_t n, int64_t kk, const float* a, int64_t ar, int64_t ak,
                            const float* b, int64_t bs, float* c, int64_t cs) {
  constexpr int W = sizeof(V) / sizeof(float);
  int64_t n0 = 0;
  for (; n0 + NV * W <= n; n0 += NV * W) micro_rows<V, NV, ACC>(m, kk, a, ar, ak, b + n0, bs, c + n0, cs);
  if (NV > 2 && n0 + 2 * W <= n) {
    micro_rows<V, 2, ACC>(m, kk, a, ar, ak, b + n0, bs, c + n0, cs);
    n0 += 2 * W;
  }
  for (; n0 + W <= n; n0 += W) micro_rows<V, 1, ACC>(m, kk, a, ar, ak, b + n0, bs, c + n0, cs);
  for (; n0 < n; n0++) {
    for (int64_t r = 0; r < m; r++) {
      float s = ACC ? c[r * cs + n0] : 0.0f;
      for (int64_t k = 0; k < kk; k++) s += a[r * ar + k * ak] * b[k * bs + n0];
      c[r * cs + n0] = s;
    }
  }
}

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// One query row of a score tile in the forward: s (ncols, a multiple of kPad) holds q.k for this key
// block; the first lim columns are visible (plus bias, when a key mask gives one). Updates the running
// max m (log2 units of scaled scores) and sum l, rescales the output row o (d) by 2^(m_old - m_new)
// and leaves p = 2^(c s + bias - m) in s (0 where not visible), c = scale * log2(e).
template <class V>
ANVIL_INLINE void softmax_row(float* s, const float* bias, int64_t ncols, int64_t lim, float c, float* m, float* l,
                              float* o, int64_t d) {
  using I = typename Lanes<V>::I;
  constexpr int W = Lanes<V>::W;
  const V ninf = V{} + kNegInf;
  const I lane = iota<V>();
  V mx = ninf;
  for (int32_t c0 = 0; c0 < ncols; c0 += W) {
    V x = vload<V>(s + c0) * c;  // scaled first: a negative scale reverses the order
    if (bias) x += vload<V>(bias + c0);
    mx = vmax(mx, lane + c0 < (int32_t)lim ? x : ninf);
  }
  const float smax = hmax(mx);
  if (smax == kNegInf) {  // sees no key of this block: contributes nothing
    for (int32_t c0 = 0; c0 < ncols; c0 += W) vstore<V>(s + c0, V{});
    return;
  }
  const float mnew = std::max(*m, smax);
  V sum = V{};
  for (int32_t c0 = 0; c0 < ncols; c0 += W) {
    V t = vload<V>(s + c0) * c - mnew;
    if (bias) t += vload<V>(bias + c0);
    const V pe = exp2_neg<V>(lane + c0 < (int32_t)lim ? t : ninf);
    vstore<V>(s + c0, pe);
    sum += pe;
  }
  const float alpha = exp2_scalar<V>(*m - mnew);
  *l = *l * alpha + hsum(sum);
  *m = mnew;
  if (alpha != 1.0f)
    for (int64_t e = 0; e < d; e++) o[e] *= alpha;
}

// One query row of the backward: from s = q.k and dp = dO.v for this key block, p = 2^(c s + bias -
// lse2) where visible (lse2 = lse * log2(e)), ds = p (dp - di) scale; zero from ncols to npad.
template <class V>
ANVIL_INLINE void grad_row(float* s, float* dp, const float* bias, int64_t ncols, int64_t npad, int64_t lim, float c,
                           float lse2, float di, float scale) {
  using I = typename Lanes<V>::I;
  constexpr int W = Lanes<V>::W;
  const V ninf = V{} + kNegInf;
  const I lane = iota<V>();
  for (int32_t c0 = 0; c0 < ncols; c0 += W) {
    V t = vload<V>(s + c0) * c - lse2;
    if (bias) t += vload<V>(bias + c0);
    const V pe = exp2_neg<V>(lane + c0 < (int32_t)lim ? t : ninf);
    vstore<V>(s + c0, pe);
    vstore<V>(dp + c0, pe * (vload<V>(dp + c0) - di) * scale);
  }
  for (int64_t c0 = ncols; c0 < npad; c0 += W) {  // vector stores: a memset call per row costs more
    vstore<V>(s + c0, V{});
    vstore<V>(dp + c0, V{});
  }
}

// The bias of the keys [j0, j0+n): 0 where attended, -inf where key_mask says no (or past Tk).
ANVIL_INLINE void key_bias(const Problem& p, int64_t b, int64_t j0, int64_t nk, int64_t n, float* bias) {
  const int32_t* mask = p.mask ? p.mask + b * p.tk + j0 : nullptr;
  for (int64_t c = 0; c < n; c++) bias[c] = c < nk && (!mask || mask[c] != 0) ? 0.0f : kNegInf;
}

// Stage s of a W x W register transpose swaps bit s of the row index with bit s of the lane index,
// for the row pair (a, b) = (i, i + s): lo gets a's lanes without bit s and b's shifted in, hi the rest.
template <int S, class V, size_t... L>
ANVIL_INLINE void transpose_stage(V& a, V& b, std::index_sequence<L...>) {
  constexpr int W = sizeof...(L);
  const V lo = __builtin_shufflevector(a, b, ((L & S) ? W + L - S : L)...);
  const V hi = __builtin_shufflevector(a, b, ((L & S) ? W + L : L + S)...);
  a = lo;
  b = hi;
}

template <int S, class V>
ANVIL_INLINE void transpose_stages(V* r) {
  constexpr int W = Lanes<V>::W;
  if constexpr (S < W) {
#pragma GCC unroll 16
    for (int i = 0; i < W; i++)
      if ((i & S) == 0) transpose_stage<S>(r[i], r[i + S], std::make_index_sequence<W>{});
    transpose_stages<2 * S>(r);
  }
}

// Kt (d, ld) columns [0, n) = keys rows [0, nk) of src transposed, zero past nk: W x W blocks through
// registers (log2 W rounds of two-source shuffles), scalar at the ragged edges.
template <class V>
ANVIL_INLINE void pack_transposed(const float* src, int64_t rs, int64_t nk, int64_t d, int64_t n, float* kt,
                                  int64_t ld) {
  constexpr int W = Lanes<V>::W;
  const int64_t nkv = nk / W * W, dv = d / W * W;
  for (int64_t c0 = 0; c0 < nkv; c0 += W) {
    for (int64_t e0 = 0; e0 < dv; e0 += W) {
      V r[W];
#pragma GCC unroll 16
      for (int i = 0; i < W; i++) r[i] = vload<V>(src + (c0 + i) * rs + e0);
      transpose_stages<1>(r);
#pragma GCC unroll 16
      for (int i = 0; i < W; i++) vstore<V>(kt + (e0 + i) * ld + c0, r[i]);
    }
    for (int64_t e = dv; e < d; e++)
      for (int64_t c = c0; c < c0 + W; c++) kt[e * ld + c] = src[c * rs + e];
  }
  for (int64_t e = 0; e < d; e++) {
    for (int64_t c = nkv; c < nk; c++) kt[e * ld + c] = src[c * rs + e];
    for (int64_t c = nk; c < n; c++) kt[e * ld + c] = 0.0f;
  }
}

// S (rows, n) = Q (rows, d) K^T for keys [0, nk) read in place, 0 past nk: one dot product per score,
// four keys at a time so that the horizontal sums overlap. For a few queries (decoding) this beats
// transposing the key block for the micro-kernel.
template <class V>
ANVIL_INLINE void scores_by_dots(int64_t rows, int64_t nk, int64_t n, int64_t d, const float* q, int64_t qr,
                                 const float* k, int64_t kr, float* s, int64_t ss) {
  constexpr int W = Lanes<V>::W;
  const int64_t dv = d / W * W;
  for (int64_t r = 0; r < rows; r++) {
    const float* qrow = q + r * qr;
    float* srow = s + r * ss;
    int64_t c = 0;
    for (; c + 4 <= nk; c += 4) {
      const float* k0 = k + c * kr;
      V a0{}, a1{}, a2{}, a3{};
      for (int64_t e = 0; e < dv; e += W) {
        const V qv = vload<V>(qrow + e);
        a0 += qv * vload<V>(k0 + e);
        a1 += qv * vload<V>(k0 + kr + e);
        a2 += qv * vload<V>(k0 + 2 * kr + e);
        a3 += qv * vload<V>(k0 + 3 * kr + e);
      }
      float s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
      for (int64_t e = dv; e < d; e++) {
        s0 += qrow[e] * k0[e];
        s1 += qrow[e] * k0[kr + e];
        s2 += qrow[e] * k0[2 * kr + e];
        s3 += qrow[e] * k0[3 * kr + e];
      }
      srow[c] = s0;
      srow[c + 1] = s1;
      srow[c + 2] = s2;
      srow[c + 3] = s3;
    }
    for (; c < nk; c++) {
      const float* kc = k + c * kr;
      V a{};
      for (int64_t e = 0; e < dv; e += W) a += vload<V>(qrow + e) * vload<V>(kc + e);
      float acc = hsum(a);
      for (int64_t e = dv; e < d; e++) acc += qrow[e] * kc[e];
      srow[c] = acc;
    }
    for (; c < n; c++) srow[c] = 0.0f;
  }
}

// C (m, n) = or += A (m, kk) B (kk, n), strides as in micro_tile; one per instruction set.
using GemmFn = void (*)(int64_t m, int64_t n, int64_t kk, const float* a, int64_t ar, int64_t ak, const float* b,
                        int64_t bs, float* c, int64_t cs);

// A forward task covers up to this many query blocks of one head: each key block is transposed once
// for all of them.
constexpr int64_t kTaskBlocks = 8;

// Scratch floats one forward task needs.
int64_t fwd_scratch(int64_t d) {
  return round_up(d * kBlockK, kPad) + kRows * kBlockK + kBlockK + 2 * kTaskBlocks * kBlockQ +
         round_up(kTaskBlocks * kBlockQ * d, kPad);
}

// One forward task: queries [i_begin, i_end) (at most kTaskBlocks blocks) of head h of batch b. Key
// blocks outside, query blocks inside, so K is transposed once per task; m, l and the unnormalized
// output of every query of the task live in scratch until the last key block.
template <class V, GemmFn GEMM_SET, GemmFn GEMM_ADD>
ANVIL_INLINE void fwd_task(const Problem& p, int64_t b, int64_t h, int64_t i_begin, int64_t i_end, float* ws) {
  const int64_t d = p.d;
  const int64_t nq_task = i_end - i_begin;
  float* kt = ws;                                  // (d, kBlockK) K^T of the key block
  float* s = kt + round_up(d * kBlockK, kPad);     // (kRows, kBlockK) scores, then probabilities
  float* bias = s + kRows * kBlockK;               // (kBlockK) 0 or -inf per key
  float* m = bias + kBlockK;                       // (nq_task) running max, log2 units
  float* l = m + kTaskBlocks * kBlockQ;            // (nq_task) running sum
  float* o = l + kTaskBlocks * kBlockQ;            // (nq_task, d) unnormalized output
  const float* q = p.q + b * p.qb + h * d + i_begin * p.qr;
  const float* k = p.k + b * p.kb + h * d;
  const float* v = p.v + b * p.vb + h * d;
  const float c = p.scale * kLog2e;
  // Decided by Tq, not by the task's share of it: results do not depend on the thread count.
  const bool dots = p.tq <= kDotRows;

  for (int64_t r = 0; r < nq_task; r++) {
    m[r] = kNegInf;
    l[r] = 0.0f;
  }
  for (int64_t e = 0; e < nq_task * d; e++) o[e] = 0.0f;

  int64_t kend = p.tk;
  if (p.causal) kend = std::min(kend, i_end + p.offset());
  for (int64_t j0 = 0; j0 < kend; j0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, kend - j0);
    const int64_t npad = round_up(nk, kPad);
    const float* kbias = nullptr;
    if (p.mask) {
      key_bias(p, b, j0, nk, npad, bias);
      bool any = false;
      for (int64_t e = 0; e < nk; e++) any |= bias[e] == 0.0f;
      if (!any) continue;
      kbias = bias;
    }
    if (!dots) pack_transposed<V>(k + j0 * p.kr, p.kr, nk, d, npad, kt, kBlockK);
    // Query rows in increasing order, 8 at a time: the group's last row sees the most keys.
    for (int64_t r0 = 0; r0 < nq_task; r0 += kRows) {
      const int64_t rows = std::min<int64_t>(kRows, nq_task - r0);
      const int64_t glim = causal_limit(p, i_begin + r0 + rows - 1, j0, nk);
      if (glim <= 0) continue;
      const int64_t ncols = round_up(glim, kPad);
      if (dots) {
        scores_by_dots<V>(rows, glim, ncols, d, q + r0 * p.qr, p.qr, k + j0 * p.kr, p.kr, s, kBlockK);
      } else {
        GEMM_SET(rows, ncols, d, q + r0 * p.qr, p.qr, 1, kt, kBlockK, s, kBlockK);
      }
      for (int64_t r = 0; r < rows; r++)
        softmax_row<V>(s + r * kBlockK, kbias, ncols, causal_limit(p, i_begin + r0 + r, j0, nk), c, m + r0 + r,
                       l + r0 + r, o + (r0 + r) * d, d);
      GEMM_ADD(rows, d, glim, s, kBlockK, 1, v + j0 * p.vr, p.vr, o + r0 * d, d);
    }
  }

  float* out = p.out_w + b * p.ob + h * d + i_begin * p.orow;
  float* lse = p.lse ? p.lse + (b * p.heads + h) * p.tq + i_begin : nullptr;
  for (int64_t r = 0; r < nq_task; r++) {
    const float lr = l[r];
    const float inv = lr > 0.0f ? 1.0f / lr : 0.0f;
    float* orow = out + r * p.orow;
    for (int64_t e = 0; e < d; e++) orow[e] = o[r * d + e] * inv;
    if (lse) lse[r] = lr > 0.0f ? m[r] * kLn2 + std::log(lr) : kNegInf;
  }
}

int64_t bwd_scratch(const Problem& p) {
  return 4 * round_up(p.d * kBlockK, kPad) + kBlockK + round_up(p.tq, kPad) + 2 * kBlockQ * kBlockK +
         round_up(p.tq * p.d, kPad);
}

// The backward of one (batch, head), key blocks outside (FlashAttention-2): each key block's dK and dV
// accumulate in scratch over the query blocks that see it and are written once; dQ of the whole head
// accumulates in scratch and is written at the end. dq/dk/dv rows of this head belong to this call.
template <class V, GemmFn GEMM_SET, GemmFn GEMM_ADD>
ANVIL_INLINE void bwd_head(const Problem& p, int64_t b, int64_t h, float* ws) {
  const int64_t d = p.d, tq = p.tq, tk = p.tk;
  const int64_t tile = round_up(d * kBlockK, kPad);
  float* kt = ws;                            // (d, kBlockK) K^T of the key block
  float* vt = kt + tile;                     // (d, kBlockK) V^T
  float* dkb = vt + tile;                    // (kBlockK, d) dK of the key block
  float* dvb = dkb + tile;                   // (kBlockK, d) dV
  float* bias = dvb + tile;                  // (kBlockK)
  float* drow = bias + kBlockK;              // (tq) rowsum(dO * O)
  float* ps = drow + round_up(tq, kPad);     // (kBlockQ, kBlockK) P
  float* ds = ps + kBlockQ * kBlockK;        // (kBlockQ, kBlockK) dP, then dS
  float* dqh = ds + kBlockQ * kBlockK;       // (tq, d) dQ of the head
  const float* q = p.q + b * p.qb + h * d;
  const float* k = p.k + b * p.kb + h * d;
  const float* v = p.v + b * p.vb + h * d;
  const float* o = p.out + b * p.ob + h * d;
  const float* dout = p.dout + b * p.ob + h * d;
  const float* lse = p.lse + (b * p.heads + h) * tq;
  const float scale = p.scale;
  const float c = scale * kLog2e;

  for (int64_t i = 0; i < tq; i++) {
    float acc = 0.0f;
    const float* orow = o + i * p.orow;
    const float* grow = dout + i * p.orow;
#pragma omp simd reduction(+ : acc)
    for (int64_t e = 0; e < d; e++) acc += orow[e] * grow[e];
    drow[i] = acc;
  }
  for (int64_t e = 0; e < tq * d; e++) dqh[e] = 0.0f;

  for (int64_t j0 = 0; j0 < tk; j0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, tk - j0);
    const int64_t npad = round_up(nk, kPad);
    const float* kbias = nullptr;
    bool any = true;  // some key of the block may be attended
    if (p.mask) {
      key_bias(p, b, j0, nk, npad, bias);
      any = false;
      for (int64_t e = 0; e < nk; e++) any |= bias[e] == 0.0f;
      kbias = bias;
    }
    for (int64_t e = 0; e < nk * d; e++) dkb[e] = dvb[e] = 0.0f;
    if (any) {
      pack_transposed<V>(k + j0 * p.kr, p.kr, nk, d, npad, kt, kBlockK);
      pack_transposed<V>(v + j0 * p.vr, p.vr, nk, d, npad, vt, kBlockK);
    }
    // Under a causal mask, queries before j0 - (Tk - Tq) see none of these keys.
    const int64_t ifirst = p.causal ? std::max<int64_t>(0, (j0 - p.offset()) / kBlockQ * kBlockQ) : 0;
    for (int64_t i0 = any ? ifirst : tq; i0 < tq; i0 += kBlockQ) {
      const int64_t nq = std::min(kBlockQ, tq - i0);
      // P and dS for every query row of the block (zero where a key is not seen).
      int64_t first_live = nq;  // rows before it see no key of this block: P = dS = 0
      for (int64_t r0 = 0; r0 < nq; r0 += kRows) {
        const int64_t rows = std::min<int64_t>(kRows, nq - r0);
        const int64_t glim = causal_limit(p, i0 + r0 + rows - 1, j0, nk);
        const int64_t ncols = glim > 0 ? round_up(glim, kPad) : 0;
        float* prow = ps + r0 * kBlockK;
        float* dsrow = ds + r0 * kBlockK;
        if (ncols > 0) {
          GEMM_SET(rows, ncols, d, q + (i0 + r0) * p.qr, p.qr, 1, kt, kBlockK, prow, kBlockK);
          GEMM_SET(rows, ncols, d, dout + (i0 + r0) * p.orow, p.orow, 1, vt, kBlockK, dsrow, kBlockK);
        }
        for (int64_t r = 0; r < rows; r++) {
          const int64_t i = i0 + r0 + r;
          const float li = lse[i];
          const int64_t lim = li == kNegInf ? 0 : causal_limit(p, i, j0, nk);
          if (lim > 0 && first_live == nq) first_live = r0 + r;
          grad_row<V>(prow + r * kBlockK, dsrow + r * kBlockK, kbias, ncols, npad, lim, c, li * kLog2e, drow[i],
                      scale);
        }
        // dQ (rows, d) += dS (rows, glim) K (glim, d)
        if (ncols > 0) GEMM_ADD(rows, d, glim, dsrow, kBlockK, 1, k + j0 * p.kr, p.kr, dqh + (i0 + r0) * d, d);
      }
      if (first_live >= nq) continue;
      // dV (keys, d) += P^T dO and dK += dS^T Q, per group of 8 keys from the first query that sees
      // the group's first key (earlier rows of P are zero).
      for (int64_t c0 = 0; c0 < nk; c0 += kRows) {
        const int64_t keys = std::min<int64_t>(kRows, nk - c0);
        int64_t r_begin = first_live;
        if (p.causal) r_begin = std::max(r_begin, j0 + c0 - p.offset() - i0);
        if (r_begin >= nq) continue;
        const int64_t nrows = nq - r_begin;
        GEMM_ADD(keys, d, nrows, ps + r_begin * kBlockK + c0, 1, kBlockK, dout + (i0 + r_begin) * p.orow, p.orow,
                 dvb + c0 * d, d);
        GEMM_ADD(keys, d, nrows, ds + r_begin * kBlockK + c0, 1, kBlockK, q + (i0 + r_begin) * p.qr, p.qr,
                 dkb + c0 * d, d);
      }
    }
    float* dk = p.dk + b * p.kb + h * d + j0 * p.kr;
    float* dv = p.dv + b * p.vb + h * d + j0 * p.vr;
    for (int64_t j = 0; j < nk; j++) {
      for (int64_t e = 0; e < d; e++) dk[j * p.kr + e] = dkb[j * d + e];
      for (int64_t e = 0; e < d; e++) dv[j * p.vr + e] = dvb[j * d + e];
    }
  }
  float* dq = p.dq + b * p.qb + h * d;
  for (int64_t i = 0; i < tq; i++)
    for (int64_t e = 0; e < d; e++) dq[i * p.qr + e] = dqh[i * d + e];
}

using FwdFn = void (*)(const Problem&, int64_t, int64_t, int64_t, int64_t, float*);
using BwdFn = void (*)(const Problem&, int64_t, int64_t, float*);

struct Kernels {
  const char* name;
  FwdFn fwd;
  BwdFn bwd;
};

// One instruction set: its GEMMs, forward task and backward head, all compiled for TARGET.
#define ANVIL_ATTENTION_ISA(NAME, VEC, NV, TARGET)                                                           \
  struct NAME {                                                                                            \
    TARGET static void gemm_set(int64_t m, int64_t n, int64_t kk, const float* a, int64_t ar, int64_t ak,  \
                                const float* b, int64_t bs, float* c, int64_t cs) {                        \
      gemm_impl<VEC, NV, false>(m, n, kk, a, ar, ak, b, bs, c, cs);                                        \
    }                                                                                                      \
    TARGET static void gemm_add(int64_t m, int64_t n, int64_t kk, const float* a, int64_t ar, int64_t ak,  \
                                const float* b, int64_t bs, float* c, int64_t cs) {                        \
      gemm_impl<VEC, NV, true>(m, n, kk, a, ar, ak, b, bs, c, cs);                                         \
    }                                                                                                      \
    TARGET static void fwd(const Problem& p, int64_t b, int64_t h, int64_t i0, int64_t i1, float* ws) {    \
      fwd_task<VEC, gemm_set, gemm_add>(p, b, h, i0, i1, ws);                                              \
    }                                                                                                      \
    TARGET static void bwd(const Problem& p, int64_t b, int64_t h, float* ws) {                            \
      bwd_head<VEC, gemm_set, gemm_add>(p, b, h, ws);                                                      \
    }                                                                                                      \
  };

#define ANVIL_NO_TARGET
ANVIL_ATTENTION_ISA(Generic, v4, 3, ANVIL_NO_TARGET)
#if defined(__x86_64__) && !defined(ANVIL_NO_MULTIVERSION)
ANVIL_ATTENTION_ISA(Avx2, v8, 3, __attribute__((target("avx2,fma"))))
ANVIL_ATTENTION_ISA(Avx512, v16, 4, __attribute__((target("avx512f,avx2,fma"))))
#endif

bool cpu_has(const char* isa) {
#if defined(__x86_64__) && !defined(ANVIL_NO_MULTIVERSION)
  __builtin_cpu_init();
  const bool fma = __builtin_cpu_supports("fma");
  if (std::strcmp(isa, "avx512") == 0) return __builtin_cpu_supports("avx512f") && fma;
  if (std::strcmp(isa, "avx2") == 0) return __builtin_cpu_supports("avx2") && fma;
#endif
  return std::strcmp(isa, "generic") == 0;
}

Kernels kernels_for(const char* isa) {
#if defined(__x86_64__) && !defined(ANVIL_NO_MULTIVERSION)
  if (std::strcmp(isa, "avx512") == 0) return Kernels{"avx512", Avx512::fwd, Avx512::bwd};
  if (std::strcmp(isa, "avx2") == 0) return Kernels{"avx2", Avx2::fwd, Avx2::bwd};
#endif
  return Kernels{"generic", Generic::fwd, Generic::bwd};
}

// The best set this CPU runs, unless attention_force_isa() chose another.
Kernels& kernels() {
  static Kernels chosen = kernels_for(cpu_has("avx512") ? "avx512" : cpu_has("avx2") ? "avx2" : "generic");
  return chosen;
}

// Checks what native code can check cheaply and fills the Problem. bwd also needs the gradients.
int prepare(const anvil_attention_params* a, bool bwd, Problem* p) {
  const char* op = bwd ? "attention_bwd" : "attention_fwd";
  if (!a) return fail(ANVIL_E_INVALID, "%s: null params", op);
  if (a->batch < 0 || a->heads < 1 || a->q_len < 0 || a->k_len < 0 || a->head_dim < 1)
    return fail(ANVIL_E_INVALID, "%s: bad sizes batch=%lld heads=%lld q_len=%lld k_len=%lld head_dim=%lld", op,
                (long long)a->batch, (long long)a->heads, (long long)a->q_len, (long long)a->k_len,
                (long long)a->head_dim);
  const int64_t width = a->heads * a->head_dim;
  if (a->q_row_stride < width || a->k_row_stride < width || a->v_row_stride < width || a->o_row_stride < width)
    return fail(ANVIL_E_INVALID, "%s: a row stride is below heads*head_dim=%lld", op, (long long)width);
  if (!a->q || !a->k || !a->v || !a->out || (bwd && !a->lse))
    return fail(ANVIL_E_INVALID, "%s: q, k, v, out%s are required", op, bwd ? " and lse" : "");
  if (bwd && (!a->dout || !a->dq || !a->dk || !a->dv))
    return fail(ANVIL_E_INVALID, "%s: dout, dq, dk and dv are required", op);
  *p = Problem{ptr<const float>(a->q), ptr<const float>(a->k), ptr<const float>(a->v), ptr<const float>(a->out),
               ptr<const float>(a->dout), ptr<float>(a->out), ptr<float>(a->lse), ptr<const int32_t>(a->key_mask),
               ptr<float>(a->dq), ptr<float>(a->dk), ptr<float>(a->dv), a->batch, a->heads, a->q_len, a->k_len,
               a->head_dim, a->q_row_stride, a->k_row_stride, a->v_row_stride, a->o_row_stride,
               a->q_batch_stride, a->k_batch_stride, a->v_batch_stride, a->o_batch_stride, a->causal != 0,
               static_cast<float>(a->scale)};
  return ANVIL_OK;
}

// Per-thread scratch, one slab per OpenMP thread, 64-byte aligned slices.
struct Scratch {
  float* base = nullptr;
  int64_t per_thread = 0;
  ~Scratch() { std::free(base); }
  bool allocate(int64_t floats, int threads) {
    per_thread = round_up(floats, 16);
    size_t bytes = static_cast<size_t>(per_thread) * threads * sizeof(float);
    base = static_cast<float*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
    return base != nullptr;
  }
  float* of(int thread) const { return base + per_thread * thread; }
};

}  // namespace

namespace anvil {

// For checks and benchmarks that compare the instruction sets on one machine (not exported; not to be
// called while an attention call runs). Refuses (false) a set this CPU lacks.
bool attention_force_isa(const char* isa) {
  if (!cpu_has(isa)) return false;
  kernels() = kernels_for(isa);
  return true;
}

const char* attention_isa() { return kernels().name; }

}  // namespace anvil

extern "C" int anvil_cpu_attention_fwd(const anvil_attention_params* params) {
  Problem p;
  if (int rc = prepare(params, false, &p)) return rc;
  const int64_t qblocks = (p.tq + kBlockQ - 1) / kBlockQ;
  const int64_t heads = p.batch * p.heads;
  if (qblocks == 0 || heads == 0) return ANVIL_OK;
  const int threads_max = max_threads();
  // Whole heads (up to kTaskBlocks query blocks) per task when there are enough heads to share out;
  // single query blocks otherwise (one long sequence still uses every thread).
  const int64_t per_task = heads >= 4 * threads_max ? std::min(qblocks, kTaskBlocks) : 1;
  const int64_t chunks = (qblocks + per_task - 1) / per_task;
  const int64_t tasks = heads * chunks;
  // A fan-out costs microseconds (a scheduler slice when a core is busy); decoding's one query row per
  // head is about 0.1 MFLOP a head, so small problems stay on the calling thread: one thread per 2 MFLOP.
  const double work = 4.0 * static_cast<double>(heads) * static_cast<double>(p.tq) * static_cast<double>(p.tk) *
                      static_cast<double>(p.d);
  const int64_t by_work = std::max<int64_t>(1, static_cast<int64_t>(work / (2.0 * (1 << 20))));
  const int threads = static_cast<int>(std::min<int64_t>(std::min<int64_t>(threads_max, tasks), by_work));
  Scratch scratch;
  if (!scratch.allocate(fwd_scratch(p.d), threads))
    return fail(ANVIL_E_NOMEM, "attention_fwd: out of memory for scratch");
  const FwdFn fwd = kernels().fwd;
  // Later query blocks see more keys under a causal mask: hand them out first.
  parallel_tasks(tasks, threads, [&](int64_t t, int slot) {
    const int64_t chunk = chunks - 1 - t % chunks;
    const int64_t bh = t / chunks;
    const int64_t i0 = chunk * per_task * kBlockQ;
    const int64_t i1 = std::min(p.tq, i0 + per_task * kBlockQ);
    fwd(p, bh / p.heads, bh % p.heads, i0, i1, scratch.of(slot));
  });
  return ANVIL_OK;
}

extern "C" int anvil_cpu_attention_bwd(const anvil_attention_params* params) {
  Problem p;
  if (int rc = prepare(params, true, &p)) return rc;
  const int64_t tasks = p.batch * p.heads;
  if (tasks == 0) return ANVIL_OK;
  const int threads = static_cast<int>(std::min<int64_t>(max_threads(), tasks));
  Scratch scratch;
  if (!scratch.allocate(bwd_scratch(p), threads))
    return fail(ANVIL_E_NOMEM, "attention_bwd: out of memory for scratch");
  const BwdFn bwd = kernels().bwd;
  parallel_tasks(tasks, threads, [&](int64_t t, int slot) { bwd(p, t / p.heads, t % p.heads, scratch.of(slot)); });
  return ANVIL_OK;
}
