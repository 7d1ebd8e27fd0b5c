// attention/decode.cuh: attention of one query row per (batch, head) against a KV cache (generation),
// bf16, head dims 64 and 128; memory-bound, so no tensor cores: the goal is to stream K and V once at
// close to DRAM bandwidth. Contract: attention.cu's with q_len = 1 (out, lse as the forward; with one
// query, causal hides nothing: query 0 sees keys <= 0 + Tk - 1).
//   split kernel:   grid (batch*heads, splits); a CTA walks keys [split * per, (split+1) * per). D/8
//                   threads share a key row (one 16-byte chunk each of k and v), a 128-thread CTA keeps
//                   128/(D/8) rows in flight times kUnroll = 4 (8 16-byte loads in flight per thread);
//                   each thread group keeps its own online-softmax state (max m, sum l in log2 units, and
//                   8 output columns), merged across groups in shared memory; the CTA writes its partial
//                   (unnormalized O, m, l) to scratch.
//   combine kernel: grid batch*heads, D threads: merges the splits in a fixed order (deterministic),
//                   writes out = O / l and lse = (m + log2 l) ln 2 (-inf, out 0, where no key is visible).
// Splits are chosen so that batch*heads*splits fills the card about kDecodeFill times over with at least
// 64 keys each. Preconditions: those of the forward (16-byte aligned rows).
// Lengths in device memory (anvil_cuda_attention_decode_fwd, generation in a captured graph): with lens
// given, batch row b sees keys [0, min(k_len, lens[b] + lens_add)) only; k_len is then the cache capacity,
// which fixes the grid (splits past a row's length find no key and write an empty partial, m = -inf,
// l = 0, which the combine weighs 0), so one launch serves every step. decode_simt_kernel is the same
// contract for fp32 and other head dims (one warp per (batch, head), the SIMT forward's arithmetic).
#pragma once

#include "attention/flash_fwd.cuh"
#include "attention/simt.cuh"

namespace anvil::flash {

// Keys a row sees when its filled length lives in device memory: [0, min(capacity, len + add)), none when
// that is negative.
__host__ __device__ inline int64_t visible_keys(int64_t capacity, int len, int add) {
  const int64_t n = static_cast<int64_t>(len) + add;
  return n < 0 ? 0 : (n < capacity ? n : capacity);
}

template <int D>
struct DecodeShape {
  static_assert(D == 64 || D == 128, "head dims 64 and 128");
  static constexpr int kThreads = 128, kGroup = D / 8, kGroups = kThreads / kGroup, kUnroll = 4;
  static constexpr int kKeysPerRound = kGroups * kUnroll;
  static constexpr int kPartial = D + 2;  // floats per (bh, split): O[D], m, l
};

template <int D>
__global__ void __launch_bounds__(128) flash_decode_split_kernel(const anvil_attention_params p, float* partial,
                                                                 int64_t keys_per_split, int splits,
                                                                 const int* lens, int lens_add) {
  using S = DecodeShape<D>;
  __shared__ float merge_o[S::kGroups][D];
  __shared__ float merge_ml[S::kGroups][2];
  const int64_t bh = blockIdx.x, b = bh / p.heads, h = bh % p.heads;
  const int split = blockIdx.y;
  const int group = threadIdx.x / S::kGroup, gl = threadIdx.x % S::kGroup, d0 = gl * 8;
  const int64_t tk = lens ? visible_keys(p.k_len, lens[b], lens_add) : p.k_len;
  const int64_t j_begin = split * keys_per_split;
  const int64_t j_end = min(tk, j_begin + keys_per_split);
  const bf16* k = head_row(p.k, p.k_batch_stride, b, h, D) + d0;
  const bf16* v = head_row(p.v, p.v_batch_stride, b, h, D) + d0;
  const int* mask = p.key_mask ? reinterpret_cast<const int*>(static_cast<uintptr_t>(p.key_mask)) + b * p.k_len : nullptr;

  float qs[8];
  {
    const uint4 raw = *reinterpret_cast<const uint4*>(head_row(p.q, p.q_batch_stride, b, h, D) + d0);
    const __nv_bfloat162* q2 = reinterpret_cast<const __nv_bfloat162*>(&raw);
    const float scale_log2 = static_cast<float>(p.scale) * kLog2e;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 f = __bfloat1622float2(q2[e]);
      qs[2 * e] = f.x * scale_log2;
      qs[2 * e + 1] = f.y * scale_log2;
    }
  }
  float m = -INFINITY, l = 0.0f, acc[8] = {};
  // Every thread runs the same number of rounds (the shuffles below need the whole warp).
  for (int64_t base = j_begin; base < j_end; base += S::kKeysPerRound) {
    uint4 kr[S::kUnroll], vr[S::kUnroll];
#pragma unroll
    for (int u = 0; u < S::kUnroll; ++u) {
      const int64_t j = base + u * S::kGroups + group;
      if (j < j_end) {
        kr[u] = *reinterpret_cast<const uint4*>(k + j * p.k_row_stride);
        vr[u] = *reinterpret_cast<const uint4*>(v + j * p.v_row_stride);
      } else {
        kr[u] = vr[u] = make_uint4(0, 0, 0, 0);
      }
    }
    float s[S::kUnroll];
#pragma unroll
    for (int u = 0; u < S::kUnroll; ++u) {
      const __nv_bfloat162* k2 = reinterpret_cast<const __nv_bfloat162*>(&kr[u]);
      float dot = 0.0f;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float2 f = __bfloat1622float2(k2[e]);
        dot += qs[2 * e] * f.x + qs[2 * e + 1] * f.y;
      }
#pragma unroll
      for (int offset = S::kGroup / 2; offset > 0; offset >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
      const int64_t j = base + u * S::kGroups + group;
      s[u] = j < j_end && (mask == nullptr || mask[j] != 0) ? dot : -INFINITY;
    }
    float mx = m;
#pragma unroll
    for (int u = 0; u < S::kUnroll; ++u) mx = fmaxf(mx, s[u]);
    const float m_use = mx == -INFINITY ? 0.0f : mx;
    const float correction = exp2f(m - m_use);
    m = mx;
    l *= correction;
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[e] *= correction;
#pragma unroll
    for (int u = 0; u < S::kUnroll; ++u) {
      const float pu = exp2f(s[u] - m_use);
      l += pu;
      const __nv_bfloat162* v2 = reinterpret_cast<const __nv_bfloat162*>(&vr[u]);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float2 f = __bfloat1622float2(v2[e]);
        acc[2 * e] += pu * f.x;
        acc[2 * e + 1] += pu * f.y;
      }
    }
  }
  // merge the groups (fixed order), write this split's partial
#pragma unroll
  for (int e = 0; e < 8; ++e) merge_o[group][d0 + e] = acc[e];
  if (gl == 0) {
    merge_ml[group][0] = m;
    merge_ml[group][1] = l;
  }
  __syncthreads();
  float* out = partial + (bh * splits + split) * S::kPartial;
  for (int d = threadIdx.x; d < D; d += S::kThreads) {
    float mm = -INFINITY;
#pragma unroll
    for (int g = 0; g < S::kGroups; ++g) mm = fmaxf(mm, merge_ml[g][0]);
    float ll = 0.0f, o = 0.0f;
    if (mm != -INFINITY) {
#pragma unroll
      for (int g = 0; g < S::kGroups; ++g) {
        const float w = exp2f(merge_ml[g][0] - mm);  // 0 for a group that saw nothing
        ll += merge_ml[g][1] * w;
        o += merge_o[g][d] * w;
      }
    }
    out[d] = o;
    if (d == 0) {
      out[D] = mm;
      out[D + 1] = ll;
    }
  }
}

template <int D>
__global__ void __launch_bounds__(128) flash_decode_combine_kernel(const anvil_attention_params p,
                                                                   const float* partial, int splits) {
  using S = DecodeShape<D>;
  const int64_t bh = blockIdx.x, b = bh / p.heads, h = bh % p.heads;
  const int d = threadIdx.x;
  if (d >= D) return;
  const float* part = partial + bh * splits * S::kPartial;
  float mm = -INFINITY;
  for (int s = 0; s < splits; ++s) mm = fmaxf(mm, part[s * S::kPartial + D]);
  float ll = 0.0f, o = 0.0f;
  if (mm != -INFINITY) {
    for (int s = 0; s < splits; ++s) {
      const float w = exp2f(part[s * S::kPartial + D] - mm);
      ll += part[s * S::kPartial + D + 1] * w;
      o += part[s * S::kPartial + d] * w;
    }
  }
  bf16* out = const_cast<bf16*>(head_row(p.out, p.o_batch_stride, b, h, D));
  out[d] = __float2bfloat16(ll > 0.0f ? o / ll : 0.0f);
  if (p.lse && d == 0)
    reinterpret_cast<float*>(static_cast<uintptr_t>(p.lse))[bh] = ll > 0.0f ? (mm + __log2f(ll)) * kLn2 : -INFINITY;
}

// How the keys are split for a card of `sms` multiprocessors: batch*heads*splits CTAs fill the card about
// `fill` times over (the product: kDecodeFill), with at least 64 keys per split.
constexpr int kDecodeFill = 4;
struct DecodeSplit {
  int splits;
  int64_t keys_per_split;
};

template <int D>
DecodeSplit decode_split(const anvil_attention_params& p, int sms, int fill = kDecodeFill) {
  using S = DecodeShape<D>;
  const int64_t bh = p.batch * p.heads, tk = p.k_len;
  const int64_t want = (static_cast<int64_t>(fill) * sms + bh - 1) / bh;  // CTAs to fill the card ~fill times
  const int64_t most = (tk + 63) / 64;                      // at least 64 keys per split
  int64_t splits = want < most ? want : most;
  if (splits < 1) splits = 1;
  if (splits > 1024) splits = 1024;
  int64_t per = (tk + splits - 1) / splits;
  per = (per + S::kKeysPerRound - 1) / S::kKeysPerRound * S::kKeysPerRound;
  splits = per > 0 ? (tk + per - 1) / per : 1;
  if (splits < 1) splits = 1;
  return {static_cast<int>(splits), per > 0 ? per : S::kKeysPerRound};
}

template <int D>
size_t decode_scratch_bytes(const anvil_attention_params& p, int sms, int fill = kDecodeFill) {
  return sizeof(float) * static_cast<size_t>(p.batch * p.heads) * decode_split<D>(p, sms, fill).splits *
         DecodeShape<D>::kPartial;
}

// q_len must be 1. scratch: decode_scratch_bytes. lens: 0, or int32 (batch) lengths on the device (see
// the header; k_len is then the capacity).
template <int D>
cudaError_t launch_decode(const anvil_attention_params& p, int sms, float* scratch, cudaStream_t stream,
                          int fill = kDecodeFill, const int* lens = nullptr, int lens_add = 0) {
  const int64_t bh = p.batch * p.heads;
  if (bh == 0) return cudaSuccess;
  if (bh > 0x7fffffff || p.q_len != 1) return cudaErrorInvalidValue;
  const DecodeSplit sp = decode_split<D>(p, sms, fill);
  auto split = flash_decode_split_kernel<D>;
  ANVIL_LAUNCH(split, dim3(static_cast<unsigned>(bh), static_cast<unsigned>(sp.splits)), 128, 0, stream)(
      p, scratch, sp.keys_per_split, sp.splits, lens, lens_add);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  auto combine = flash_decode_combine_kernel<D>;
  ANVIL_LAUNCH(combine, static_cast<unsigned>(bh), 128, 0, stream)(p, scratch, sp.splits);
  return cudaGetLastError();
}

// out (b, 0, h, :) and lse (b, h) of one (batch, head) row per warp over the keys row b sees; fp32 or bf16,
// head_dim <= 256 (R = head_dim / 32 rounded up to 1, 2, 4 or 8). Online softmax in natural-log units,
// as attn_simt::attention_fwd_kernel.
template <typename T, int R>
__global__ void __launch_bounds__(attn_simt::kWarps * 32)
    decode_simt_kernel(const anvil_attention_params p, const int* lens, int lens_add) {
  const int64_t w = blockIdx.x * (int64_t)attn_simt::kWarps + (threadIdx.x >> 5);
  if (w >= p.batch * p.heads) return;
  const int64_t b = w / p.heads, h = w % p.heads, dim = p.head_dim;
  const int64_t n = visible_keys(p.k_len, lens[b], lens_add);
  const T* q = dptr<const T>(p.q) + b * p.q_batch_stride + h * dim;
  const T* k = dptr<const T>(p.k) + b * p.k_batch_stride + h * dim;
  const T* v = dptr<const T>(p.v) + b * p.v_batch_stride + h * dim;
  const int* mask = p.key_mask ? dptr<const int>(p.key_mask) + b * p.k_len : nullptr;
  float qs[R], acc[R] = {};
  attn_simt::load_row<T, R>(q, dim, qs, static_cast<float>(p.scale));
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    if (mask && mask[j] == 0) continue;
    const float s = attn_simt::row_dot<T, R>(qs, k + j * p.k_row_stride, dim);
    const float m_new = fmaxf(m, s);
    const float correction = __expf(m - m_new);  // 0 while m is -inf
    const float e = __expf(s - m_new);
    float vj[R];
    attn_simt::load_row<T, R>(v + j * p.v_row_stride, dim, vj);
    l = l * correction + e;
#pragma unroll
    for (int x = 0; x < R; ++x) acc[x] = acc[x] * correction + e * vj[x];
    m = m_new;
  }
  T* out = dptr<T>(p.out) + b * p.o_batch_stride + h * dim;
  attn_simt::store_row<T, R>(out, dim, acc, l > 0.0f ? 1.0f / l : 0.0f);
  if (p.lse && (threadIdx.x & 31) == 0) dptr<float>(p.lse)[w] = l > 0.0f ? m + __logf(l) : -INFINITY;
}

template <typename T, int R>
cudaError_t decode_simt(const anvil_attention_params& p, const int* lens, int lens_add, cudaStream_t s) {
  auto kernel = decode_simt_kernel<T, R>;
  ANVIL_LAUNCH(kernel, attn_simt::blocks_of(p.batch * p.heads), attn_simt::kWarps * 32, 0, s)(p, lens, lens_add);
  return cudaGetLastError();
}

// q_len must be 1, lens int32 (batch) on the device.
template <typename T>
cudaError_t launch_decode_simt(const anvil_attention_params& p, const int* lens, int lens_add, cudaStream_t s) {
  if (p.batch * p.heads == 0) return cudaSuccess;
  if (p.head_dim <= 32) return decode_simt<T, 1>(p, lens, lens_add, s);
  if (p.head_dim <= 64) return decode_simt<T, 2>(p, lens, lens_add, s);
  if (p.head_dim <= 128) return decode_simt<T, 4>(p, lens, lens_add, s);
  return decode_simt<T, 8>(p, lens, lens_add, s);
}

}  // namespace anvil::flash
