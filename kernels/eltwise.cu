// eltwise.cu: add, mul, scale, axpy and fill over n contiguous elements, fp32 or bf16 (fp32 math).
//   Same contract as native/cpu/eltwise.cpp (see anvil.h): backward writes (=) or accumulates (+=).
// Memory-bound; a grid-stride loop. 128-bit vector loads are the CUDA backend issue's work.
#include <cuda_bf16.h>

#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_eltwise_params, ANVIL_ELTWISE_SLOTS);

namespace {

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16(v); }

// out (n) = alpha * x * (y or 1) (+ out when accumulate)
template <typename T>
__global__ void scaled_product_kernel(T* out, const T* x, const T* y, float alpha, int64_t n, bool accumulate) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float v = alpha * load(x, i) * (y ? load(y, i) : 1.0f);
    store(out, i, accumulate ? load(out, i) + v : v);
  }
}

template <typename T>
__global__ void add_kernel(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    store(out, i, load(a, i) + load(b, i));
}

template <typename T>
__global__ void fill_kernel(T* out, float value, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    store(out, i, value);
}

dim3 grid_for(int64_t n) {
  int64_t blocks = (n + 255) / 256;
  return dim3(static_cast<unsigned>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535));
}

template <typename T>
int scaled(int64_t out, int64_t x, int64_t y, double alpha, int64_t n, bool acc, cudaStream_t s) {
  scaled_product_kernel<T><<<grid_for(n), 256, 0, s>>>(anvil::dptr<T>(out), anvil::dptr<const T>(x),
                                                    anvil::dptr<const T>(y), (float)alpha, n, acc);
  ANVIL_LAUNCH_CHECK("scaled_product_kernel");
  return ANVIL_OK;
}

template <typename T>
int eltwise_fwd(const anvil_eltwise_params* p, cudaStream_t s) {
  switch (p->op) {
    case ANVIL_ADD:
      add_kernel<T><<<grid_for(p->n), 256, 0, s>>>(anvil::dptr<T>(p->out), anvil::dptr<const T>(p->a),
                                                    anvil::dptr<const T>(p->b), p->n);
      ANVIL_LAUNCH_CHECK("add_kernel");
      return ANVIL_OK;
    case ANVIL_MUL: return scaled<T>(p->out, p->a, p->b, 1.0, p->n, false, s);
    case ANVIL_SCALE: return scaled<T>(p->out, p->a, 0, p->alpha, p->n, false, s);
    case ANVIL_AXPY: return scaled<T>(p->out, p->a, 0, p->alpha, p->n, true, s);
    default: return anvil_set_error(ANVIL_E_INVALID, "cuda eltwise_fwd: unknown op");
  }
}

template <typename T>
int eltwise_bwd(const anvil_eltwise_params* p, cudaStream_t s) {
  bool acc = p->accumulate != 0;
  int rc = ANVIL_OK;
  switch (p->op) {
    case ANVIL_ADD:
      if (p->da && (rc = scaled<T>(p->da, p->dout, 0, 1.0, p->n, acc, s))) return rc;
      if (p->db) rc = scaled<T>(p->db, p->dout, 0, 1.0, p->n, acc, s);
      return rc;
    case ANVIL_MUL:
      if (p->da && (rc = scaled<T>(p->da, p->dout, p->b, 1.0, p->n, acc, s))) return rc;
      if (p->db) rc = scaled<T>(p->db, p->dout, p->a, 1.0, p->n, acc, s);
      return rc;
    case ANVIL_SCALE:
      return p->da ? scaled<T>(p->da, p->dout, 0, p->alpha, p->n, acc, s) : ANVIL_OK;
    default: return anvil_set_error(ANVIL_E_INVALID, "cuda eltwise_bwd: op has no backward");
  }
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_eltwise_fwd(const anvil_eltwise_params* p, int64_t dtype, int64_t stream) {
  if (dtype == ANVIL_F32) return eltwise_fwd<float>(p, anvil::as_stream(stream));
  if (dtype == ANVIL_BF16) return eltwise_fwd<__nv_bfloat16>(p, anvil::as_stream(stream));
  return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda eltwise_fwd: dtype must be f32 or bf16");
}

ANVIL_API int anvil_cuda_eltwise_bwd(const anvil_eltwise_params* p, int64_t dtype, int64_t stream) {
  if (dtype == ANVIL_F32) return eltwise_bwd<float>(p, anvil::as_stream(stream));
  if (dtype == ANVIL_BF16) return eltwise_bwd<__nv_bfloat16>(p, anvil::as_stream(stream));
  return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda eltwise_bwd: dtype must be f32 or bf16");
}

ANVIL_API int anvil_cuda_fill(int64_t dst, int64_t n, int64_t dtype, double value, int64_t stream) {
  cudaStream_t s = anvil::as_stream(stream);
  if (dtype == ANVIL_F32) fill_kernel<float><<<grid_for(n), 256, 0, s>>>(anvil::dptr<float>(dst), (float)value, n);
  else if (dtype == ANVIL_BF16) fill_kernel<__nv_bfloat16><<<grid_for(n), 256, 0, s>>>(anvil::dptr<__nv_bfloat16>(dst), (float)value, n);
  else if (dtype == ANVIL_I32) fill_kernel<float><<<grid_for(n), 256, 0, s>>>(anvil::dptr<float>(dst), (float)value, n);
  else return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda fill: unknown dtype");
  ANVIL_LAUNCH_CHECK("fill_kernel");
  return ANVIL_OK;
}

}  // extern "C"
