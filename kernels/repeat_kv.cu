// repeat_kv.cu: grouped-query attention's head sharing (Hugging Face's repeat_kv), fp32 or bf16.
//   fwd: x (rows, kv_heads * head_dim) -> out (rows, kv_heads * groups * head_dim) written (=);
//        out head h = x head h / groups
//   bwd: dx (rows, kv_heads * head_dim) = sum over the group of dout's heads, in head order (fp32 sum);
//        written (=), or added (+=) when accumulate.
// One thread per output element of each direction; a pure copy / small sum, memory-bound.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_repeat_kv_params, ANVIL_REPEAT_KV_SLOTS);

namespace {

using namespace anvil;

// out (rows, kv_heads * groups * head_dim)
template <typename T>
__global__ void repeat_kv_fwd_kernel(const T* x, T* out, int64_t rows, int64_t kv_heads, int64_t groups,
                                     int64_t head_dim) {
  const int64_t out_width = kv_heads * groups * head_dim, in_width = kv_heads * head_dim;
  const int64_t n = rows * out_width, stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t row = i / out_width, col = i % out_width;
    const int64_t head = col / head_dim, d = col % head_dim;
    out[i] = x[row * in_width + (head / groups) * head_dim + d];
  }
}

// dx (rows, kv_heads * head_dim)
template <typename T>
__global__ void repeat_kv_bwd_kernel(const T* dout, T* dx, int64_t rows, int64_t kv_heads, int64_t groups,
                                     int64_t head_dim, bool accumulate) {
  const int64_t in_width = kv_heads * head_dim, out_width = in_width * groups;
  const int64_t n = rows * in_width, stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t row = i / in_width, col = i % in_width;
    const int64_t g = col / head_dim, d = col % head_dim;
    const T* src = dout + row * out_width + g * groups * head_dim + d;
    float sum = 0;
    for (int64_t k = 0; k < groups; ++k) sum += load(src, k * head_dim);
    store(dx, i, accumulate ? load(dx, i) + sum : sum);
  }
}

constexpr int kThreads = 256;

int check(const anvil_repeat_kv_params* p) {
  if (p->rows < 0 || p->kv_heads < 1 || p->groups < 1 || p->head_dim < 1) {
    return anvil_set_error(ANVIL_E_INVALID, "cuda repeat_kv: needs rows >= 0 and kv_heads, groups, head_dim >= 1");
  }
  return ANVIL_OK;
}

template <typename T>
int repeat_kv_fwd(const anvil_repeat_kv_params* p, cudaStream_t s) {
  if (int code = check(p)) return code;
  const int64_t n = p->rows * p->kv_heads * p->groups * p->head_dim;
  if (n == 0) return ANVIL_OK;
  repeat_kv_fwd_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(dptr<const T>(p->x), dptr<T>(p->out), p->rows,
                                                                       p->kv_heads, p->groups, p->head_dim);
  ANVIL_LAUNCH_CHECK("repeat_kv_fwd_kernel");
  return ANVIL_OK;
}

template <typename T>
int repeat_kv_bwd(const anvil_repeat_kv_params* p, cudaStream_t s) {
  if (int code = check(p)) return code;
  const int64_t n = p->rows * p->kv_heads * p->head_dim;
  if (n == 0) return ANVIL_OK;
  repeat_kv_bwd_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(
      dptr<const T>(p->dout), dptr<T>(p->dx), p->rows, p->kv_heads, p->groups, p->head_dim, p->accumulate != 0);
  ANVIL_LAUNCH_CHECK("repeat_kv_bwd_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_repeat_kv_fwd(const anvil_repeat_kv_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "repeat_kv_fwd", repeat_kv_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_repeat_kv_bwd(const anvil_repeat_kv_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "repeat_kv_bwd", repeat_kv_bwd, p, as_stream(stream));
}

}  // extern "C"
