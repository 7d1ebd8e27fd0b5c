// adamw.cu: one AdamW step over a list of fp32 tensors, in place, in a few launches (up to 64 tensors per
// launch, their pointers passed by value in the kernel's parameters).
//   for each listed tensor i (params[i], grads[i], m[i], v[i]: sizes[i] fp32 elements each):
//     g = grad * grad_scale;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//     p -= lr * wd * p   (when decay[i]);   p -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps)
//     computed as p = p (1 - lr wd) - (lr / (1 - b1^step)) m / (sqrt(v) / sqrt(1 - b2^step) + eps)
//   The tensor lists (anvil_adamw_params) are host arrays, read during the call.
// anvil_cuda_adamw_multi_fwd (the fused step of issue 7, below the list kernel): the same update over a
// tensor table in device memory, the clip scale computed on the device from the gradients' norm, lr and
// step read from device memory, and a bf16 copy of each updated param written in the same pass: 30 bytes
// per element (16 read, 14 written). Nothing crosses to the host, so it can be captured in a CUDA graph.
// Each block owns one chunk of kChunk elements of one tensor; a block finds its tensor by binary search
// over the launch's block offsets. Memory-bound: 16 bytes read and 12 written per element, in 16-byte
// packs when the tensor's four pointers are 16-byte aligned.
#include <cmath>
#include <cstddef>
#include <vector>

#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_adamw_params, ANVIL_ADAMW_SLOTS);
ANVIL_PARAMS_CHECK(anvil_adamw_multi_params, ANVIL_ADAMW_MULTI_SLOTS);
ANVIL_PARAMS_CHECK(anvil_adamw_tensor, ANVIL_ADAMW_TENSOR_SLOTS);

namespace {

using namespace anvil;

constexpr int kMaxTensors = 64;
constexpr int kThreads = 256;
constexpr int64_t kChunk = kThreads * 4 * 4;
static_assert(kChunk == ANVIL_ADAMW_CHUNK, "the table's blocks are chunks of ANVIL_ADAMW_CHUNK");

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
      ANVIL_LAUNCH(adamw_kernel, static_cast<unsigned>(blocks), kThreads, 0, s)(list, scalars);
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

// ---- the fused step over a device-resident table --------------------------------------------------
// Up to three launches, none reading the host:
//   1. (clip > 0) adamw_norm_kernel: block b sums the squares of chunk b's gradients into workspace[b];
//   2. adamw_prepare_kernel (one block): adds the partials in a fixed order, then the norm, the clip
//      scale and the step's fp32 scalars (from lr and step in the state) into the state;
//   3. adamw_multi_kernel: block b updates chunk b (param, m, v in place; the bf16 copy when present).
// Chunks are the list kernel's (kChunk elements), so the table's first_block serves launches 1 and 3.

namespace {

// The state of anvil.h (ANVIL_ADAMW_STATE_BYTES of device memory; the first four fields are public).
struct MultiState {
  double lr, step;       // written by anvil_cuda_adamw_schedule
  double norm, scale;    // written by every step (norm -1: not computed)
  AdamwScalars scalars;  // written by adamw_prepare_kernel for adamw_multi_kernel
  int skip;              // 1: the schedule was never written (step < 1); 2: the norm is not finite. No update.
  double nonfinite;      // updates skipped for a non-finite gradient norm since the state was zeroed
};
static_assert(sizeof(MultiState) <= ANVIL_ADAMW_STATE_BYTES, "state must fit ANVIL_ADAMW_STATE_BYTES");
// FusedAdamW (runtime/ai/anvil/backend/cuda) reads the counter at this offset.
static_assert(offsetof(MultiState, nonfinite) == 72, "FusedAdamW.skipped() reads byte 72");
static_assert(offsetof(MultiState, norm) == 16 && offsetof(MultiState, scale) == 24, "anvil.h documents these offsets");

struct MultiHyper {
  double beta1, beta2, eps, weight_decay, clip, grad_scale;
};

// The entry that owns block b: the last one with first_block <= b (frozen and empty entries own no
// blocks, so the entry after them, with the same first_block, is the one found).
__device__ __forceinline__ int entry_of(const anvil_adamw_tensor* table, int count, int64_t block) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (table[mid].first_block <= block) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// workspace[b] = sum of grad^2 over chunk b (fp64), for every block of the table.
__global__ void __launch_bounds__(kThreads) adamw_norm_kernel(const anvil_adamw_tensor* table, int count,
                                                              double* workspace) {
  __shared__ double shared[32];
  const anvil_adamw_tensor& e = table[entry_of(table, count, blockIdx.x)];
  const int64_t begin = (blockIdx.x - e.first_block) * kChunk;
  const int64_t end = begin + kChunk < e.n ? begin + kChunk : e.n;
  const float* g = dptr<const float>(e.grad);
  double sum = 0;
  if ((e.grad & 15) == 0) {
    int64_t i = begin + threadIdx.x * 4;
    for (; i + 4 <= end; i += kThreads * 4) {
      float4 v = *reinterpret_cast<const float4*>(g + i);
      sum += (double)v.x * v.x + (double)v.y * v.y + (double)v.z * v.z + (double)v.w * v.w;
    }
    for (int64_t k = i; k < end && k < i + 4; ++k) sum += (double)g[k] * g[k];
  } else {
    for (int64_t k = begin + threadIdx.x; k < end; k += kThreads) sum += (double)g[k] * g[k];
  }
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) workspace[blockIdx.x] = sum;
}

// One block: state <- norm, clip scale and the fp32 scalars of this step. partials == nullptr: no clipping.
__global__ void __launch_bounds__(kThreads) adamw_prepare_kernel(const double* partials, int64_t count,
                                                                 MultiState* state, MultiHyper h,
                                                                 unsigned* error) {
  __shared__ double shared[32];
  double sum = 0;
  if (partials)
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
  sum = block_sum(sum, shared);
  if (threadIdx.x != 0) return;
  double norm = -1.0, scale = 1.0;
  if (partials) {
    norm = sqrt(sum) * fabs(h.grad_scale);
    if (norm > h.clip) scale = h.clip / (norm + 1e-6);
  }
  const double lr = state->lr, step = state->step;
  state->norm = norm;
  state->scale = scale;
  state->skip = step >= 1.0 ? 0 : 1;
  if (state->skip) {
    *(volatile unsigned*)error = ANVIL_DEVERR_ADAMW_SCHEDULE;
    return;
  }
  // A NaN or infinite gradient (an overflow, a bad batch) would poison every weight: the step is skipped
  // and counted, as the Trainer's host path skips it. Only known when the norm is computed (clip > 0).
  if (partials && !std::isfinite(norm)) {
    state->skip = 2;
    state->nonfinite += 1.0;
    return;
  }
  state->scalars = AdamwScalars{static_cast<float>(h.beta1),
                                static_cast<float>(1.0 - h.beta1),
                                static_cast<float>(h.beta2),
                                static_cast<float>(1.0 - h.beta2),
                                static_cast<float>(h.grad_scale * scale),
                                static_cast<float>(1.0 - lr * h.weight_decay),
                                static_cast<float>(lr / (1.0 - pow(h.beta1, step))),
                                static_cast<float>(1.0 / sqrt(1.0 - pow(h.beta2, step))),
                                static_cast<float>(h.eps)};
}

// params, m, v (n) in place from grads (n), and copy (n, bf16) = the updated params, for every block.
__global__ void __launch_bounds__(kThreads) adamw_multi_kernel(const anvil_adamw_tensor* table, int count,
                                                               const MultiState* state) {
  if (state->skip) return;
  const AdamwScalars s = state->scalars;
  const anvil_adamw_tensor& e = table[entry_of(table, count, blockIdx.x)];
  const int64_t n = e.n;
  const int64_t begin = (blockIdx.x - e.first_block) * kChunk;
  const int64_t end = begin + kChunk < n ? begin + kChunk : n;
  float* p = dptr<float>(e.param);
  const float* g = dptr<const float>(e.grad);
  float* m = dptr<float>(e.m);
  float* v = dptr<float>(e.v);
  bf16* c = e.copy ? dptr<bf16>(e.copy) : nullptr;
  const bool decay = (e.flags & ANVIL_ADAMW_DECAY) != 0;
  const bool vec = ((e.param | e.grad | e.m | e.v) & 15) == 0 && (e.copy & 7) == 0;
  if (vec) {  // begin is a multiple of 4, so every pack below is aligned
    int64_t i = begin + threadIdx.x * 4;
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
      if (c) {
        const float packed[4] = {pp.x, pp.y, pp.z, pp.w};
        store_pack<bf16, 4>(c + i, packed);
      }
    }
    for (int64_t k = i; k < end && k < i + 4; ++k) {  // the tensor's last, partial pack
      adamw_element(p[k], g[k], m[k], v[k], decay, s);
      if (c) c[k] = __float2bfloat16(p[k]);
    }
  } else {
    for (int64_t k = begin + threadIdx.x; k < end; k += kThreads) {
      adamw_element(p[k], g[k], m[k], v[k], decay, s);
      if (c) c[k] = __float2bfloat16(p[k]);
    }
  }
}

// lr and step into the state, in stream order.
__global__ void adamw_schedule_kernel(MultiState* state, double lr, double step) {
  if (threadIdx.x == 0) {
    state->lr = lr;
    state->step = step;
  }
}

bool in_unit(double b) { return b >= 0.0 && b < 1.0; }

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_adamw_table(const anvil_adamw_tensor* host, int64_t count, int64_t table, int64_t* blocks) {
  *blocks = 0;
  if (count < 0 || count > INT32_MAX) return anvil_set_error(ANVIL_E_INVALID, "cuda adamw table: count out of range");
  if (count == 0) return ANVIL_OK;
  if (!host || table == 0) return anvil_set_error(ANVIL_E_INVALID, "cuda adamw table: null table");
  std::vector<anvil_adamw_tensor> entries(host, host + count);
  int64_t next = 0;
  for (int64_t i = 0; i < count; ++i) {
    anvil_adamw_tensor& e = entries[i];
    char message[160];
    if (e.n < 0 || (e.flags & ~int64_t{ANVIL_ADAMW_DECAY | ANVIL_ADAMW_FROZEN}) != 0) {
      snprintf(message, sizeof(message), "cuda adamw table: entry %lld has n %lld, flags %lld", (long long)i,
               (long long)e.n, (long long)e.flags);
      return anvil_set_error(ANVIL_E_INVALID, message);
    }
    const bool active = e.n > 0 && !(e.flags & ANVIL_ADAMW_FROZEN);
    if (active && (e.param == 0 || e.grad == 0 || e.m == 0 || e.v == 0)) {
      snprintf(message, sizeof(message), "cuda adamw table: entry %lld has a null param, grad or moment", (long long)i);
      return anvil_set_error(ANVIL_E_INVALID, message);
    }
    e.first_block = next;
    if (active) next += (e.n + kChunk - 1) / kChunk;
  }
  if (next > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda adamw table: too many blocks");
  ANVIL_CUDA_CHECK(cudaMemcpy(dptr<void>(table), entries.data(), sizeof(anvil_adamw_tensor) * count,
                              cudaMemcpyHostToDevice));
  *blocks = next;
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_adamw_schedule(int64_t state, double lr, int64_t step, int64_t stream) {
  if (state == 0) return anvil_set_error(ANVIL_E_INVALID, "cuda adamw schedule: null state");
  if (!(lr >= 0.0) || !std::isfinite(lr) || step < 1)
    return anvil_set_error(ANVIL_E_INVALID, "cuda adamw schedule: lr must be finite and >= 0, step >= 1");
  ANVIL_LAUNCH(adamw_schedule_kernel, 1, 32, 0, as_stream(stream))(dptr<MultiState>(state), lr,
                                                                   static_cast<double>(step));
  ANVIL_LAUNCH_CHECK("adamw_schedule_kernel");
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_adamw_multi_fwd(const anvil_adamw_multi_params* p, int64_t stream) {
  if (p->count < 0 || p->count > INT32_MAX || p->blocks < 0 || p->blocks > INT32_MAX)
    return anvil_set_error(ANVIL_E_INVALID, "cuda adamw multi: count or blocks out of range");
  if (p->state == 0) return anvil_set_error(ANVIL_E_INVALID, "cuda adamw multi: null state");
  if (!in_unit(p->beta1) || !in_unit(p->beta2) || !(p->eps > 0) || !(p->weight_decay >= 0) ||
      !(p->clip >= 0) || !std::isfinite(p->clip) || !std::isfinite(p->grad_scale))
    return anvil_set_error(ANVIL_E_INVALID, "cuda adamw multi: hyper-parameter out of range");
  if (p->blocks > 0 && (p->table == 0 || p->count == 0))
    return anvil_set_error(ANVIL_E_INVALID, "cuda adamw multi: blocks without a table");
  const bool clip = p->clip > 0 && p->blocks > 0;
  if (clip && p->workspace == 0) return anvil_set_error(ANVIL_E_INVALID, "cuda adamw multi: clipping needs a workspace");
  cudaStream_t s = as_stream(stream);
  const auto* table = dptr<const anvil_adamw_tensor>(p->table);
  const int count = static_cast<int>(p->count);
  const unsigned blocks = static_cast<unsigned>(p->blocks);
  auto* state = dptr<MultiState>(p->state);
  double* workspace = clip ? dptr<double>(p->workspace) : nullptr;
  if (clip) {
    ANVIL_LAUNCH(adamw_norm_kernel, blocks, kThreads, 0, s)(table, count, workspace);
    ANVIL_LAUNCH_CHECK("adamw_norm_kernel");
  }
  unsigned* error = device_error_word();
  if (!error) return ANVIL_E_CUDA;
  const MultiHyper hyper{p->beta1, p->beta2, p->eps, p->weight_decay, p->clip, p->grad_scale};
  ANVIL_LAUNCH(adamw_prepare_kernel, 1, kThreads, 0, s)(workspace, clip ? p->blocks : int64_t{0}, state, hyper,
                                                        error);
  ANVIL_LAUNCH_CHECK("adamw_prepare_kernel");
  if (blocks > 0) {
    ANVIL_LAUNCH(adamw_multi_kernel, blocks, kThreads, 0, s)(table, count, state);
    ANVIL_LAUNCH_CHECK("adamw_multi_kernel");
  }
  return ANVIL_OK;
}

}  // extern "C"
