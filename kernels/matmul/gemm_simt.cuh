// matmul/gemm_simt.cuh: the SIMT GEMM (fp32 FMA, no tensor cores): the product's path for fp32 mode and
// for bf16 products the tensor-core kernel does not take (gemm_sm80.cuh: unaligned rows or pointers),
// and version 1 of the playground (kernels/dev/gemm). Correct for everything the C ABI allows.
//   C[z] (m,n) = alpha * op(A[z]) (m,k) @ op(B[z]) (k,n) + bias (n) [+ C[z] when accumulate]
//   gelu: v = alpha * acc + bias; pre[z] (when not null, C's type and layout) = v; C = gelu_tanh(v)
//   [+ C]; the epilogue of gemm_sm80.cuh, here a run-time flag (this kernel is not the fast path).
//   op(A) = A stored (m,k), or A^T of A stored (k,m) when trans_a; op(B) = B stored (k,n), or B^T of B
//   stored (n,k) when trans_b. stride_* are batch strides in elements (0 broadcasts one matrix).
// Tiles of 64x64 outputs, 16 deep; 256 threads each own a 4x4 block of outputs spaced 16 apart (so the
// shared-memory reads of a warp are conflict-free); operands are converted to fp32 when staged. Each FMA
// needs half a shared-memory load, so shared memory caps it near half the fp32 FMA rate.
#pragma once

#include "common.cuh"
#include "matmul/epilogue.cuh"
#include "tensor_core.cuh"

namespace anvil::gemm {

constexpr int kSimtTileM = 64, kSimtTileN = 64, kSimtTileK = 16, kSimtThreads = 256;

struct SimtArgs {
  const void* a;
  const void* b;
  void* c;
  const void* bias;
  int64_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, batch;
  float alpha;
  bool accumulate, trans_a, trans_b;
  bool gelu;
  void* pre;  // (batch, m, n) like c, or null: v before the gelu (gelu only)
};

// C (m,n) = alpha * op(A) (m,k) op(B) (k,n) + bias [+ C], for every batch item blockIdx.z + i*gridDim.z.
// grid: x = n tiles, y = m tiles, z = batch items.
template <typename Tin, typename Tout>
__global__ void __launch_bounds__(kSimtThreads, 2) gemm_simt_kernel(SimtArgs g) {
  __shared__ float as[kSimtTileK][kSimtTileM + 1];
  __shared__ float bs[kSimtTileK][kSimtTileN + 1];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int64_t row0 = blockIdx.y * (int64_t)kSimtTileM, col0 = blockIdx.x * (int64_t)kSimtTileN;
  for (int64_t z = blockIdx.z; z < g.batch; z += gridDim.z) {
    const Tin* a = static_cast<const Tin*>(g.a) + z * g.stride_a;
    const Tin* b = static_cast<const Tin*>(g.b) + z * g.stride_b;
    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < g.k; k0 += kSimtTileK) {
      // Stage op(A)[row0.., k0..] as as[kk][i] and op(B)[k0.., col0..] as bs[kk][j], zero outside, with
      // consecutive threads on consecutive addresses of the stored layout.
#pragma unroll
      for (int l = 0; l < 4; ++l) {
        int i, kk;
        if (g.trans_a) { i = tid & 63; kk = (tid >> 6) + 4 * l; }
        else { kk = tid & 15; i = (tid >> 4) + 16 * l; }
        const int64_t r = row0 + i, c = k0 + kk;
        float v = 0.0f;
        if (r < g.m && c < g.k) v = load(a, g.trans_a ? c * g.lda + r : r * g.lda + c);
        as[kk][i] = v;
      }
#pragma unroll
      for (int l = 0; l < 4; ++l) {
        int j, kk;
        if (g.trans_b) { kk = tid & 15; j = (tid >> 4) + 16 * l; }
        else { j = tid & 63; kk = (tid >> 6) + 4 * l; }
        const int64_t r = k0 + kk, c = col0 + j;
        float v = 0.0f;
        if (r < g.k && c < g.n) v = load(b, g.trans_b ? c * g.ldb + r : r * g.ldb + c);
        bs[kk][j] = v;
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kSimtTileK; ++kk) {
        float x[4], y[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          x[q] = as[kk][ty + 16 * q];
          y[q] = bs[kk][tx + 16 * q];
        }
#pragma unroll
        for (int p = 0; p < 4; ++p)
#pragma unroll
          for (int q = 0; q < 4; ++q) acc[p][q] = fmaf(x[p], y[q], acc[p][q]);
      }
      __syncthreads();
    }
    Tout* c = static_cast<Tout*>(g.c) + z * g.stride_c;
    const Tin* bias = static_cast<const Tin*>(g.bias);
#pragma unroll
    for (int p = 0; p < 4; ++p) {
      const int64_t r = row0 + ty + 16 * p;
      if (r >= g.m) continue;
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int64_t col = col0 + tx + 16 * q;
        if (col >= g.n) continue;
        float v = g.alpha * acc[p][q];
        if (bias) v += load(bias, col);
        if (g.gelu) {
          if (g.pre) store(static_cast<Tout*>(g.pre) + z * g.stride_c, r * g.ldc + col, v);
          v = gelu_tanh(v);
        }
        if (g.accumulate) v += load(c, r * g.ldc + col);
        store(c, r * g.ldc + col, v);
      }
    }
  }
}

// Queues the kernel; m must fit 65535 row tiles (the launcher checks). Returns the launch's error.
template <typename Tin, typename Tout>
cudaError_t launch_gemm_simt(const SimtArgs& g, cudaStream_t s) {
  const unsigned gx = static_cast<unsigned>((g.n + kSimtTileN - 1) / kSimtTileN);
  const unsigned gy = static_cast<unsigned>((g.m + kSimtTileM - 1) / kSimtTileM);
  const unsigned gz = static_cast<unsigned>(g.batch < 65535 ? g.batch : 65535);
  auto kernel = gemm_simt_kernel<Tin, Tout>;
  ANVIL_LAUNCH(kernel, dim3(gx, gy, gz), kSimtThreads, 0, s)(g);
  return cudaGetLastError();
}

}  // namespace anvil::gemm
