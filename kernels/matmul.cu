// matmul.cu: STAND-IN GEMM (a plain shared-memory tiled SIMT kernel), correct for every case the C ABI
// allows and replaced by the tensor-core GEMM of the GEMM issue. fp32 or bf16 inputs, fp32 accumulation.
//   fwd: C[b] (m,n) = alpha * op(A[b]) (m,k) @ op(B[b]) (k,n) + bias (n) [+ C[b] when accumulate]
//        op(A) = A stored (m,k), or A^T of A stored (k,m) when trans_a; op(B) = B stored (k,n), or B^T of
//        B stored (n,k) when trans_b. stride_* are batch strides in elements (0 broadcasts one matrix).
//   bwd: da (A's storage, dtype; =, or += when accumulate_da) = alpha * dC op(B)^T, transposed when trans_a
//        db (B's storage, fp32; +=, or = when !accumulate_db) = alpha * op(A)^T dC, transposed when trans_b
//        dbias (n, fp32) += column sums of dC over every row of every batch item
//   A broadcast input's gradient (stride 0) sums over the batch: items run in order, the first writes or
//   accumulates as asked and the rest add. Same products and transposes as native/cpu/matmul.cpp.
// Tiles of 64x64 outputs, 16 deep; 256 threads each own a 4x4 block of outputs spaced 16 apart (so the
// shared-memory reads of a warp are conflict-free); operands are converted to fp32 when staged.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_matmul_params, ANVIL_MATMUL_SLOTS);

namespace {

using namespace anvil;

constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kThreads = 256;

// One operand of a product: op(X) is X stored row-major with leading dimension ld, or its transpose.
struct Operand {
  int64_t address;
  bool trans;
  int64_t ld;
  int64_t stride;  // batch stride in elements; 0 broadcasts
};

struct GemmArgs {
  const void* a;
  const void* b;
  void* c;
  const void* bias;
  int64_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, batch;
  float alpha;
  bool accumulate, trans_a, trans_b;
};

// C (m,n) = alpha * op(A) (m,k) op(B) (k,n) + bias [+ C], for every batch item blockIdx.z + i*gridDim.z.
template <typename Tin, typename Tout>
__global__ void __launch_bounds__(kThreads, 2) gemm_kernel(GemmArgs g) {
  __shared__ float as[kTileK][kTileM + 1];
  __shared__ float bs[kTileK][kTileN + 1];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int64_t row0 = blockIdx.y * (int64_t)kTileM, col0 = blockIdx.x * (int64_t)kTileN;
  for (int64_t z = blockIdx.z; z < g.batch; z += gridDim.z) {
    const Tin* a = static_cast<const Tin*>(g.a) + z * g.stride_a;
    const Tin* b = static_cast<const Tin*>(g.b) + z * g.stride_b;
    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < g.k; k0 += kTileK) {
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
      for (int kk = 0; kk < kTileK; ++kk) {
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
        if (g.accumulate) v += load(c, r * g.ldc + col);
        store(c, r * g.ldc + col, v);
      }
    }
  }
}

// dbias (n) += column sums of dc (rows, n): column partials over row splits, then one sum per column,
// both in fixed orders (deterministic).
template <typename T>
__global__ void __launch_bounds__(256)
column_partials_kernel(const T* dc, float* partials, int64_t rows, int64_t n, int64_t rows_per_split) {
  __shared__ float sums[8][33];
  const int64_t col = blockIdx.x * 32 + threadIdx.x;
  const int64_t begin = blockIdx.y * rows_per_split;
  const int64_t end = begin + rows_per_split < rows ? begin + rows_per_split : rows;
  float acc = 0;
  if (col < n)
    for (int64_t r = begin + threadIdx.y; r < end; r += 8) acc += load(dc, r * n + col);
  sums[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < n) {
    float s = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) s += sums[i][threadIdx.x];
    partials[blockIdx.y * n + col] = s;
  }
}

__global__ void column_sum_kernel(const float* partials, float* dbias, int64_t n, int64_t splits) {
  const int64_t col = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (col >= n) return;
  float s = 0;
  for (int64_t i = 0; i < splits; ++i) s += partials[i * n + col];
  dbias[col] += s;
}

// C[z] (m,n) = alpha op(A[z]) op(B[z]) + bias [+ C[z]] for z < batch. A C with batch stride 0 (the
// gradient of a broadcast input) sums the items: one launch per item, in order, adding after the first.
template <typename Tin, typename Tout>
int gemm(cudaStream_t s, int64_t batch, int64_t m, int64_t n, int64_t k, float alpha, Operand a, Operand b,
         int64_t c, int64_t ldc, int64_t stride_c, bool accumulate, int64_t bias) {
  if (m <= 0 || n <= 0 || batch <= 0) return ANVIL_OK;
  if ((m + kTileM - 1) / kTileM > 65535) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda matmul: m > 4194240");
  GemmArgs g{dptr<const void>(a.address), dptr<const void>(b.address), dptr<void>(c), dptr<const void>(bias),
             m, n, k, a.ld, b.ld, ldc, a.stride, b.stride, stride_c, batch, alpha, accumulate, a.trans, b.trans};
  const unsigned gx = static_cast<unsigned>((n + kTileN - 1) / kTileN);
  const unsigned gy = static_cast<unsigned>((m + kTileM - 1) / kTileM);
  if (stride_c == 0 && batch > 1) {
    for (int64_t z = 0; z < batch; ++z) {
      GemmArgs item = g;
      item.batch = 1;
      item.a = static_cast<const Tin*>(g.a) + z * a.stride;
      item.b = static_cast<const Tin*>(g.b) + z * b.stride;
      item.accumulate = z > 0 || accumulate;
      gemm_kernel<Tin, Tout><<<dim3(gx, gy, 1), kThreads, 0, s>>>(item);
      ANVIL_LAUNCH_CHECK("gemm_kernel");
    }
    return ANVIL_OK;
  }
  const unsigned gz = static_cast<unsigned>(batch < 65535 ? batch : 65535);
  gemm_kernel<Tin, Tout><<<dim3(gx, gy, gz), kThreads, 0, s>>>(g);
  ANVIL_LAUNCH_CHECK("gemm_kernel");
  return ANVIL_OK;
}

// A Linear-style batch (shared B, rows of A and C stacked contiguously) runs as one product of batch*m rows.
bool folds(const anvil_matmul_params* p) {
  return p->batch > 1 && p->stride_b == 0 && !p->trans_a && p->stride_a == p->m * p->k &&
         p->stride_c == p->m * p->n;
}

template <typename T>
int matmul_fwd(const anvil_matmul_params* p, cudaStream_t s) {
  if (p->batch > 1 && p->stride_c == 0)
    return anvil_set_error(ANVIL_E_INVALID, "cuda matmul_fwd: stride_c 0 would write every batch item to one C");
  const int64_t m = p->m, n = p->n, k = p->k;
  const bool ta = p->trans_a != 0, tb = p->trans_b != 0;
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  const float alpha = static_cast<float>(p->alpha);
  if (folds(p))
    return gemm<T, T>(s, 1, p->batch * m, n, k, alpha, {p->a, false, lda, 0}, {p->b, tb, ldb, 0}, p->c, n, 0,
                      p->accumulate != 0, p->bias);
  return gemm<T, T>(s, p->batch, m, n, k, alpha, {p->a, ta, lda, p->stride_a}, {p->b, tb, ldb, p->stride_b}, p->c,
                    n, p->stride_c, p->accumulate != 0, p->bias);
}

template <typename T>
int matmul_bwd(const anvil_matmul_params* p, cudaStream_t s) {
  if (!p->dc && (p->da || p->db || p->dbias)) return anvil_set_error(ANVIL_E_INVALID, "cuda matmul_bwd: null dc");
  if ((p->da && !p->b) || (p->db && !p->a))
    return anvil_set_error(ANVIL_E_INVALID, "cuda matmul_bwd: da needs b and db needs a");
  const int64_t batch = p->batch, m = p->m, n = p->n, k = p->k;
  const bool ta = p->trans_a != 0, tb = p->trans_b != 0;
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  const float alpha = static_cast<float>(p->alpha);
  const bool fold = folds(p);
  int rc = ANVIL_OK;
  if (p->da) {
    const bool acc = p->accumulate_da != 0;
    if (fold)  // (batch*m, k) = dC (batch*m, n) . op(B)^T
      rc = gemm<T, T>(s, 1, batch * m, k, n, alpha, {p->dc, false, n, 0}, {p->b, !tb, ldb, 0}, p->da, k, 0, acc, 0);
    else if (!ta)  // (m,k) = dC (m,n) . op(B)^T (n,k)
      rc = gemm<T, T>(s, batch, m, k, n, alpha, {p->dc, false, n, p->stride_c}, {p->b, !tb, ldb, p->stride_b},
                      p->da, k, p->stride_a, acc, 0);
    else  // (k,m) = op(B) (k,n) . dC^T (n,m)
      rc = gemm<T, T>(s, batch, k, m, n, alpha, {p->b, tb, ldb, p->stride_b}, {p->dc, true, n, p->stride_c},
                      p->da, m, p->stride_a, acc, 0);
    if (rc) return rc;
  }
  if (p->db) {
    const bool acc = p->accumulate_db != 0;
    if (fold && !tb)  // (k,n) = A^T (k, batch*m) . dC (batch*m, n)
      rc = gemm<T, float>(s, 1, k, n, batch * m, alpha, {p->a, true, k, 0}, {p->dc, false, n, 0}, p->db, n, 0, acc, 0);
    else if (fold)  // (n,k) = dC^T (n, batch*m) . A (batch*m, k)
      rc = gemm<T, float>(s, 1, n, k, batch * m, alpha, {p->dc, true, n, 0}, {p->a, false, k, 0}, p->db, k, 0, acc, 0);
    else if (!tb)  // (k,n) = op(A)^T (k,m) . dC (m,n)
      rc = gemm<T, float>(s, batch, k, n, m, alpha, {p->a, !ta, lda, p->stride_a}, {p->dc, false, n, p->stride_c},
                          p->db, n, p->stride_b, acc, 0);
    else  // (n,k) = dC^T (n,m) . op(A) (m,k)
      rc = gemm<T, float>(s, batch, n, k, m, alpha, {p->dc, true, n, p->stride_c}, {p->a, ta, lda, p->stride_a},
                          p->db, k, p->stride_b, acc, 0);
    if (rc) return rc;
  }
  if (p->dbias && m > 0 && n > 0 && batch > 0) {
    // dC is contiguous (the output of the forward): batch*m rows of n.
    const int64_t rows = batch * m;
    int64_t per = 64, splits = (rows + per - 1) / per;
    if (splits > 1024) {
      per = (rows + 1023) / 1024;
      splits = (rows + per - 1) / per;
    }
    if ((n + 31) / 32 > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda matmul: n too large");
    Scratch scratch(s);
    ANVIL_CUDA_CHECK(scratch.allocate(sizeof(float) * splits * n));
    column_partials_kernel<T><<<dim3(static_cast<unsigned>((n + 31) / 32), static_cast<unsigned>(splits)),
                                dim3(32, 8), 0, s>>>(dptr<const T>(p->dc), scratch.at<float>(0), rows, n, per);
    ANVIL_LAUNCH_CHECK("column_partials_kernel");
    column_sum_kernel<<<blocks_for(n, 256, INT32_MAX), 256, 0, s>>>(scratch.at<float>(0), dptr<float>(p->dbias), n,
                                                                   splits);
    ANVIL_LAUNCH_CHECK("column_sum_kernel");
  }
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_matmul_fwd(const anvil_matmul_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "matmul_fwd", matmul_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_matmul_bwd(const anvil_matmul_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "matmul_bwd", matmul_bwd, p, as_stream(stream));
}

}  // extern "C"
