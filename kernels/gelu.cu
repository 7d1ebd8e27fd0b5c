// gelu.cu: GELU over n contiguous elements, fp32 or bf16 storage, fp32 math.
//   fwd: y (n) = gelu(x (n))
//   bwd: dx (n) = dy * gelu'(x)   written (=), or added (+=) when accumulate
//   approximate=1, tanh form (GPT-2): gelu(x) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
//                                     (0.5 (1 + tanh u) written as a sigmoid keeps the negative tail)
//   approximate=0, erf form (BERT):   gelu(x) = x Phi(x), Phi the standard normal CDF (normcdff)
// Memory-bound like eltwise: 16-byte packs when x, y/dy, dx are 16-byte aligned, scalar otherwise.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_gelu_params, ANVIL_GELU_SLOTS);

namespace {

using namespace anvil;

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

// gelu(x) and gelu'(x) of one element.
__device__ __forceinline__ float gelu(float x, bool tanh_form) {
  if (tanh_form) {
    float u = kSqrt2OverPi * (x + kCubic * x * x * x);
    return x / (1.0f + __expf(fminf(-2.0f * u, 80.0f)));
  }
  return x * normcdff(x);
}

__device__ __forceinline__ float gelu_grad(float x, bool tanh_form) {
  if (tanh_form) {
    float u = kSqrt2OverPi * (x + kCubic * x * x * x);
    float e = __expf(fminf(-2.0f * u, 80.0f));
    float s = 1.0f / (1.0f + e);
    float du = kSqrt2OverPi * (1.0f + 3.0f * kCubic * x * x);
    return s + x * 2.0f * s * s * e * du;  // d sigmoid(2u)/dx = 2 s (1 - s) du, 1 - s = s e
  }
  return normcdff(x) + x * kInvSqrt2Pi * __expf(-0.5f * x * x);
}

// y (n) = gelu(x)
template <typename T, int N>
__global__ void gelu_fwd_kernel(const T* x, T* y, int64_t n, bool tanh_form) {
  const int64_t packs = n / N, stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  for (int64_t p = first; p < packs; p += stride) {
    float v[N];
    load_pack<T, N>(x + p * N, v);
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = gelu(v[i], tanh_form);
    store_pack<T, N>(y + p * N, v);
  }
  for (int64_t i = packs * N + first; i < n; i += stride) store(y, i, gelu(load(x, i), tanh_form));
}

// dx (n) = dy * gelu'(x) (+ dx when accumulate)
template <typename T, int N>
__global__ void gelu_bwd_kernel(const T* x, const T* dy, T* dx, int64_t n, bool tanh_form, bool accumulate) {
  const int64_t packs = n / N, stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  for (int64_t p = first; p < packs; p += stride) {
    float v[N], g[N], o[N];
    load_pack<T, N>(x + p * N, v);
    load_pack<T, N>(dy + p * N, g);
    if (accumulate) load_pack<T, N>(dx + p * N, o);
#pragma unroll
    for (int i = 0; i < N; ++i) {
      float d = g[i] * gelu_grad(v[i], tanh_form);
      o[i] = accumulate ? o[i] + d : d;
    }
    store_pack<T, N>(dx + p * N, o);
  }
  for (int64_t i = packs * N + first; i < n; i += stride) {
    float d = load(dy, i) * gelu_grad(load(x, i), tanh_form);
    store(dx, i, accumulate ? load(dx, i) + d : d);
  }
}

constexpr int kThreads = 256;

template <typename T>
int gelu_fwd(const anvil_gelu_params* p, cudaStream_t s) {
  if (p->n <= 0) return ANVIL_OK;
  constexpr int N = pack_of<T>();
  if (aligned16(p->x) && aligned16(p->y)) {
    gelu_fwd_kernel<T, N><<<blocks_for(p->n / N + 1, kThreads), kThreads, 0, s>>>(
        dptr<const T>(p->x), dptr<T>(p->y), p->n, p->approximate != 0);
  } else {
    gelu_fwd_kernel<T, 1><<<blocks_for(p->n, kThreads), kThreads, 0, s>>>(
        dptr<const T>(p->x), dptr<T>(p->y), p->n, p->approximate != 0);
  }
  ANVIL_LAUNCH_CHECK("gelu_fwd_kernel");
  return ANVIL_OK;
}

template <typename T>
int gelu_bwd(const anvil_gelu_params* p, cudaStream_t s) {
  if (p->n <= 0) return ANVIL_OK;
  constexpr int N = pack_of<T>();
  if (aligned16(p->x) && aligned16(p->dy) && aligned16(p->dx)) {
    gelu_bwd_kernel<T, N><<<blocks_for(p->n / N + 1, kThreads), kThreads, 0, s>>>(
        dptr<const T>(p->x), dptr<const T>(p->dy), dptr<T>(p->dx), p->n, p->approximate != 0, p->accumulate != 0);
  } else {
    gelu_bwd_kernel<T, 1><<<blocks_for(p->n, kThreads), kThreads, 0, s>>>(
        dptr<const T>(p->x), dptr<const T>(p->dy), dptr<T>(p->dx), p->n, p->approximate != 0, p->accumulate != 0);
  }
  ANVIL_LAUNCH_CHECK("gelu_bwd_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_gelu_fwd(const anvil_gelu_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "gelu_fwd", gelu_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_gelu_bwd(const anvil_gelu_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "gelu_bwd", gelu_bwd, p, as_stream(stream));
}

}  // extern "C"
