// matmul.cu: the C ABI of matmul (anvil.h) on CUDA: fp32 or bf16 inputs, fp32 accumulation.
//   fwd: C[b] (m,n) = alpha * op(A[b]) (m,k) @ op(B[b]) (k,n) + bias (n) [+ C[b] when accumulate]
//        op(A) = A stored (m,k), or A^T of A stored (k,m) when trans_a; op(B) = B stored (k,n), or B^T of
//        B stored (n,k) when trans_b. stride_* are batch strides in elements (0 broadcasts one matrix).
//   bwd: da (A's storage, dtype; =, or += when accumulate_da) = alpha * dC op(B)^T, transposed when trans_a
//        db (B's storage, fp32; +=, or = when !accumulate_db) = alpha * op(A)^T dC, transposed when trans_b
//        dbias (n, fp32) += column sums of dC over every row of every batch item
//   A broadcast input's gradient (stride 0) sums over the batch: items run in order, the first writes or
//   accumulates as asked and the rest add. Same products and transposes as native/cpu/matmul.cpp.
//   gelu = 1 (anvil.h): the forward's epilogue stores v = alpha acc + bias into pre (when given, dtype) and
//   C = gelu_tanh(v), in every kernel (the tensor-core ones instantiate kGelu for bf16 output only: a
//   forward's output has the input's dtype); accumulate is refused with it. The backward runs
//   anvil_cuda_gelu_bwd (gelu.cu, the unfused op's kernel) from pre and dC into a dtype scratch dpre, then
//   the plain backward from dpre.
// Every product (forward, da, db) is one call of gemm() below, which picks the kernel (kernel_for):
//   - bf16 on a device of compute capability 9.0 (Hopper) when the wgmma kernel's preconditions hold
//     (matmul/gemm_sm90.cuh: k > 0, leading dimensions and batch strides multiples of 8 elements, pointers
//     16-byte aligned): TMA + wgmma, persistent, every layout, any m, n (tails zero-filled / predicated);
//   - bf16 on compute capability 8.0 or later when the mma.sync kernel's preconditions hold
//     (matmul/gemm_sm80.cuh: the same alignment rule, k = 0 allowed): mma.sync + ldmatrix + cp.async;
//   - everything else (fp32 mode, odd leading dimensions, misaligned views): the SIMT kernel
//     (matmul/gemm_simt.cuh), correct for every case the ABI allows.
// The dispatch depends only on the arguments, the device and the process-wide cap set by
// anvil_cuda_matmul_limit_kernel (tests use it to run the sm_80 path on Hopper), never on timing: one
// input always takes the same kernel, so results are reproducible run to run. anvil_cuda_matmul_fwd_kernel
// says which kernel a forward call takes. dbias is two deterministic kernels (matmul/column_sums.cuh).
#include "common.cuh"
#include "matmul/column_sums.cuh"
#include "matmul/gemm_simt.cuh"
#include "matmul/gemm_sm80.cuh"
#include "matmul/gemm_sm90.cuh"
#include "matmul/split_k.cuh"

#include <atomic>
#include <type_traits>

ANVIL_PARAMS_CHECK(anvil_matmul_params, ANVIL_MATMUL_SLOTS);

namespace {

using namespace anvil;

// One operand of a product: op(X) is X stored row-major with leading dimension ld, or its transpose.
struct Operand {
  int64_t address;
  bool trans;
  int64_t ld;
  int64_t stride;  // batch stride in elements; 0 broadcasts
};

// The forward's activation: gelu, and where the pre-activation goes (0: nowhere; C's layout and dtype).
struct Epilogue {
  bool gelu = false;
  int64_t pre = 0;
};

// c (m,n; leading dimension ldc) = [c +] sum, rounded once: the end of a bf16 sum over batch items.
template <typename T>
__global__ void round_sum_kernel(const float* sum, T* c, int64_t m, int64_t n, int64_t ldc, bool accumulate) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m * n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t at = (i / n) * ldc + i % n;
    store(c, at, (accumulate ? load(c, at) : 0.f) + sum[i]);
  }
}

// The most capable kernel any product may take (ANVIL_GEMM_*; anvil_cuda_matmul_limit_kernel).
std::atomic<int> kernel_cap{ANVIL_GEMM_WGMMA_SM90};

// The kernel the header's rule picks for one product (ANVIL_GEMM_*).
template <typename Tin>
int kernel_for(int64_t batch, int64_t m, int64_t n, int64_t k, const Operand& a, const Operand& b, int64_t c,
               int64_t ldc, int64_t stride_c, int64_t bias, const Epilogue& epi = {}) {
  if constexpr (std::is_same_v<Tin, bf16>) {
    if (!aligned16(epi.pre)) return ANVIL_GEMM_SIMT;  // pair stores of pre, as of C
    const int cap = kernel_cap.load(std::memory_order_relaxed);
    const tc::DeviceInfo dev = tc::device_info();
    const void *pa = dptr<const void>(a.address), *pb = dptr<const void>(b.address), *pc = dptr<const void>(c),
               *pbias = dptr<const void>(bias);
    if (cap >= ANVIL_GEMM_WGMMA_SM90 &&
        gemm90::gemm_sm90_supported(dev.cc / 10, dev.cc % 10, pa, pb, pc, pbias, m, n, k, a.ld, b.ld, ldc, a.stride,
                                    b.stride, stride_c, batch))
      return ANVIL_GEMM_WGMMA_SM90;
    if (cap >= ANVIL_GEMM_MMA_SM80 && dev.cc >= 80 &&
        gemm::gemm_sm80_supported(pa, pb, pc, pbias, a.ld, b.ld, ldc, a.stride, b.stride, stride_c))
      return ANVIL_GEMM_MMA_SM80;
  }
  return ANVIL_GEMM_SIMT;
}

template <bool kAT, bool kBT, typename Tout>
cudaError_t launch_sm90(cudaStream_t s, int64_t batch, int64_t m, int64_t n, int64_t k, float alpha,
                        const Operand& a, const Operand& b, int64_t c, int64_t ldc, int64_t stride_c, bool accumulate,
                        int64_t bias, const Epilogue& epi) {
  gemm90::Args g{dptr<void>(c), dptr<const bf16>(bias), m, n, k, ldc, stride_c, alpha, accumulate ? 1 : 0, 0, 0,
                 static_cast<int>(batch), 0, 0, 0, dptr<void>(epi.pre)};
  const bf16 *pa = dptr<const bf16>(a.address), *pb = dptr<const bf16>(b.address);
  const int sms = tc::device_info().sms;
  if constexpr (std::is_same_v<Tout, bf16>) {
    if (epi.gelu)
      return gemm90::launch_gemm_sm90<kAT, kBT, Tout, true>(pa, pb, a.ld, b.ld, a.stride, b.stride, g, sms, 0, s);
  }
  return gemm90::launch_gemm_sm90<kAT, kBT, Tout>(pa, pb, a.ld, b.ld, a.stride, b.stride, g, sms, 0, s);
}

template <bool kAT, bool kBT, typename Tout>
cudaError_t launch_sm80(const gemm::MmaArgs& g, const Epilogue& epi, cudaStream_t s) {
  if constexpr (std::is_same_v<Tout, bf16>) {
    if (epi.gelu) return gemm::launch_gemm_sm80<kAT, kBT, Tout, true>(g, s);
  }
  return gemm::launch_gemm_sm80<kAT, kBT, Tout>(g, s);
}

// One product (batch items batch, or one when the caller loops) on the kernel kernel_for picks. A gelu
// epilogue comes only with Tout == Tin (matmul_fwd).
template <typename Tin, typename Tout>
cudaError_t launch_product(cudaStream_t s, int64_t batch, int64_t m, int64_t n, int64_t k, float alpha,
                           const Operand& a, const Operand& b, int64_t c, int64_t ldc, int64_t stride_c,
                           bool accumulate, int64_t bias, const Epilogue& epi) {
  const int kernel = kernel_for<Tin>(batch, m, n, k, a, b, c, ldc, stride_c, bias, epi);
  if constexpr (std::is_same_v<Tin, bf16>) {
    if (kernel == ANVIL_GEMM_WGMMA_SM90) {
      if (!a.trans && b.trans) return launch_sm90<false, true, Tout>(s, batch, m, n, k, alpha, a, b, c, ldc, stride_c, accumulate, bias, epi);
      if (!a.trans && !b.trans) return launch_sm90<false, false, Tout>(s, batch, m, n, k, alpha, a, b, c, ldc, stride_c, accumulate, bias, epi);
      if (a.trans && !b.trans) return launch_sm90<true, false, Tout>(s, batch, m, n, k, alpha, a, b, c, ldc, stride_c, accumulate, bias, epi);
      return launch_sm90<true, true, Tout>(s, batch, m, n, k, alpha, a, b, c, ldc, stride_c, accumulate, bias, epi);
    }
    if (kernel == ANVIL_GEMM_MMA_SM80) {
      gemm::MmaArgs g{dptr<const bf16>(a.address), dptr<const bf16>(b.address), dptr<void>(c),
                      dptr<const bf16>(bias), m, n, k, a.ld, b.ld, ldc, a.stride, b.stride, stride_c, batch,
                      alpha, accumulate ? 1 : 0, 0, 0, dptr<void>(epi.pre)};
      if (!a.trans && b.trans) return launch_sm80<false, true, Tout>(g, epi, s);   // x W^T (forward)
      if (!a.trans && !b.trans) return launch_sm80<false, false, Tout>(g, epi, s); // dY W (input grad)
      if (a.trans && !b.trans) return launch_sm80<true, false, Tout>(g, epi, s);   // dY^T x (weight grad)
      return launch_sm80<true, true, Tout>(g, epi, s);
    }
  }
  gemm::SimtArgs g{dptr<const void>(a.address), dptr<const void>(b.address), dptr<void>(c), dptr<const void>(bias),
                   m, n, k, a.ld, b.ld, ldc, a.stride, b.stride, stride_c, batch, alpha, accumulate, a.trans,
                   b.trans, epi.gelu, dptr<void>(epi.pre)};
  return gemm::launch_gemm_simt<Tin, Tout>(g, s);
}

// C[z] (m,n) = alpha op(A[z]) op(B[z]) + bias [+ C[z]] for z < batch. A C with batch stride 0 (the
// gradient of a broadcast input) sums the items: one launch per item, in order, adding after the first.
// epi (a gelu) only with a C of its own per item (stride_c != 0 or batch 1): the forward.
template <typename Tin, typename Tout>
int gemm(cudaStream_t s, int64_t batch, int64_t m, int64_t n, int64_t k, float alpha, Operand a, Operand b,
         int64_t c, int64_t ldc, int64_t stride_c, bool accumulate, int64_t bias, const Epilogue& epi = {}) {
  if (m <= 0 || n <= 0 || batch <= 0) return ANVIL_OK;
  if ((m + gemm::kSimtTileM - 1) / gemm::kSimtTileM > 65535)
    return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda matmul: m > 4194240");
  if constexpr (std::is_same_v<Tin, bf16>) {
    // A weight gradient's small output from many rows: split k when its tiles fill under half the SMs.
    if (batch == 1 && a.trans && !b.trans && !epi.gelu && n % 8 == 0 &&
        kernel_for<Tin>(1, m, n, k, a, b, c, ldc, 0, bias) == ANVIL_GEMM_WGMMA_SM90) {
      const int sms = tc::device_info().sms;
      if (const int64_t slices = splitk::slices_for(m, n, k, sms); slices > 1)
        return splitk::gemm_split_k<Tout>(s, slices, m, n, k, alpha, dptr<const bf16>(a.address), a.ld,
                                          dptr<const bf16>(b.address), b.ld, dptr<Tout>(c), ldc, accumulate,
                                          dptr<const bf16>(bias), sms);
    }
  }
  if (stride_c == 0 && batch > 1 && !std::is_same_v<Tout, float>) {
    // A bf16 sum over the items: the items go into an fp32 scratch (m,n) and C is rounded once at the
    // end, so a broadcast input's gradient is no worse than one rounding of the exact sum.
    Scratch scratch(s);
    ANVIL_CUDA_CHECK(scratch.allocate(sizeof(float) * m * n));
    if (int rc = gemm<Tin, float>(s, batch, m, n, k, alpha, a, b, reinterpret_cast<int64_t>(scratch.at<float>(0)),
                                  n, 0, false, bias))
      return rc;
    const int64_t total = m * n;
    const int64_t blocks = (total + 255) / 256 < 65535 * 8 ? (total + 255) / 256 : 65535 * 8;
    ANVIL_LAUNCH(round_sum_kernel<Tout>, blocks, 256, 0, s)(scratch.at<float>(0), dptr<Tout>(c), m, n, ldc,
                                                            accumulate);
    return ANVIL_OK;
  }
  if (stride_c == 0 && batch > 1) {
    for (int64_t z = 0; z < batch; ++z) {
      Operand az = a, bz = b;
      az.address += z * a.stride * static_cast<int64_t>(sizeof(Tin));
      bz.address += z * b.stride * static_cast<int64_t>(sizeof(Tin));
      az.stride = bz.stride = 0;
      if (cudaError_t e = launch_product<Tin, Tout>(s, 1, m, n, k, alpha, az, bz, c, ldc, 0, z > 0 || accumulate,
                                                    bias, {});
          e != cudaSuccess)
        return cuda_fail(e, "matmul kernel", __FILE__, __LINE__);
    }
    return ANVIL_OK;
  }
  if (cudaError_t e = launch_product<Tin, Tout>(s, batch, m, n, k, alpha, a, b, c, ldc, stride_c, accumulate, bias, epi);
      e != cudaSuccess)
    return cuda_fail(e, "matmul kernel", __FILE__, __LINE__);
  return ANVIL_OK;
}

// A Linear-style batch (shared B, rows of A and C stacked contiguously) runs as one product of batch*m rows.
bool folds(const anvil_matmul_params* p) {
  return p->batch > 1 && p->stride_b == 0 && !p->trans_a && p->stride_a == p->m * p->k &&
         p->stride_c == p->m * p->n;
}

// The forward as one product: a foldable batch becomes batch*m rows of one product.
struct Product {
  int64_t batch, m, n, k;
  Operand a, b;
  int64_t c, ldc, stride_c;
};
Product forward_product(const anvil_matmul_params* p) {
  const int64_t m = p->m, n = p->n, k = p->k;
  const bool ta = p->trans_a != 0, tb = p->trans_b != 0;
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  if (folds(p)) return {1, p->batch * m, n, k, {p->a, false, lda, 0}, {p->b, tb, ldb, 0}, p->c, n, 0};
  return {p->batch, m, n, k, {p->a, ta, lda, p->stride_a}, {p->b, tb, ldb, p->stride_b}, p->c, n, p->stride_c};
}

// The gelu and pre fields' rule (anvil.h), for fwd and bwd.
int check_epilogue(const anvil_matmul_params* p) {
  if (p->gelu != 0 && p->gelu != 1)
    return anvil_set_error(ANVIL_E_INVALID, "cuda matmul: gelu must be 0 (none) or 1 (tanh)");
  if (p->gelu && p->accumulate)
    return anvil_set_error(ANVIL_E_INVALID, "cuda matmul: accumulate is not supported with the gelu epilogue");
  if (p->gelu && p->pre && p->pre == p->c) return anvil_set_error(ANVIL_E_INVALID, "cuda matmul: pre must not be c");
  return ANVIL_OK;
}

template <typename T>
int matmul_fwd(const anvil_matmul_params* p, cudaStream_t s) {
  if (p->batch > 1 && p->stride_c == 0)
    return anvil_set_error(ANVIL_E_INVALID, "cuda matmul_fwd: stride_c 0 would write every batch item to one C");
  if (int rc = check_epilogue(p)) return rc;
  const Product f = forward_product(p);
  const Epilogue epi{p->gelu != 0, p->gelu ? p->pre : 0};
  return gemm<T, T>(s, f.batch, f.m, f.n, f.k, static_cast<float>(p->alpha), f.a, f.b, f.c, f.ldc, f.stride_c,
                    p->accumulate != 0, p->bias, epi);
}

template <typename T>
int fwd_kernel(const anvil_matmul_params* p, int64_t* kernel) {
  const Product f = forward_product(p);
  const Epilogue epi{p->gelu != 0, p->gelu ? p->pre : 0};
  *kernel = f.m <= 0 || f.n <= 0 || f.batch <= 0 ? 0
                                                 : kernel_for<T>(f.batch, f.m, f.n, f.k, f.a, f.b, f.c, f.ldc,
                                                                 f.stride_c, p->bias, epi);
  return ANVIL_OK;
}

template <typename T>
int matmul_bwd(const anvil_matmul_params* p, cudaStream_t s);

// gelu: dpre (dtype scratch, dC's layout) = dC * gelu'(pre) by gelu.cu's kernel, then the plain backward.
template <typename T>
int matmul_gelu_bwd(const anvil_matmul_params* p, cudaStream_t s) {
  if (!p->da && !p->db && !p->dbias) return ANVIL_OK;
  if (!p->dc || !p->pre) return anvil_set_error(ANVIL_E_INVALID, "cuda matmul_bwd: the gelu epilogue needs dc and pre");
  anvil_matmul_params q = *p;
  q.gelu = 0;
  q.pre = 0;
  const int64_t item = p->m * p->n;
  if (item <= 0 || p->batch <= 0) return matmul_bwd<T>(&q, s);
  const bool packed = p->batch == 1 || p->stride_c == item;
  const int64_t elements = packed ? p->batch * item : (p->batch - 1) * p->stride_c + item;
  Scratch scratch(s);
  ANVIL_CUDA_CHECK(scratch.allocate(sizeof(T) * elements));
  const int64_t dtype = std::is_same_v<T, bf16> ? ANVIL_BF16 : ANVIL_F32;
  for (int64_t z = 0; z < (packed ? 1 : p->batch); ++z) {
    const int64_t at = z * p->stride_c * static_cast<int64_t>(sizeof(T));
    anvil_gelu_params g{};
    g.x = p->pre + at;
    g.dy = p->dc + at;
    g.dx = reinterpret_cast<int64_t>(scratch.at<T>(0)) + at;
    g.n = packed ? elements : item;
    g.approximate = 1;
    if (int rc = anvil_cuda_gelu_bwd(&g, dtype, reinterpret_cast<int64_t>(s))) return rc;
  }
  q.dc = reinterpret_cast<int64_t>(scratch.at<T>(0));
  return matmul_bwd<T>(&q, s);
}

template <typename T>
int matmul_bwd(const anvil_matmul_params* p, cudaStream_t s) {
  if (int rc = check_epilogue(p)) return rc;
  if (p->gelu) return matmul_gelu_bwd<T>(p, s);
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
  // dC is contiguous (the output of the forward): batch*m rows of n (matmul/column_sums.cuh).
  if (p->dbias && m > 0 && n > 0 && batch > 0) return colsum::column_sums<T>(p->dc, p->dbias, batch * m, n, true, s);
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

ANVIL_API int anvil_cuda_matmul_limit_kernel(int64_t kernel) {
  if (kernel < ANVIL_GEMM_SIMT || kernel > ANVIL_GEMM_WGMMA_SM90)
    return anvil_set_error(ANVIL_E_INVALID, "cuda matmul_limit_kernel: kernel must be ANVIL_GEMM_SIMT (1), "
                                            "ANVIL_GEMM_MMA_SM80 (2) or ANVIL_GEMM_WGMMA_SM90 (3)");
  kernel_cap.store(static_cast<int>(kernel), std::memory_order_relaxed);
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_matmul_fwd_kernel(const anvil_matmul_params* p, int64_t dtype, int64_t* kernel) {
  if (!p || !kernel) return anvil_set_error(ANVIL_E_INVALID, "cuda matmul_fwd_kernel: null argument");
  ANVIL_DISPATCH_FLOAT(dtype, "matmul_fwd_kernel", fwd_kernel, p, kernel);
}

}  // extern "C"
