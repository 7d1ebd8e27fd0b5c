// split_k.cuh: split-K for products whose output has too few tiles to fill the card, on the wgmma kernel.
// The case it is for: a Linear's weight gradient dW (out, in) = dY^T (out, rows) . X (rows, in), a TN
// product with a small output and a long k (GPT-2's attn.c_proj: 768 x 768 from k = 8192 rows is 36 tiles
// of 128 x 128 on 132 SMs; measured 172 TFLOP/s on an H200 where cuBLAS reaches 260).
//
//   partial[s] (m,n) fp32 = alpha op(A) op(B) over k rows [s*ks, (s+1)*ks)      s < S, ks = k / S
//   C (m,n) = sum_s partial[s] (in slice order) + bias [+ C when accumulate], rounded to Tout once
//
// Both operands of a TN product are stored (k, m) and (k, n): a k-slice is a block of whole rows, so the
// S slices run as S batch items of one launch of the same kernel (batch strides ks*lda and ks*ldb; the
// tensor maps see S items of ks rows). The sum runs in a fixed order: results depend only on the
// arguments, as every other dispatch choice here. Partials take S*m*n*4 bytes of stream-ordered scratch.
//
// Prediction (attn.c_proj dW, H200): S = 4 on 128 x 256 tiles = 72 CTAs of 2048 rows each instead of 36
// CTAs of 8192: ~20 us of GEMM + ~4 us for the sum (9.4 MB of partials read once) = ~25 us against 56.
#pragma once

#include "../common.cuh"
#include "gemm_sm90.cuh"

namespace anvil::splitk {

constexpr int64_t kMinSliceRows = 1024;  // shorter slices spend more of their time filling the pipeline

// Tiles of a product of `batch` items at the tile width the wgmma launcher would pick.
inline int64_t tiles_for(int64_t m, int64_t n, int64_t batch, int sms) {
  const int64_t bn = gemm90::pick_bn(m, n, batch, sms);
  return ((m + gemm90::kBM - 1) / gemm90::kBM) * ((n + bn - 1) / bn) * batch;
}

// The number of slices for one (m, n, k) product on `sms` SMs: 1 (no split) unless its tiles fill less
// than half of the SMs; then the largest power of two whose slices keep every tile in one wave, are whole
// 64-row k-tiles and at least kMinSliceRows long.
inline int64_t slices_for(int64_t m, int64_t n, int64_t k, int sms) {
  if (sms <= 0 || tiles_for(m, n, 1, sms) * 2 > sms) return 1;
  int64_t s = 1;
  while (k % (2 * s * 64) == 0 && k / (2 * s) >= kMinSliceRows && tiles_for(m, n, 2 * s, sms) <= sms) s *= 2;
  return s;
}

// partials (slices, m, n) fp32 -> C (m, n) with leading dimension ldc; bias (n) bf16 or null.
template <typename Tout>
__global__ void __launch_bounds__(256) split_k_sum_kernel(const float* __restrict__ partials, Tout* c,
                                                          const bf16* __restrict__ bias, int64_t m, int64_t n,
                                                          int64_t ldc, int64_t slices, int accumulate) {
  const int64_t total = m * n, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    float v = partials[i];
    for (int64_t s = 1; s < slices; ++s) v += partials[s * total + i];
    const int64_t row = i / n, col = i - row * n, at = row * ldc + col;
    if (bias) v += load(bias, col);
    store(c, at, (accumulate ? load(c, at) : 0.f) + v);
  }
}

// C (m,n) = alpha A^T B over `slices` k-slices + bias [+ C]: A stored (k,m) with leading dimension lda, B
// stored (k,n) with ldb (both bf16, the wgmma kernel's alignment), k a multiple of slices * 64.
template <typename Tout>
int gemm_split_k(cudaStream_t stream, int64_t slices, int64_t m, int64_t n, int64_t k, float alpha, const bf16* a,
                 int64_t lda, const bf16* b, int64_t ldb, Tout* c, int64_t ldc, bool accumulate, const bf16* bias,
                 int sms) {
  const int64_t ks = k / slices, total = m * n;
  Scratch scratch(stream);
  ANVIL_CUDA_CHECK(scratch.allocate(sizeof(float) * slices * total));
  gemm90::Args g{};
  g.c = scratch.at<float>(0);
  g.m = m;
  g.n = n;
  g.k = ks;
  g.ldc = n;
  g.stride_c = total;
  g.alpha = alpha;
  g.batch = static_cast<int>(slices);
  if (cudaError_t e = gemm90::launch_gemm_sm90<true, false, float>(a, b, lda, ldb, ks * lda, ks * ldb, g, sms, 0,
                                                                   stream);
      e != cudaSuccess)
    return cuda_fail(e, "matmul kernel (split-K)", __FILE__, __LINE__);
  const int64_t blocks = (total + 255) / 256 < 65535 * 8 ? (total + 255) / 256 : 65535 * 8;
  ANVIL_LAUNCH(split_k_sum_kernel<Tout>, blocks, 256, 0, stream)(scratch.at<float>(0), c, bias, m, n, ldc, slices,
                                                                  accumulate ? 1 : 0);
  ANVIL_LAUNCH_CHECK("split_k_sum_kernel");
  return ANVIL_OK;
}

}  // namespace anvil::splitk
