// attention/simt.cuh: the SIMT attention kernels (one warp per query row or key row, online softmax, fp32
// math): the product's path for fp32 mode, head dims other than 64 and 128 and unaligned layouts, and
// version 1 of the playground (kernels/dev/attention). Correct for every case the C ABI allows,
// head_dim <= 256; the contract is attention.cu's. q, k, v, out, dout, dq, dk, dv fp32 or bf16; lse fp32.
//   fwd: out = softmax(scale q k^T + masks) v, lse = log-sum-exp (a query that sees no key: 0, -inf).
//   bwd: kernel 1 walks keys per query row (dq, and delta_i = dout_i . out_i into scratch); kernel 2 walks
//        queries per key row (dk, dv). No atomics: deterministic.
// Each lane holds R = head_dim/32 (rounded up to 1, 2, 4 or 8) elements of a row; every score is one
// warp reduction. No data reuse across rows beyond what L1/L2 give: a stand-in, not a fast kernel.
#pragma once

#include "common.cuh"
#include "tensor_core.cuh"

namespace anvil::attn_simt {

constexpr int kWarps = 4;

struct Rows {
  int64_t b, h, t;  // batch, head, and the token (query or key) this warp owns
};

__device__ __forceinline__ bool warp_row(const anvil_attention_params& p, int64_t len, Rows& r) {
  const int64_t w = blockIdx.x * (int64_t)kWarps + (threadIdx.x >> 5);
  if (w >= p.batch * p.heads * len) return false;
  r.t = w % len;
  const int64_t bh = w / len;
  r.h = bh % p.heads;
  r.b = bh / p.heads;
  return true;
}

// The R elements of one head row owned by this lane: d = lane + 32 r.
template <typename T, int R>
__device__ __forceinline__ void load_row(const T* row, int64_t dim, float (&out)[R], float scale = 1.0f) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t d = lane + 32 * r;
    out[r] = d < dim ? scale * load(row, d) : 0.0f;
  }
}

template <typename T, int R>
__device__ __forceinline__ void store_row(T* row, int64_t dim, const float (&in)[R], float scale) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t d = lane + 32 * r;
    if (d < dim) store(row, d, scale * in[r]);
  }
}

// dot(x, row) over the head, summed across the warp (every lane gets it).
template <typename T, int R>
__device__ __forceinline__ float row_dot(const float (&x)[R], const T* row, int64_t dim) {
  float v[R];
  load_row<T, R>(row, dim, v);
  float s = 0;
#pragma unroll
  for (int r = 0; r < R; ++r) s += x[r] * v[r];
  return warp_sum(s);
}

__device__ __forceinline__ int64_t last_key(const anvil_attention_params& p, int64_t i) {
  const int64_t last = p.causal ? i + (p.k_len - p.q_len) : p.k_len - 1;
  return last < p.k_len - 1 ? last : p.k_len - 1;
}

// out (b, i, h, :) and lse (b, h, i) of one query row per warp.
template <typename T, int R>
__global__ void __launch_bounds__(kWarps * 32) attention_fwd_kernel(const anvil_attention_params p) {
  Rows r;
  if (!warp_row(p, p.q_len, r)) return;
  const int64_t dim = p.head_dim, i = r.t;
  const T* q = dptr<const T>(p.q) + r.b * p.q_batch_stride + i * p.q_row_stride + r.h * dim;
  const T* k = dptr<const T>(p.k) + r.b * p.k_batch_stride + r.h * dim;
  const T* v = dptr<const T>(p.v) + r.b * p.v_batch_stride + r.h * dim;
  const int* mask = p.key_mask ? dptr<const int>(p.key_mask) + r.b * p.k_len : nullptr;
  float qs[R], acc[R] = {};
  load_row<T, R>(q, dim, qs, static_cast<float>(p.scale));
  float m = -INFINITY, l = 0.0f;
  const int64_t last = last_key(p, i);
  for (int64_t j = 0; j <= last; ++j) {
    if (mask && mask[j] == 0) continue;
    const float s = row_dot<T, R>(qs, k + j * p.k_row_stride, dim);
    const float m_new = fmaxf(m, s);
    const float correction = __expf(m - m_new);  // 0 while m is -inf
    const float e = __expf(s - m_new);
    float vj[R];
    load_row<T, R>(v + j * p.v_row_stride, dim, vj);
    l = l * correction + e;
#pragma unroll
    for (int x = 0; x < R; ++x) acc[x] = acc[x] * correction + e * vj[x];
    m = m_new;
  }
  T* out = dptr<T>(p.out) + r.b * p.o_batch_stride + i * p.o_row_stride + r.h * dim;
  store_row<T, R>(out, dim, acc, l > 0.0f ? 1.0f / l : 0.0f);
  if (p.lse && (threadIdx.x & 31) == 0)
    dptr<float>(p.lse)[(r.b * p.heads + r.h) * p.q_len + i] = l > 0.0f ? m + __logf(l) : -INFINITY;
}

// dq (b, i, h, :) of one query row per warp; delta (b, h, i) = dout_i . out_i into scratch.
template <typename T, int R>
__global__ void __launch_bounds__(kWarps * 32) attention_bwd_dq_kernel(const anvil_attention_params p, float* delta) {
  Rows r;
  if (!warp_row(p, p.q_len, r)) return;
  const int64_t dim = p.head_dim, i = r.t, row = (r.b * p.heads + r.h) * p.q_len + i;
  const float scale = static_cast<float>(p.scale);
  const T* dout = dptr<const T>(p.dout) + r.b * p.o_batch_stride + i * p.o_row_stride + r.h * dim;
  const T* out = dptr<const T>(p.out) + r.b * p.o_batch_stride + i * p.o_row_stride + r.h * dim;
  float g[R], dq[R] = {};
  load_row<T, R>(dout, dim, g);
  const float d_i = row_dot<T, R>(g, out, dim);
  if ((threadIdx.x & 31) == 0) delta[row] = d_i;
  const float lse = dptr<const float>(p.lse)[row];
  if (lse != -INFINITY) {
    const T* q = dptr<const T>(p.q) + r.b * p.q_batch_stride + i * p.q_row_stride + r.h * dim;
    const T* k = dptr<const T>(p.k) + r.b * p.k_batch_stride + r.h * dim;
    const T* v = dptr<const T>(p.v) + r.b * p.v_batch_stride + r.h * dim;
    const int* mask = p.key_mask ? dptr<const int>(p.key_mask) + r.b * p.k_len : nullptr;
    float qs[R];
    load_row<T, R>(q, dim, qs, scale);
    const int64_t last = last_key(p, i);
    for (int64_t j = 0; j <= last; ++j) {
      if (mask && mask[j] == 0) continue;
      const T* kj = k + j * p.k_row_stride;
      const float prob = __expf(row_dot<T, R>(qs, kj, dim) - lse);
      const float ds = prob * (row_dot<T, R>(g, v + j * p.v_row_stride, dim) - d_i);
      float kv[R];
      load_row<T, R>(kj, dim, kv);
#pragma unroll
      for (int x = 0; x < R; ++x) dq[x] += ds * kv[x];
    }
  }
  T* dqr = dptr<T>(p.dq) + r.b * p.q_batch_stride + i * p.q_row_stride + r.h * dim;
  store_row<T, R>(dqr, dim, dq, scale);
}

// dk, dv (b, j, h, :) of one key row per warp.
template <typename T, int R>
__global__ void __launch_bounds__(kWarps * 32)
attention_bwd_dkdv_kernel(const anvil_attention_params p, const float* delta) {
  Rows r;
  if (!warp_row(p, p.k_len, r)) return;
  const int64_t dim = p.head_dim, j = r.t;
  const float scale = static_cast<float>(p.scale);
  const T* kj = dptr<const T>(p.k) + r.b * p.k_batch_stride + j * p.k_row_stride + r.h * dim;
  const T* vj = dptr<const T>(p.v) + r.b * p.v_batch_stride + j * p.v_row_stride + r.h * dim;
  float kv[R], vv[R], dk[R] = {}, dv[R] = {};
  load_row<T, R>(kj, dim, kv, scale);
  load_row<T, R>(vj, dim, vv);
  const bool masked = p.key_mask && dptr<const int>(p.key_mask)[r.b * p.k_len + j] == 0;
  if (!masked) {
    const int64_t first = p.causal ? j - (p.k_len - p.q_len) : 0;
    const T* q = dptr<const T>(p.q) + r.b * p.q_batch_stride + r.h * dim;
    const T* dout = dptr<const T>(p.dout) + r.b * p.o_batch_stride + r.h * dim;
    const float* lse = dptr<const float>(p.lse) + (r.b * p.heads + r.h) * p.q_len;
    const float* dl = delta + (r.b * p.heads + r.h) * p.q_len;
    for (int64_t i = first > 0 ? first : 0; i < p.q_len; ++i) {
      const float l = lse[i];
      if (l == -INFINITY) continue;
      const T* qi = q + i * p.q_row_stride;
      const T* gi = dout + i * p.o_row_stride;
      const float prob = __expf(row_dot<T, R>(kv, qi, dim) - l);
      const float ds = prob * (row_dot<T, R>(vv, gi, dim) - dl[i]);
      float qv[R], gv[R];
      load_row<T, R>(qi, dim, qv);
      load_row<T, R>(gi, dim, gv);
#pragma unroll
      for (int x = 0; x < R; ++x) {
        dv[x] += prob * gv[x];
        dk[x] += ds * qv[x];
      }
    }
  }
  store_row<T, R>(dptr<T>(p.dk) + r.b * p.k_batch_stride + j * p.k_row_stride + r.h * dim, dim, dk, scale);
  store_row<T, R>(dptr<T>(p.dv) + r.b * p.v_batch_stride + j * p.v_row_stride + r.h * dim, dim, dv, 1.0f);
}

inline unsigned blocks_of(int64_t rows) { return static_cast<unsigned>((rows + kWarps - 1) / kWarps); }

template <typename T, int R>
cudaError_t fwd(const anvil_attention_params& p, cudaStream_t s) {
  auto kernel = attention_fwd_kernel<T, R>;
  ANVIL_LAUNCH(kernel, blocks_of(p.batch * p.heads * p.q_len), kWarps * 32, 0, s)(p);
  return cudaGetLastError();
}

// delta: batch * heads * q_len floats of scratch.
template <typename T, int R>
cudaError_t bwd(const anvil_attention_params& p, float* delta, cudaStream_t s) {
  auto dq = attention_bwd_dq_kernel<T, R>;
  ANVIL_LAUNCH(dq, blocks_of(p.batch * p.heads * p.q_len), kWarps * 32, 0, s)(p, delta);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  auto dkdv = attention_bwd_dkdv_kernel<T, R>;
  ANVIL_LAUNCH(dkdv, blocks_of(p.batch * p.heads * p.k_len), kWarps * 32, 0, s)(p, delta);
  return cudaGetLastError();
}

// R = head_dim / 32 rounded up to a power of two; head_dim <= 256 and the grid size are the caller's
// checks (attention.cu).
template <typename T>
cudaError_t launch_fwd(const anvil_attention_params& p, cudaStream_t s) {
  if (p.head_dim <= 32) return fwd<T, 1>(p, s);
  if (p.head_dim <= 64) return fwd<T, 2>(p, s);
  if (p.head_dim <= 128) return fwd<T, 4>(p, s);
  return fwd<T, 8>(p, s);
}

template <typename T>
cudaError_t launch_bwd(const anvil_attention_params& p, float* delta, cudaStream_t s) {
  if (p.head_dim <= 32) return bwd<T, 1>(p, delta, s);
  if (p.head_dim <= 64) return bwd<T, 2>(p, delta, s);
  if (p.head_dim <= 128) return bwd<T, 4>(p, delta, s);
  return bwd<T, 8>(p, delta, s);
}

}  // namespace anvil::attn_simt
