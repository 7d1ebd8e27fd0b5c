// swiglu.cu: the SiLU-gated product of Llama's MLP, n elements, fp32 or bf16 storage, fp32 math.
//   fwd: out (n) = silu(a) * b,  silu(a) = a sigmoid(a)
//   bwd: da (n) = dout * b * s (1 + a (1 - s)),  db (n) = dout * silu(a),  s = sigmoid(a);
//        written (=), or added (+=) when accumulate; da or db may be 0.
// Memory-bound like eltwise: 16-byte packs when every pointer is 16-byte aligned, scalar otherwise.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_swiglu_params, ANVIL_SWIGLU_SLOTS);

namespace {

using namespace anvil;

// sigmoid(a) and 1 - sigmoid(a), the latter as e s (e = exp(-a)) where s > 1/2 to avoid cancellation.
__device__ __forceinline__ float2 sigmoid2(float a) {
  float e = __expf(fminf(-a, 80.0f));
  float s = 1.0f / (1.0f + e);
  return make_float2(s, s < 0.5f ? 1.0f - s : e * s);
}

// out (n) = silu(a) * b
template <typename T, int N>
__global__ void swiglu_fwd_kernel(const T* a, const T* b, T* out, int64_t n) {
  const int64_t packs = n / N, stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  for (int64_t p = first; p < packs; p += stride) {
    float va[N], vb[N];
    load_pack<T, N>(a + p * N, va);
    load_pack<T, N>(b + p * N, vb);
#pragma unroll
    for (int i = 0; i < N; ++i) va[i] = va[i] * sigmoid2(va[i]).x * vb[i];
    store_pack<T, N>(out + p * N, va);
  }
  for (int64_t i = packs * N + first; i < n; i += stride) {
    float x = load(a, i);
    store(out, i, x * sigmoid2(x).x * load(b, i));
  }
}

// da (n) = dout * b * silu'(a), db (n) = dout * silu(a) (+ the old values when accumulate)
template <typename T>
__global__ void swiglu_bwd_kernel(const T* a, const T* b, const T* dout, T* da, T* db, int64_t n, bool accumulate) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += stride) {
    const float x = load(a, i), d = load(dout, i);
    const float2 k = sigmoid2(x);
    if (da) {
      float g = d * load(b, i) * (k.x * (1.0f + x * k.y));
      store(da, i, accumulate ? load(da, i) + g : g);
    }
    if (db) {
      float g = d * x * k.x;
      store(db, i, accumulate ? load(db, i) + g : g);
    }
  }
}

constexpr int kThreads = 256;

template <typename T>
int swiglu_fwd(const anvil_swiglu_params* p, cudaStream_t s) {
  if (p->n <= 0) return ANVIL_OK;
  constexpr int N = pack_of<T>();
  if (aligned16(p->a) && aligned16(p->b) && aligned16(p->out)) {
    swiglu_fwd_kernel<T, N><<<blocks_for(p->n / N + 1, kThreads), kThreads, 0, s>>>(
        dptr<const T>(p->a), dptr<const T>(p->b), dptr<T>(p->out), p->n);
  } else {
    swiglu_fwd_kernel<T, 1><<<blocks_for(p->n, kThreads), kThreads, 0, s>>>(
        dptr<const T>(p->a), dptr<const T>(p->b), dptr<T>(p->out), p->n);
  }
  ANVIL_LAUNCH_CHECK("swiglu_fwd_kernel");
  return ANVIL_OK;
}

template <typename T>
int swiglu_bwd(const anvil_swiglu_params* p, cudaStream_t s) {
  if (p->n <= 0) return ANVIL_OK;
  swiglu_bwd_kernel<T><<<blocks_for(p->n, kThreads), kThreads, 0, s>>>(
      dptr<const T>(p->a), dptr<const T>(p->b), dptr<const T>(p->dout), dptr<T>(p->da), dptr<T>(p->db), p->n,
      p->accumulate != 0);
  ANVIL_LAUNCH_CHECK("swiglu_bwd_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_swiglu_fwd(const anvil_swiglu_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "swiglu_fwd", swiglu_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_swiglu_bwd(const anvil_swiglu_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "swiglu_bwd", swiglu_bwd, p, as_stream(stream));
}

}  // extern "C"
