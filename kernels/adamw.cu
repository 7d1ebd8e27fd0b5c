// adamw.cu: one AdamW step over a list of fp32 tensors, in place, in a few launches (up to 64 tensors per
// launch, their pointers passed by value in the kernel's parameters).
//   for each listed tensor i (params[i], grads[i], m[i], v[i]: sizes[i] fp32 elements each):
//     g = grad * grad_scale;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//     p -= lr * wd * p   (when decay[i]);   p -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps)
//     computed as p = p (1 - lr wd) - (lr / (1 - b1^step)) m / (sqrt(v) / sqrt(1 - b2^step) + eps)
//   The tensor lists (anvil_adamw_params) are host arrays, read during the call.
// Each block owns one chunk of kChunk elements of one tensor; a block finds its tensor by binary search
// over the launch's block offsets. Memory-bound: 16 bytes read and 12 written per element, in 16-byte
// packs when the tensor's four pointers are 16-byte aligned.
#include <cmath>

#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_adamw_params, ANVIL_ADAMW_SLOTS);

namespace {

using namespace anvil;

constexpr int kMaxTensors = 64;
constexpr int kThreads = 256;
constexpr int64_t kChunk = kThreads * 4 * 4;

struct AdamwList {
  float* p[kMaxTensors];
  const float* g[kMaxTensors];
  float* m[kMaxTensors];
  float* v[kMaxTensors];
  int64_t n[kMaxTensors];
  int64_t block_start[kMaxTensors + 1];  // block_start[count] = blocks of this launch
  uint64_t decay;                        // bit i: weight decay applies to tensor i
  int count;
};
static_assert(sizeof(AdamwList) < 3900, "kernel parameters must stay under 4 KiB");

// The step's scalars, folded once in fp64 and rounded to fp32 (as native/cpu/adamw.cpp does, so both
// devices round alike).
struct AdamwScalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, grad_scale;
  float decay_factor;    // 1 - lr * wd
  float step_size;       // lr / (1 - beta1^step)
  float inv_sqrt_bias2;  // 1 / sqrt(1 - beta2^step)
  float eps;
};

__device__ __forceinline__ int tensor_of(const int64_t* block_start, int count, int64_t block) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (block_start[mid] <= block) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

__device__ __forceinline__ void adamw_element(float& p, float g, float& m, float& v, bool decay,
                                              const AdamwScalars& s) {
  g *= s.grad_scale;
  m = s.beta1 * m + s.one_minus_beta1 * g;
  v = s.beta2 * v + s.one_minus_beta2 * g * g;
  p = p * (decay ? s.decay_factor : 1.0f) - s.step_size * m / (sqrtf(v) * s.inv_sqrt_bias2 + s.eps);
}

// params, m, v (n) updated in place from grads (n), for every tensor of the list.
__global__ void __launch_bounds__(kThreads) adamw_kernel(AdamwList list, AdamwScalars s) {
  const int t = tensor_of(list.block_start, list.count, blockIdx.x);
  const int64_t n = list.n[t];
  const int64_t begin = (blockIdx.x - list.block_start[t]) * kChunk;
  const int64_t end = begin + kChunk < n ? begin + kChunk : n;
  float* p = list.p[t];
  const float* g = list.g[t];
  float* m = list.m[t];
  float* v = list.v[t];
  const bool decay = (list.decay >> t) & 1u;
  const bool vec = ((reinterpret_cast<uintptr_t>(p) | reinterpret_cast<uintptr_t>(g) |
                     reinterpret_cast<uintptr_t>(m) | reinterpret_cast<uintptr_t>(v)) & 15) == 0;
  int64_t i = begin + threadIdx.x * 4;
  if (vec) {  // begin is a multiple of 4, so every pack below is aligned
    for (; i + 4 <= end; i += kThreads * 4) {
      float4 pp = *reinterpret_cast<float4*>(p + i), gg = *reinterpret_cast<const float4*>(g + i);
      float4 mm = *reinterpret_cast<float4*>(m + i), vv = *reinterpret_cast<float4*>(v + i);
      adamw_element(pp.x, gg.x, mm.x, vv.x, decay, s);
      adamw_element(pp.y, gg.y, mm.y, vv.y, decay, s);
      adamw_element(pp.z, gg.z, mm.z, vv.z, decay, s);
      adamw_element(pp.w, gg.w, mm.w, vv.w, decay, s);
      *reinterpret_cast<float4*>(p + i) = pp;
      *reinterpret_cast<float4*>(m + i) = mm;
      *reinterpret_cast<float4*>(v + i) = vv;
    }
    // The last, partial pack of the tensor: i is its first element (one thread at most gets here).
    for (int64_t k = i; k < end && k < i + 4; ++k) adamw_element(p[k], g[k], m[k], v[k], decay, s);
  } else {
    for (int64_t k = begin + threadIdx.x; k < end; k += kThreads) adamw_element(p[k], g[k], m[k], v[k], decay, s);
  }
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_adamw_fwd(const anvil_adamw_params* p, int64_t stream) {
  if (p->count <= 0) return ANVIL_OK;
  if (p->step < 1) return anvil_set_error(ANVIL_E_INVALID, "cuda adamw: step must be >= 1 (1-based)");
  cudaStream_t s = as_stream(stream);
  const int64_t* params = dptr<const int64_t>(p->params);
  const int64_t* grads = dptr<const int64_t>(p->grads);
  const int64_t* ms = dptr<const int64_t>(p->m);
  const int64_t* vs = dptr<const int64_t>(p->v);
  const int64_t* sizes = dptr<const int64_t>(p->sizes);
  const int64_t* decay = dptr<const int64_t>(p->decay);
  const double step = static_cast<double>(p->step);
  const AdamwScalars scalars{static_cast<float>(p->beta1),
                             static_cast<float>(1.0 - p->beta1),
                             static_cast<float>(p->beta2),
                             static_cast<float>(1.0 - p->beta2),
                             static_cast<float>(p->grad_scale),
                             static_cast<float>(1.0 - p->lr * p->weight_decay),
                             static_cast<float>(p->lr / (1.0 - std::pow(p->beta1, step))),
                             static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(p->beta2, step))),
                             static_cast<float>(p->eps)};
  AdamwList list{};
  auto flush = [&]() -> int {
    if (list.count == 0) return ANVIL_OK;
    const int64_t blocks = list.block_start[list.count];
    if (blocks > 0) {
      if (blocks > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda adamw: too many blocks");
      adamw_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, s>>>(list, scalars);
      ANVIL_LAUNCH_CHECK("adamw_kernel");
    }
    list = AdamwList{};
    return ANVIL_OK;
  };
  for (int64_t i = 0; i < p->count; ++i) {
    if (sizes[i] <= 0) continue;
    const int c = list.count;
    list.p[c] = dptr<float>(params[i]);
    list.g[c] = dptr<const float>(grads[i]);
    list.m[c] = dptr<float>(ms[i]);
    list.v[c] = dptr<float>(vs[i]);
    list.n[c] = sizes[i];
    if (decay[i]) list.decay |= uint64_t{1} << c;
    list.block_start[c + 1] = list.block_start[c] + (sizes[i] + kChunk - 1) / kChunk;
    list.count = c + 1;
    if (list.count == kMaxTensors) {
      int rc = flush();
      if (rc) return rc;
    }
  }
  return flush();
}

}  // extern "C"
