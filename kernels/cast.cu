// cast.cu: dtype conversion fp32 <-> bf16 (and the same-type copy) over n contiguous elements, for the
// bf16 mixed-precision path (autograd.Autocast): activations into the bf16 GEMM and attention, their
// results back into the fp32 residual stream, and the bf16 copies of fp32 weights.
//   fwd: y (n, to) = convert(x (n, from))                       written (=), or added (+=) when accumulate
//   bwd: dx (n, from) = convert(dy (n, to))                     written (=), or added (+=) when accumulate
//   (the gradient of a cast is the cast the other way). Math in fp32, bf16 rounded to nearest even once.
// Memory-bound (6 bytes per element for fp32 <-> bf16): 8 elements per thread step, as two 16-byte fp32
// loads/stores and one 16-byte bf16 load/store, when both pointers are 16-byte aligned; scalar otherwise.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_cast_params, ANVIL_CAST_SLOTS);

namespace {

using namespace anvil;

constexpr int kThreads = 256;
constexpr int kPack = 8;  // elements per step: 32 bytes of fp32, 16 of bf16

// out (n, To) [+]= in (n, From)
template <typename From, typename To, bool Vec>
__global__ void __launch_bounds__(kThreads)
cast_kernel(const From* in, To* out, int64_t n, bool accumulate) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (Vec) {
    const int64_t packs = n / kPack;
    for (int64_t p = first; p < packs; p += stride) {
      float v[kPack], o[kPack];
      constexpr int NF = 16 / sizeof(From), NT = 16 / sizeof(To);
#pragma unroll
      for (int i = 0; i < kPack; i += NF) {
        float part[NF];
        load_pack<From, NF>(in + p * kPack + i, part);
#pragma unroll
        for (int j = 0; j < NF; ++j) v[i + j] = part[j];
      }
      if (accumulate) {
#pragma unroll
        for (int i = 0; i < kPack; i += NT) {
          float part[NT];
          load_pack<To, NT>(out + p * kPack + i, part);
#pragma unroll
          for (int j = 0; j < NT; ++j) o[i + j] = part[j] + v[i + j];
        }
      } else {
#pragma unroll
        for (int i = 0; i < kPack; ++i) o[i] = v[i];
      }
#pragma unroll
      for (int i = 0; i < kPack; i += NT) {
        float part[NT];
#pragma unroll
        for (int j = 0; j < NT; ++j) part[j] = o[i + j];
        store_pack<To, NT>(out + p * kPack + i, part);
      }
    }
    done = packs * kPack;
  }
  for (int64_t i = done + first; i < n; i += stride) {
    const float v = load(in, i);
    store(out, i, accumulate ? load(out, i) + v : v);
  }
}

template <typename From, typename To>
int launch(int64_t in, int64_t out, int64_t n, bool accumulate, cudaStream_t s) {
  if (n <= 0) return ANVIL_OK;
  if (aligned16(in) && aligned16(out)) {
    auto kernel = cast_kernel<From, To, true>;
    ANVIL_LAUNCH(kernel, blocks_for(n / kPack + 1, kThreads), kThreads, 0, s)(
        dptr<const From>(in), dptr<To>(out), n, accumulate);
  } else {
    auto kernel = cast_kernel<From, To, false>;
    ANVIL_LAUNCH(kernel, blocks_for(n, kThreads), kThreads, 0, s)(dptr<const From>(in), dptr<To>(out), n, accumulate);
  }
  ANVIL_LAUNCH_CHECK("cast_kernel");
  return ANVIL_OK;
}

int convert(int64_t in, int64_t in_dtype, int64_t out, int64_t out_dtype, int64_t n, bool accumulate,
            cudaStream_t s, const char* op) {
  const bool f_in = in_dtype == ANVIL_F32, b_in = in_dtype == ANVIL_BF16;
  const bool f_out = out_dtype == ANVIL_F32, b_out = out_dtype == ANVIL_BF16;
  if (!(f_in || b_in)) return unsupported_dtype(op, in_dtype);
  if (!(f_out || b_out)) return unsupported_dtype(op, out_dtype);
  if (f_in && b_out) return launch<float, bf16>(in, out, n, accumulate, s);
  if (b_in && f_out) return launch<bf16, float>(in, out, n, accumulate, s);
  if (f_in) return launch<float, float>(in, out, n, accumulate, s);
  return launch<bf16, bf16>(in, out, n, accumulate, s);
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_cast_fwd(const anvil_cast_params* p, int64_t stream) {
  return convert(p->x, p->from, p->y, p->to, p->n, p->accumulate != 0, as_stream(stream), "cast_fwd");
}

ANVIL_API int anvil_cuda_cast_bwd(const anvil_cast_params* p, int64_t stream) {
  return convert(p->dy, p->to, p->dx, p->from, p->n, p->accumulate != 0, as_stream(stream), "cast_bwd");
}

}  // extern "C"
