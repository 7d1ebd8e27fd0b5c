// grad_norm.cu: the global L2 norm of a list of fp32 tensors, accumulated in fp64.
//   out (1 double, on the host) = sqrt(sum over tensors i of sum(x_i^2)); tensors/sizes are host arrays.
//   Synchronizes the stream (the caller wants the number now: clipping decides on it).
// Each block squares and sums one chunk of one tensor (up to 128 tensors per launch, passed by value)
// into its own fp64 partial; one block then adds the partials in a fixed order, so the result is
// deterministic.
#include <cmath>

#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_grad_norm_params, ANVIL_GRAD_NORM_SLOTS);

namespace {

using namespace anvil;

constexpr int kMaxTensors = 128;
constexpr int kThreads = 256;
constexpr int64_t kChunk = kThreads * 4 * 8;

struct NormList {
  const float* x[kMaxTensors];
  int64_t n[kMaxTensors];
  int64_t block_start[kMaxTensors + 1];
  int64_t partial_offset;  // where this launch's partials start
  int count;
};
static_assert(sizeof(NormList) < 3900, "kernel parameters must stay under 4 KiB");

__device__ __forceinline__ int tensor_of(const int64_t* block_start, int count, int64_t block) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (block_start[mid] <= block) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// partials[offset + block] = sum of squares of the block's chunk
__global__ void __launch_bounds__(kThreads) grad_norm_partial_kernel(NormList list, double* partials) {
  __shared__ double shared[32];
  const int t = tensor_of(list.block_start, list.count, blockIdx.x);
  const int64_t n = list.n[t];
  const int64_t begin = (blockIdx.x - list.block_start[t]) * kChunk;
  const int64_t end = begin + kChunk < n ? begin + kChunk : n;
  const float* x = list.x[t];
  double sum = 0;
  if ((reinterpret_cast<uintptr_t>(x) & 15) == 0) {
    int64_t i = begin + threadIdx.x * 4;
    for (; i + 4 <= end; i += kThreads * 4) {
      float4 v = *reinterpret_cast<const float4*>(x + i);
      sum += (double)v.x * v.x + (double)v.y * v.y + (double)v.z * v.z + (double)v.w * v.w;
    }
    for (int64_t k = i; k < end && k < i + 4; ++k) sum += (double)x[k] * x[k];
  } else {
    for (int64_t k = begin + threadIdx.x; k < end; k += kThreads) sum += (double)x[k] * x[k];
  }
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) partials[list.partial_offset + blockIdx.x] = sum;
}

// *out = sqrt(sum of partials (count)), one block.
__global__ void __launch_bounds__(1024) grad_norm_final_kernel(const double* partials, int64_t count, double* out) {
  __shared__ double shared[32];
  double sum = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) *out = sqrt(sum);
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_grad_norm_fwd(const anvil_grad_norm_params* p, int64_t stream) {
  double* host_out = dptr<double>(p->out);
  *host_out = 0.0;
  if (p->count <= 0) return ANVIL_OK;
  cudaStream_t s = as_stream(stream);
  const int64_t* tensors = dptr<const int64_t>(p->tensors);
  const int64_t* sizes = dptr<const int64_t>(p->sizes);
  int64_t total_blocks = 0;
  for (int64_t i = 0; i < p->count; ++i)
    if (sizes[i] > 0) total_blocks += (sizes[i] + kChunk - 1) / kChunk;
  if (total_blocks == 0) return ANVIL_OK;
  Scratch scratch(s);
  ANVIL_CUDA_CHECK(scratch.allocate(sizeof(double) * (total_blocks + 1)));
  double* result = scratch.at<double>(0);
  double* partials = result + 1;
  NormList list{};
  auto flush = [&]() -> int {
    const int64_t blocks = list.block_start[list.count];
    if (list.count > 0 && blocks > 0) {
      if (blocks > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda grad_norm: too many blocks");
      grad_norm_partial_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, s>>>(list, partials);
      ANVIL_LAUNCH_CHECK("grad_norm_partial_kernel");
    }
    const int64_t next = list.partial_offset + blocks;
    list = NormList{};
    list.partial_offset = next;
    return ANVIL_OK;
  };
  for (int64_t i = 0; i < p->count; ++i) {
    if (sizes[i] <= 0) continue;
    const int c = list.count;
    list.x[c] = dptr<const float>(tensors[i]);
    list.n[c] = sizes[i];
    list.block_start[c + 1] = list.block_start[c] + (sizes[i] + kChunk - 1) / kChunk;
    list.count = c + 1;
    if (list.count == kMaxTensors) {
      int rc = flush();
      if (rc) return rc;
    }
  }
  int rc = flush();
  if (rc) return rc;
  grad_norm_final_kernel<<<1, 1024, 0, s>>>(partials, total_blocks, result);
  ANVIL_LAUNCH_CHECK("grad_norm_final_kernel");
  ANVIL_CUDA_CHECK(cudaMemcpyAsync(host_out, result, sizeof(double), cudaMemcpyDeviceToHost, s));
  ANVIL_CUDA_CHECK(cudaStreamSynchronize(s));
  return ANVIL_OK;
}

}  // extern "C"
