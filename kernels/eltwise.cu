// eltwise.cu: add, mul, scale, axpy and fill over n contiguous elements, fp32 or bf16 (fp32 math).
//   Same contract as native/cpu/eltwise.cpp (see anvil.h):
//   fwd  ADD: out = a + b   MUL: out = a * b   SCALE: out = alpha * a   AXPY: out += alpha * a
//   bwd  da, db written (=), or accumulated (+=) when accumulate.   out may alias a or b.
//   ADD with b_bf16: out (fp32) = a (fp32) + float(b (bf16)): the residual add of a bf16 branch (a bf16
//   linear's output under Autocast) into the fp32 stream, 10 bytes per element instead of the 6 + 12 of a
//   cast to fp32 followed by an fp32 add.
// Memory-bound: one grid-stride loop of 16-byte packs (4 fp32 / 8 bf16) when every pointer is 16-byte
// aligned, scalar otherwise; the tail after the last whole pack is scalar.
#include "common.cuh"

#include <type_traits>

ANVIL_PARAMS_CHECK(anvil_eltwise_params, ANVIL_ELTWISE_SLOTS);

namespace {

using namespace anvil;

// out (n) = alpha * x * (y or 1) (+ out when accumulate); add: out = x + y. y's storage is Y (T, or bf16
// under fp32 T for the widening add).
template <typename T, typename Y, int N>
__global__ void eltwise_kernel(T* out, const T* x, const Y* y, float alpha, int64_t n, bool add,
                               bool accumulate) {
  const int64_t packs = n / N, stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  for (int64_t p = first; p < packs; p += stride) {
    float a[N], b[N], o[N];
    load_pack<T, N>(x + p * N, a);
    if (y) load_pack<Y, N>(y + p * N, b);
    if (accumulate) load_pack<T, N>(out + p * N, o);
#pragma unroll
    for (int i = 0; i < N; ++i) {
      float v = add ? a[i] + b[i] : alpha * a[i] * (y ? b[i] : 1.0f);
      o[i] = accumulate ? o[i] + v : v;
    }
    store_pack<T, N>(out + p * N, o);
  }
  for (int64_t i = packs * N + first; i < n; i += stride) {
    float a = load(x, i), b = y ? load(y, i) : 1.0f;
    float v = add ? a + b : alpha * a * b;
    store(out, i, accumulate ? load(out, i) + v : v);
  }
}

template <typename T, int N>
__global__ void fill_kernel(T* out, T value, int64_t n) {
  const int64_t packs = n / N, stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  Pack<T, N> pack;
#pragma unroll
  for (int i = 0; i < N; ++i) pack.v[i] = value;
  for (int64_t p = first; p < packs; p += stride) reinterpret_cast<Pack<T, N>*>(out)[p] = pack;
  for (int64_t i = packs * N + first; i < n; i += stride) out[i] = value;
}

constexpr int kThreads = 256;

// Y: the storage of y (T, or bf16 for the widening add); N = T's 16-byte pack (a bf16 y then moves 8 bytes).
template <typename T, typename Y = T>
int launch(int64_t out, int64_t x, int64_t y, double alpha, int64_t n, bool add, bool acc, cudaStream_t s) {
  if (n <= 0) return ANVIL_OK;
  constexpr int N = pack_of<T>();
  const bool vec = aligned16(out) && aligned16(x) && aligned16(y);  // y == 0 counts as aligned
  if (vec) {
    auto kernel = eltwise_kernel<T, Y, N>;
    ANVIL_LAUNCH(kernel, blocks_for(n / N + 1, kThreads), kThreads, 0, s)(
        dptr<T>(out), dptr<const T>(x), dptr<const Y>(y), (float)alpha, n, add, acc);
  } else {
    auto kernel = eltwise_kernel<T, Y, 1>;
    ANVIL_LAUNCH(kernel, blocks_for(n, kThreads), kThreads, 0, s)(
        dptr<T>(out), dptr<const T>(x), dptr<const Y>(y), (float)alpha, n, add, acc);
  }
  ANVIL_LAUNCH_CHECK("eltwise_kernel");
  return ANVIL_OK;
}

template <typename T>
int eltwise_fwd(const anvil_eltwise_params* p, cudaStream_t s) {
  if (p->b_bf16) {
    if (!std::is_same_v<T, float> || p->op != ANVIL_ADD)
      return anvil_set_error(ANVIL_E_INVALID, "cuda eltwise_fwd: b_bf16 needs ADD with fp32 a and out");
    return launch<float, bf16>(p->out, p->a, p->b, 1.0, p->n, true, false, s);
  }
  switch (p->op) {
    case ANVIL_ADD: return launch<T>(p->out, p->a, p->b, 1.0, p->n, true, false, s);
    case ANVIL_MUL: return launch<T>(p->out, p->a, p->b, 1.0, p->n, false, false, s);
    case ANVIL_SCALE: return launch<T>(p->out, p->a, 0, p->alpha, p->n, false, false, s);
    case ANVIL_AXPY: return launch<T>(p->out, p->a, 0, p->alpha, p->n, false, true, s);
    default: return anvil_set_error(ANVIL_E_INVALID, "cuda eltwise_fwd: unknown op");
  }
}

template <typename T>
int eltwise_bwd(const anvil_eltwise_params* p, cudaStream_t s) {
  const bool acc = p->accumulate != 0;
  int rc = ANVIL_OK;
  switch (p->op) {
    case ANVIL_ADD:
      if (p->da && (rc = launch<T>(p->da, p->dout, 0, 1.0, p->n, false, acc, s))) return rc;
      if (p->db) rc = launch<T>(p->db, p->dout, 0, 1.0, p->n, false, acc, s);
      return rc;
    case ANVIL_MUL:
      if (p->da && (rc = launch<T>(p->da, p->dout, p->b, 1.0, p->n, false, acc, s))) return rc;
      if (p->db) rc = launch<T>(p->db, p->dout, p->a, 1.0, p->n, false, acc, s);
      return rc;
    case ANVIL_SCALE:
      return p->da ? launch<T>(p->da, p->dout, 0, p->alpha, p->n, false, acc, s) : ANVIL_OK;
    default: return anvil_set_error(ANVIL_E_INVALID, "cuda eltwise_bwd: op has no backward");
  }
}

template <typename T>
int fill(int64_t dst, int64_t n, T value, cudaStream_t s) {
  if (n <= 0) return ANVIL_OK;
  constexpr int N = 16 / sizeof(T);
  if (aligned16(dst)) {
    auto kernel = fill_kernel<T, N>;
    ANVIL_LAUNCH(kernel, blocks_for(n / N + 1, kThreads), kThreads, 0, s)(dptr<T>(dst), value, n);
  } else {
    auto kernel = fill_kernel<T, 1>;
    ANVIL_LAUNCH(kernel, blocks_for(n, kThreads), kThreads, 0, s)(dptr<T>(dst), value, n);
  }
  ANVIL_LAUNCH_CHECK("fill_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_eltwise_fwd(const anvil_eltwise_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "eltwise_fwd", eltwise_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_eltwise_bwd(const anvil_eltwise_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "eltwise_bwd", eltwise_bwd, p, as_stream(stream));
}

// dst[0..n) = value: fp32, bf16 (rounded), or int32 (the integer part, saturated).
ANVIL_API int anvil_cuda_fill(int64_t dst, int64_t n, int64_t dtype, double value, int64_t stream) {
  cudaStream_t s = as_stream(stream);
  if (dtype == ANVIL_F32) return fill<float>(dst, n, (float)value, s);
  if (dtype == ANVIL_BF16) return fill<unsigned short>(dst, n, __bfloat16_as_ushort(__float2bfloat16((float)value)), s);
  if (dtype == ANVIL_I32) {
    double v = value != value ? 0.0 : value < -2147483648.0 ? -2147483648.0 : value > 2147483647.0 ? 2147483647.0 : value;
    return fill<int32_t>(dst, n, static_cast<int32_t>(v), s);
  }
  return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda fill: unknown dtype");
}

}  // extern "C"
