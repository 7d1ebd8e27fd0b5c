// cross_entropy.cu: fused log-softmax + negative log-likelihood over the vocabulary. Logits fp32 or
// bf16, fp32 math, fp32 losses; the probabilities are never stored.
//   logits (rows, row_stride): the first `vocab` columns are real, the rest padding; targets (rows) int32.
//   fwd: losses (rows) = logsumexp(logits[r, :vocab]) - logits[r, target], 0 where target == ignore_index;
//        loss (1) = sum(losses) / normalizer.  losses may be 0 (then a scratch buffer holds them).
//   bwd: dlogits (rows, row_stride) written (=) = (softmax - onehot(target)) * grad / normalizer on the
//        first vocab columns; 0 on padding and on ignored rows.
//   bwd_dgrad: the same with grad = p->grad * (*dgrad), dgrad one fp32 in device memory (the upstream
//        gradient of the loss), so backward needs no host read and can be captured in a CUDA graph; with
//        *dgrad == g and p->grad == 1 it writes bit for bit what bwd writes with grad == g.
// A target outside [0, vocab) that is not ignore_index raises ANVIL_DEVERR_TARGET (reported by the next
// synchronize) and counts as ignored.
// One block per row: one pass of online (max, sum of exp) pairs, merged over the block; the backward
// recomputes them (one more read of the row) rather than keeping anything from the forward. The loss
// sum is one block in a fixed order, so it is deterministic.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_cross_entropy_params, ANVIL_CROSS_ENTROPY_SLOTS);

namespace {

using namespace anvil;

constexpr int kThreads = 512;

__device__ __forceinline__ void online(MaxSum& a, float v) {
  if (v == -INFINITY) return;  // exp(-inf - -inf) would be NaN; a -inf logit adds nothing
  if (v > a.m) {
    a.s = a.s * __expf(a.m - v) + 1.0f;
    a.m = v;
  } else {
    a.s += __expf(v - a.m);
  }
}

// (max, sum of exp) over logits row[0, vocab), merged over the block.
template <typename T, int N>
__device__ __forceinline__ MaxSum row_max_sum(const T* row, int64_t vocab, MaxSum* shared) {
  MaxSum a{-INFINITY, 0.0f};
  for (int64_t c = threadIdx.x * N; c < vocab; c += kThreads * N) {
    float v[N];
    load_pack<T, N>(row + c, v);
#pragma unroll
    for (int i = 0; i < N; ++i)
      if (c + i < vocab) online(a, v[i]);
  }
  return block_merge(a, shared);
}

// 0 for a row to compute, 1 for an ignored row, 2 for a bad target (raised, then ignored).
__device__ __forceinline__ int row_kind(int target, int64_t vocab, int64_t ignore_index, unsigned* error) {
  if (target == ignore_index) return 1;
  if (target < 0 || target >= vocab) {
    if (threadIdx.x == 0) *(volatile unsigned*)error = ANVIL_DEVERR_TARGET;
    return 2;
  }
  return 0;
}

// losses (rows) = logsumexp(logits[r]) - logits[r, target]
template <typename T, int N>
__global__ void __launch_bounds__(kThreads)
cross_entropy_fwd_kernel(const T* logits, const int* targets, float* losses, int64_t vocab, int64_t row_stride,
                         int64_t ignore_index, unsigned* error) {
  __shared__ MaxSum shared[32];
  const int64_t r = blockIdx.x;
  const int target = targets[r];
  if (row_kind(target, vocab, ignore_index, error) != 0) {
    if (threadIdx.x == 0) losses[r] = 0.0f;
    return;
  }
  const T* row = logits + r * row_stride;
  const MaxSum a = row_max_sum<T, N>(row, vocab, shared);
  if (threadIdx.x == 0) losses[r] = __logf(a.s) + a.m - to_float(row[target]);
}

// loss (1) = sum(losses (rows)) / normalizer, one block, fp64 partial sums in a fixed order.
__global__ void __launch_bounds__(1024)
cross_entropy_sum_kernel(const float* losses, float* loss, int64_t rows, double normalizer) {
  __shared__ double shared[32];
  double sum = 0;
  for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) sum += losses[i];
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) *loss = static_cast<float>(sum / normalizer);
}

// dlogits (rows, row_stride) = (softmax - onehot) * scale on [0, vocab); 0 elsewhere and on ignored rows.
template <typename T, int N>
__global__ void __launch_bounds__(kThreads)
cross_entropy_bwd_kernel(const T* logits, const int* targets, T* dlogits, int64_t vocab, int64_t row_stride,
                         int64_t ignore_index, float scale, const float* dgrad, double grad, double normalizer,
                         unsigned* error) {
  __shared__ MaxSum shared[32];
  if (dgrad) scale = static_cast<float>(grad * static_cast<double>(*dgrad) / normalizer);
  const int64_t r = blockIdx.x;
  const int target = targets[r];
  T* out = dlogits + r * row_stride;
  if (row_kind(target, vocab, ignore_index, error) != 0) {
    float zero[N] = {};
    for (int64_t c = threadIdx.x * N; c < row_stride; c += kThreads * N) store_pack<T, N>(out + c, zero);
    return;
  }
  const T* row = logits + r * row_stride;
  const MaxSum a = row_max_sum<T, N>(row, vocab, shared);
  const float inv = scale / a.s;
  for (int64_t c = threadIdx.x * N; c < row_stride; c += kThreads * N) {
    float v[N];
    load_pack<T, N>(row + c, v);
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const int64_t j = c + i;
      v[i] = j < vocab ? __expf(v[i] - a.m) * inv - (j == target ? scale : 0.0f) : 0.0f;
    }
    store_pack<T, N>(out + c, v);
  }
}

template <typename T>
int cross_entropy_fwd(const anvil_cross_entropy_params* p, cudaStream_t s) {
  if (p->rows <= 0) {
    ANVIL_CUDA_CHECK(cudaMemsetAsync(dptr<void>(p->loss), 0, sizeof(float), s));  // +0.0f
    return ANVIL_OK;
  }
  if (p->rows > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda cross_entropy: rows > 2^31");
  unsigned* error = device_error_word();
  if (!error) return ANVIL_E_CUDA;
  Scratch scratch(s);
  float* losses = dptr<float>(p->losses);
  if (!losses) {
    ANVIL_CUDA_CHECK(scratch.allocate(sizeof(float) * p->rows));
    losses = scratch.at<float>(0);
  }
  const T* logits = dptr<const T>(p->logits);
  const int* targets = dptr<const int>(p->targets);
  if (rows_vectorizable<T>(p->row_stride, {p->logits})) {
    auto kernel = cross_entropy_fwd_kernel<T, pack_of<T>()>;
    ANVIL_LAUNCH(kernel, static_cast<unsigned>(p->rows), kThreads, 0, s)(
        logits, targets, losses, p->vocab, p->row_stride, p->ignore_index, error);
  } else {
    auto kernel = cross_entropy_fwd_kernel<T, 1>;
    ANVIL_LAUNCH(kernel, static_cast<unsigned>(p->rows), kThreads, 0, s)(
        logits, targets, losses, p->vocab, p->row_stride, p->ignore_index, error);
  }
  ANVIL_LAUNCH_CHECK("cross_entropy_fwd_kernel");
  ANVIL_LAUNCH(cross_entropy_sum_kernel, 1, 1024, 0, s)(losses, dptr<float>(p->loss), p->rows, p->normalizer);
  ANVIL_LAUNCH_CHECK("cross_entropy_sum_kernel");
  return ANVIL_OK;
}

template <typename T>
int cross_entropy_bwd(const anvil_cross_entropy_params* p, cudaStream_t s, const float* dgrad) {
  if (p->rows <= 0) return ANVIL_OK;
  if (p->rows > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda cross_entropy: rows > 2^31");
  unsigned* error = device_error_word();
  if (!error) return ANVIL_E_CUDA;
  const float scale = static_cast<float>(p->grad / p->normalizer);
  const T* logits = dptr<const T>(p->logits);
  const int* targets = dptr<const int>(p->targets);
  T* dlogits = dptr<T>(p->dlogits);
  if (rows_vectorizable<T>(p->row_stride, {p->logits, p->dlogits})) {
    auto kernel = cross_entropy_bwd_kernel<T, pack_of<T>()>;
    ANVIL_LAUNCH(kernel, static_cast<unsigned>(p->rows), kThreads, 0, s)(
        logits, targets, dlogits, p->vocab, p->row_stride, p->ignore_index, scale, dgrad, p->grad, p->normalizer, error);
  } else {
    auto kernel = cross_entropy_bwd_kernel<T, 1>;
    ANVIL_LAUNCH(kernel, static_cast<unsigned>(p->rows), kThreads, 0, s)(
        logits, targets, dlogits, p->vocab, p->row_stride, p->ignore_index, scale, dgrad, p->grad, p->normalizer, error);
  }
  ANVIL_LAUNCH_CHECK("cross_entropy_bwd_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_cross_entropy_fwd(const anvil_cross_entropy_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "cross_entropy_fwd", cross_entropy_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_cross_entropy_bwd(const anvil_cross_entropy_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "cross_entropy_bwd", cross_entropy_bwd, p, as_stream(stream), nullptr);
}

ANVIL_API int anvil_cuda_cross_entropy_bwd_dgrad(const anvil_cross_entropy_params* p, int64_t dgrad, int64_t dtype,
                                                 int64_t stream) {
  if (dgrad == 0) return anvil_set_error(ANVIL_E_INVALID, "cuda cross_entropy_bwd_dgrad: null dgrad");
  ANVIL_DISPATCH_FLOAT(dtype, "cross_entropy_bwd", cross_entropy_bwd, p, as_stream(stream), dptr<const float>(dgrad));
}

}  // extern "C"
