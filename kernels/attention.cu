// attention.cu: the C ABI of multi-head scaled dot-product attention (anvil.h) on CUDA.
// q, k, v, out, dout, dq, dk, dv fp32 or bf16; lse fp32; fp32 math. head_dim <= 256.
//   Element (b, t, h, d) of q is q[b*q_batch_stride + t*q_row_stride + h*head_dim + d] (likewise k, v, out;
//   dq/dk/dv share q/k/v's strides, dout shares out's), so q, k, v may be column blocks of one packed
//   (B, T, 3C) tensor. key_mask (batch, k_len) int32, nonzero = may be attended; 0 = no mask.
//   causal: query i sees keys j <= i + (k_len - q_len) (bottom-right aligned).
//   fwd: out (B, Tq, H*D) = softmax(scale q k^T + masks) v, written; lse (B, H, Tq) = log-sum-exp of the
//        scaled, masked scores (may be 0). A query that sees no key gets out = 0, lse = -inf.
//   bwd: dq, dk, dv written (=): with P = exp(scale q k^T - lse) and delta_i = dout_i . out_i,
//        dS = P (dout v^T - delta); dq = scale dS k; dk = scale dS^T q; dv = P^T dout.
// Dispatch (a function of the arguments and the device only, so one input always takes one path):
//   - bf16, head_dim 64 or 128, a device of compute capability 8.0 or later, every tensor 16-byte aligned
//     and every row and batch stride a multiple of 8 elements (flash_supported):
//       fwd, q_len == 1: the split-KV decode kernels (attention/decode.cuh);
//       fwd on a device of compute capability 9.0 with 0 < scale < inf, when the TMA descriptors of q, k
//                        and v encode: the FA3-style forward with wgmma (attention/flash_fwd_sm90.cuh);
//       fwd otherwise:   FlashAttention-2 forward with mma.sync (attention/flash_fwd.cuh);
//       bwd on compute capability 9.0 (the same conditions, q_len > 1): deterministic dK/dV and dQ kernels
//                        with wgmma (attention/flash_bwd_sm90.cuh);
//       bwd otherwise:   FlashAttention-2 backward, deterministic dK/dV and dQ passes (attention/flash_bwd.cuh);
//   - everything else (fp32 mode, other head dims, unaligned views): the SIMT kernels (attention/simt.cuh).
// Every path is deterministic (no atomics).
// anvil_cuda_attention_decode_fwd (generation, lengths in device memory): q_len 1, k and v the whole cache;
//   bf16 with flash_supported: the split-KV decode kernels with per-row key counts; else decode_simt_kernel.
// anvil_cuda_attention_limit_kernel(kernel) caps the kernels of every later call of this process (1 = SIMT,
// 2 = mma.sync (sm_80), 3 = wgmma (sm_90a), the default: no cap), for tests and diagnosis: 2 runs Hopper on
// the sm_80 forward, 1 everything on the SIMT kernels (a value outside 1..3: ANVIL_E_INVALID).
#include "common.cuh"
#include "attention/decode.cuh"
#include "attention/flash_bwd.cuh"
#include "attention/flash_bwd_sm90.cuh"
#include "attention/flash_fwd.cuh"
#include "attention/flash_fwd_sm90.cuh"
#include "attention/simt.cuh"

#include <atomic>
#include <type_traits>

ANVIL_PARAMS_CHECK(anvil_attention_params, ANVIL_ATTENTION_SLOTS);

namespace {

using namespace anvil;

int check(const anvil_attention_params* p, const char* op) {
  char message[160];
  if (p->head_dim <= 0 || p->head_dim > 256) {
    snprintf(message, sizeof(message), "cuda %s: head_dim %lld is outside [1, 256]", op, (long long)p->head_dim);
    return anvil_set_error(ANVIL_E_UNSUPPORTED, message);
  }
  if ((p->batch * p->heads * (p->q_len > p->k_len ? p->q_len : p->k_len) + attn_simt::kWarps - 1) /
          attn_simt::kWarps >
      INT32_MAX)
    return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda attention: too many rows");
  return ANVIL_OK;
}

// The flash kernels' preconditions (see the header). bwd also checks dout, dq, dk, dv.
template <typename T>
bool flash_supported(const anvil_attention_params* p, bool bwd) {
  if (!std::is_same_v<T, bf16> || (p->head_dim != 64 && p->head_dim != 128)) return false;
  if (!tc::device_has_tensor_cores()) return false;
  for (int64_t a : {p->q, p->k, p->v, p->out})
    if (!aligned16(a)) return false;
  if (bwd)
    for (int64_t a : {p->dout, p->dq, p->dk, p->dv})
      if (!aligned16(a)) return false;
  for (int64_t s : {p->q_row_stride, p->k_row_stride, p->v_row_stride, p->o_row_stride, p->q_batch_stride,
                    p->k_batch_stride, p->v_batch_stride, p->o_batch_stride})
    if (s % 8 != 0) return false;
  // grid limits of the flash launches (64-row blocks in y)
  return (p->q_len + 63) / 64 <= 65535 && (p->k_len + 63) / 64 <= 65535 && p->batch * p->heads <= INT32_MAX;
}

constexpr int kAttentionSimt = 1, kAttentionMmaSm80 = 2, kAttentionWgmmaSm90 = 3;
std::atomic<int> attention_kernel_cap{kAttentionWgmmaSm90};

// Whether the current device is compute capability 9.0 exactly (sm_90a code runs there only); cached.
bool attention_device_is_sm90() {
  static std::atomic<int> known[64];  // 0 unknown, 1 yes, 2 no
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= 64) return false;
  int v = known[device].load(std::memory_order_relaxed);
  if (v == 0) {
    int major = 0, minor = 0;
    v = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
                cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) == cudaSuccess &&
                major == 9 && minor == 0
            ? 1
            : 2;
    known[device].store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

int multiprocessors() {
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || sms <= 0)
    return 108;
  return sms;
}

template <int D>
int flash_fwd(const anvil_attention_params* p, cudaStream_t s) {
  if (p->q_len == 1) {
    const int sms = multiprocessors();
    Scratch scratch(s);
    ANVIL_CUDA_CHECK(scratch.allocate(flash::decode_scratch_bytes<D>(*p, sms)));
    if (cudaError_t e = flash::launch_decode<D>(*p, sms, scratch.at<float>(0), s); e != cudaSuccess)
      return cuda_fail(e, "flash_decode kernels", __FILE__, __LINE__);
    return ANVIL_OK;
  }
  if (attention_kernel_cap.load(std::memory_order_relaxed) >= kAttentionWgmmaSm90 && attention_device_is_sm90() &&
      flash90::flash90_supported(*p)) {
    flash90::Maps maps;
    if (flash90::make_maps<D>(*p, &maps) == cudaSuccess) {  // else: strides TMA refuses, the sm_80 kernel
      if (cudaError_t e = flash90::launch_fwd_sm90<D>(*p, maps, s); e != cudaSuccess)
        return cuda_fail(e, "flash_fwd_sm90_kernel", __FILE__, __LINE__);
      return ANVIL_OK;
    }
  }
  if (cudaError_t e = flash::launch_fwd<D>(*p, s); e != cudaSuccess)
    return cuda_fail(e, "flash_fwd_kernel", __FILE__, __LINE__);
  return ANVIL_OK;
}

template <int D>
int flash_bwd(const anvil_attention_params* p, cudaStream_t s) {
  Scratch scratch(s);
  ANVIL_CUDA_CHECK(scratch.allocate(flash::bwd_scratch_bytes(*p)));
  if (attention_kernel_cap.load(std::memory_order_relaxed) >= kAttentionWgmmaSm90 && attention_device_is_sm90() &&
      flash90::flash90_bwd_supported(*p)) {
    flash90::BwdMaps maps;
    if (flash90::make_bwd_maps<D, flash90::kBwdVariant>(*p, &maps) == cudaSuccess) {  // else: strides TMA refuses, the sm_80 kernels
      if (cudaError_t e = flash90::launch_bwd_sm90<D>(*p, maps, scratch.at<float>(0), s); e != cudaSuccess)
        return cuda_fail(e, "flash_bwd_sm90 kernels", __FILE__, __LINE__);
      return ANVIL_OK;
    }
  }
  if (cudaError_t e = flash::launch_bwd<D>(*p, scratch.at<float>(0), s); e != cudaSuccess)
    return cuda_fail(e, "flash_bwd kernels", __FILE__, __LINE__);
  return ANVIL_OK;
}

template <typename T>
int attention_fwd(const anvil_attention_params* p, cudaStream_t s) {
  if (int rc = check(p, "attention_fwd")) return rc;
  if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0) return ANVIL_OK;
  if (attention_kernel_cap.load(std::memory_order_relaxed) >= kAttentionMmaSm80 && flash_supported<T>(p, false))
    return p->head_dim == 64 ? flash_fwd<64>(p, s) : flash_fwd<128>(p, s);
  if (cudaError_t e = attn_simt::launch_fwd<T>(*p, s); e != cudaSuccess)
    return cuda_fail(e, "attention_fwd_kernel", __FILE__, __LINE__);
  return ANVIL_OK;
}

template <typename T>
int attention_bwd(const anvil_attention_params* p, cudaStream_t s) {
  if (int rc = check(p, "attention_bwd")) return rc;
  if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0 || p->k_len <= 0) return ANVIL_OK;
  if (!p->lse || !p->dq || !p->dk || !p->dv || !p->dout)
    return anvil_set_error(ANVIL_E_INVALID, "cuda attention_bwd: lse, dout, dq, dk and dv are required");
  if (attention_kernel_cap.load(std::memory_order_relaxed) >= kAttentionMmaSm80 && flash_supported<T>(p, true))
    return p->head_dim == 64 ? flash_bwd<64>(p, s) : flash_bwd<128>(p, s);
  Scratch scratch(s);
  ANVIL_CUDA_CHECK(scratch.allocate(sizeof(float) * p->batch * p->heads * p->q_len));
  if (cudaError_t e = attn_simt::launch_bwd<T>(*p, scratch.at<float>(0), s); e != cudaSuccess)
    return cuda_fail(e, "attention_bwd kernels", __FILE__, __LINE__);
  return ANVIL_OK;
}

template <typename T>
int attention_decode_fwd(const anvil_attention_params* p, int64_t lens, int64_t lens_add, cudaStream_t s) {
  if (int rc = check(p, "attention_decode_fwd")) return rc;
  if (p->q_len != 1 || lens == 0 || lens_add < -1 || lens_add > 1)
    return anvil_set_error(ANVIL_E_INVALID, "cuda attention_decode_fwd: q_len must be 1, lens given, lens_add in [-1, 1]");
  if (p->batch <= 0 || p->heads <= 0 || p->k_len <= 0) return ANVIL_OK;
  const int* l = dptr<const int>(lens);
  const int add = static_cast<int>(lens_add);
  if (attention_kernel_cap.load(std::memory_order_relaxed) >= kAttentionMmaSm80 && flash_supported<T>(p, false)) {
    const int sms = multiprocessors();
    Scratch scratch(s);
    if (p->head_dim == 64) {
      ANVIL_CUDA_CHECK(scratch.allocate(flash::decode_scratch_bytes<64>(*p, sms)));
      if (cudaError_t e = flash::launch_decode<64>(*p, sms, scratch.at<float>(0), s, flash::kDecodeFill, l, add);
          e != cudaSuccess)
        return cuda_fail(e, "flash_decode kernels (device lengths)", __FILE__, __LINE__);
    } else {
      ANVIL_CUDA_CHECK(scratch.allocate(flash::decode_scratch_bytes<128>(*p, sms)));
      if (cudaError_t e = flash::launch_decode<128>(*p, sms, scratch.at<float>(0), s, flash::kDecodeFill, l, add);
          e != cudaSuccess)
        return cuda_fail(e, "flash_decode kernels (device lengths)", __FILE__, __LINE__);
    }
    return ANVIL_OK;
  }
  if (cudaError_t e = flash::launch_decode_simt<T>(*p, l, add, s); e != cudaSuccess)
    return cuda_fail(e, "decode_simt_kernel", __FILE__, __LINE__);
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_attention_limit_kernel(int64_t kernel) {
  static_assert(kAttentionSimt == ANVIL_ATTENTION_SIMT && kAttentionMmaSm80 == ANVIL_ATTENTION_MMA_SM80 &&
                kAttentionWgmmaSm90 == ANVIL_ATTENTION_WGMMA_SM90, "anvil.h's ANVIL_ATTENTION_*");
  if (kernel < kAttentionSimt || kernel > kAttentionWgmmaSm90)
    return anvil_set_error(ANVIL_E_INVALID, "cuda attention_limit_kernel: kernel must be 1 (SIMT), 2 (mma.sync) or 3 (wgmma)");
  attention_kernel_cap.store(static_cast<int>(kernel), std::memory_order_relaxed);
  return ANVIL_OK;
}

ANVIL_API int anvil_cuda_attention_fwd(const anvil_attention_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "attention_fwd", attention_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_attention_decode_fwd(const anvil_attention_params* p, int64_t lens, int64_t lens_add,
                                              int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "attention_decode_fwd", attention_decode_fwd, p, lens, lens_add, as_stream(stream));
}

ANVIL_API int anvil_cuda_attention_bwd(const anvil_attention_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "attention_bwd", attention_bwd, p, as_stream(stream));
}

}  // extern "C"
