// attention/flash_fwd.cuh: FlashAttention-2 forward for sm_80 and later (mma.sync, ldmatrix, cp.async),
// bf16 q/k/v/out, fp32 accumulation and softmax, head dims 64 and 128. Contract: attention.cu's (anvil.h):
//   out (B, Tq, H*D) = softmax(scale q k^T + masks) v, written; lse (B, H, Tq) fp32 natural log-sum-exp of
//   the scaled, masked scores (skipped when p.lse == 0). causal: query i sees keys j <= i + (Tk - Tq)
//   (bottom-right); key_mask (B, Tk) int32, 0 = masked. A query that sees no key: out 0, lse -inf.
// Preconditions (flash_supported in attention.cu): q, k, v, out 16-byte aligned, every row and batch
// stride a multiple of 8 elements (so each 16-byte chunk of a head row is aligned).
//
// A CTA owns kBr = 64 query rows of one (batch, head): 4 warps of 16 rows each, Q fragments held in
// registers for the whole key loop. Keys advance kBc = 64 per step through 2 shared-memory stages of K and
// V (cp.async; the next block loads while this one computes). Per step and warp:
//   S (16 x 64) = Q K^T            K stored (key, d): plain ldmatrix B fragments
//   online softmax in log2 units   x = S * scale * log2(e); running max m and per-thread partial sums l
//   O (16 x D) += P V              P from S's registers (C->A fragments, bf16), V stored (key, d): .trans
// Masking costs only in the blocks that need it (tails, the causal diagonal, a key mask). Causal CTAs are
// issued heaviest (last query block) first. Shared memory: Q 64 x D + 2 x (K, V) 64 x D bf16, swizzled.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "anvil/anvil.h"
#include "tensor_core.cuh"

namespace anvil::flash {

using bf16 = __nv_bfloat16;

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

template <int D>
struct FwdShape {
  static_assert(D == 64 || D == 128, "head dims 64 and 128");
  static constexpr int kWarps = 4, kThreads = 32 * kWarps, kBr = 16 * kWarps, kBc = 64, kChunks = D / 8;
  static constexpr int kQElems = kBr * D, kKVElems = kBc * D;
  static constexpr int kSmemBytes = (kQElems + 4 * kKVElems) * 2;  // Q + 2 stages of K and V
};

// kRows x D rows of a head into a swizzled tile; rows at or past `valid` are zero-filled. Every thread
// copies kRows * D / 8 / kThreads chunks, consecutive threads on consecutive chunks of a row.
template <int kRows, int D, int kThreads>
__device__ __forceinline__ void load_rows(uint32_t tile, const bf16* g, int64_t row_stride, int64_t valid) {
  constexpr int kChunks = D / 8, kTotal = kRows * kChunks;
  static_assert(kTotal % kThreads == 0, "whole chunks per thread");
#pragma unroll
  for (int i = 0; i < kTotal / kThreads; ++i) {
    const int id = threadIdx.x + i * kThreads, r = id / kChunks, c = id % kChunks;
    const bool ok = r < valid;
    tc::cp_async16(tile + 2 * tc::swizzle<kChunks>(r, c), ok ? g + r * row_stride + c * 8 : g, ok);
  }
}

// Element (b, t, h, 0) of a token-row tensor.
__device__ __forceinline__ const bf16* head_row(int64_t address, int64_t batch_stride, int64_t b, int64_t h,
                                                int64_t dim) {
  return reinterpret_cast<const bf16*>(static_cast<uintptr_t>(address)) + b * batch_stride + h * dim;
}

// grid: x = batch * heads, y = query blocks (ceil(Tq / 64)); block kThreads; dynamic smem kSmemBytes.
template <int D>
__global__ void __launch_bounds__(FwdShape<D>::kThreads, 2) flash_fwd_kernel(const anvil_attention_params p) {
  using S = FwdShape<D>;
  constexpr int kBr = S::kBr, kBc = S::kBc, kChunks = S::kChunks, kDT = D / 8, kNT = kBc / 8;
  unsigned char* smem = tc::dynamic_smem();
  const uint32_t sq = tc::smem_address(smem);
  auto sk = [&](int st) { return sq + (S::kQElems + 2 * st * S::kKVElems) * 2; };
  auto sv = [&](int st) { return sq + (S::kQElems + (2 * st + 1) * S::kKVElems) * 2; };

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t bh = blockIdx.x, b = bh / p.heads, h = bh % p.heads;
  const int64_t qb = p.causal ? gridDim.y - 1 - blockIdx.y : blockIdx.y;
  const int64_t q0 = qb * kBr, tq = p.q_len, tk = p.k_len, shift = tk - tq;
  const bf16* q = head_row(p.q, p.q_batch_stride, b, h, D);
  const bf16* k = head_row(p.k, p.k_batch_stride, b, h, D);
  const bf16* v = head_row(p.v, p.v_batch_stride, b, h, D);
  const int* mask = p.key_mask ? reinterpret_cast<const int*>(static_cast<uintptr_t>(p.key_mask)) + b * tk : nullptr;
  const float scale_log2 = static_cast<float>(p.scale) * kLog2e;

  // Keys [0, kend) can be visible to some row of this block.
  int64_t kend = tk;
  if (p.causal) kend = min(tk, min(q0 + kBr, tq) + shift);
  const int nblocks = kend > 0 ? static_cast<int>((kend + kBc - 1) / kBc) : 0;

  float o[kDT][4];
#pragma unroll
  for (int i = 0; i < kDT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // rows g and g + 8 (log2 units; l per thread)
  const int64_t row0 = q0 + warp * 16 + (lane >> 2);          // this thread's rows: row0, row0 + 8

  if (nblocks > 0) {
    load_rows<kBr, D, S::kThreads>(sq, q + q0 * p.q_row_stride, p.q_row_stride, tq - q0);
    load_rows<kBc, D, S::kThreads>(sk(0), k, p.k_row_stride, tk);
    load_rows<kBc, D, S::kThreads>(sv(0), v, p.v_row_stride, tk);
    tc::cp_async_commit();
    uint32_t qf[D / 16][4];
    for (int jb = 0; jb < nblocks; ++jb) {
      const int st = jb & 1;
      __syncthreads();  // every warp is done with block jb - 1: its stage may be refilled
      if (jb + 1 < nblocks) {
        const int64_t j1 = (int64_t)(jb + 1) * kBc;
        load_rows<kBc, D, S::kThreads>(sk(st ^ 1), k + j1 * p.k_row_stride, p.k_row_stride, tk - j1);
        load_rows<kBc, D, S::kThreads>(sv(st ^ 1), v + j1 * p.v_row_stride, p.v_row_stride, tk - j1);
      }
      tc::cp_async_commit();
      tc::cp_async_wait<1>();  // everything but the prefetch just issued: Q and block jb
      __syncthreads();
      if (jb == 0) {
#pragma unroll
        for (int ks = 0; ks < D / 16; ++ks) tc::load_a<kChunks>(qf[ks], sq, warp * 16, ks, lane);
      }
      const int64_t j0 = (int64_t)jb * kBc;

      // S = Q K^T (16 x 64 per warp)
      float s[kNT][4];
#pragma unroll
      for (int i = 0; i < kNT; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < D / 16; ++ks) {
#pragma unroll
        for (int np = 0; np < kNT / 2; ++np) {
          uint32_t kb[4];
          tc::load_b_kmajor<kChunks>(kb, sk(st), np * 16, ks, lane);
          tc::mma_bf16(s[2 * np], qf[ks], kb[0], kb[1]);
          tc::mma_bf16(s[2 * np + 1], qf[ks], kb[2], kb[3]);
        }
      }

      // scale to log2 units; mask (-inf) where this block needs it
      const bool need_mask = mask != nullptr || j0 + kBc > tk || (p.causal && j0 + kBc - 1 > q0 + shift);
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = s[nt][e] * scale_log2;
          if (need_mask) {
            const int64_t j = j0 + nt * 8 + 2 * (lane & 3) + (e & 1), i = row0 + (e >> 1) * 8;
            if (j >= tk || (p.causal && j > i + shift) || (mask && mask[j] == 0)) x = -INFINITY;
          }
          s[nt][e] = x;
        }
      }

      // online softmax: new row max over the quad, rescale O and l, P = exp2(x - max)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * half], s[nt][2 * half + 1]));
        const float m_new = fmaxf(m[half], tc::quad_max(mx));
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row with nothing visible yet: no NaN
        const float correction = exp2f(m[half] - m_use);
        m[half] = m_new;
        float sum = 0.0f;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
          for (int e = 2 * half; e < 2 * half + 2; ++e) {
            s[nt][e] = exp2f(s[nt][e] - m_use);
            sum += s[nt][e];
          }
        }
        l[half] = l[half] * correction + sum;
#pragma unroll
        for (int dt = 0; dt < kDT; ++dt) {
          o[dt][2 * half] *= correction;
          o[dt][2 * half + 1] *= correction;
        }
      }

      // O += P V: P's k16 steps from S's C fragments, V fragments transposed from (key, d) rows
#pragma unroll
      for (int kk = 0; kk < kNT / 2; ++kk) {
        uint32_t pa[4];
        tc::c_to_a(pa, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
        for (int dp = 0; dp < kDT / 2; ++dp) {
          uint32_t vb[4];
          tc::load_b_nmajor<kChunks>(vb, sv(st), dp * 16, kk, lane);
          tc::mma_bf16(o[2 * dp], pa, vb[0], vb[1]);
          tc::mma_bf16(o[2 * dp + 1], pa, vb[2], vb[3]);
        }
      }
    }
    tc::cp_async_wait<0>();
  }

  // out = O / l (0 where nothing was visible); lse = ln(sum exp) = (m + log2 l) ln 2
  bf16* out = const_cast<bf16*>(head_row(p.out, p.o_batch_stride, b, h, D));
  float* lse = p.lse ? reinterpret_cast<float*>(static_cast<uintptr_t>(p.lse)) + bh * tq : nullptr;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float total = tc::quad_sum(l[half]);
    const int64_t row = row0 + half * 8;
    if (row >= tq) continue;
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    bf16* dst = out + row * p.o_row_stride + 2 * (lane & 3);
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt)
      *reinterpret_cast<__nv_bfloat162*>(dst + dt * 8) =
          __floats2bfloat162_rn(o[dt][2 * half] * inv, o[dt][2 * half + 1] * inv);
    if (lse && (lane & 3) == 0) lse[row] = total > 0.0f ? m[half] * kLn2 + __logf(total) : -INFINITY;
  }
}

template <int D>
cudaError_t launch_fwd(const anvil_attention_params& p, cudaStream_t stream) {
  using S = FwdShape<D>;
  const int64_t q_blocks = (p.q_len + S::kBr - 1) / S::kBr, bh = p.batch * p.heads;
  if (q_blocks > 65535 || bh > 0x7fffffff) return cudaErrorInvalidConfiguration;
  if (q_blocks == 0 || bh == 0) return cudaSuccess;
  auto kernel = flash_fwd_kernel<D>;
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, S::kSmemBytes);
  if (e != cudaSuccess) return e;
  ANVIL_LAUNCH(kernel, dim3(static_cast<unsigned>(bh), static_cast<unsigned>(q_blocks)), S::kThreads, S::kSmemBytes,
               stream)(p);
  return cudaGetLastError();
}

}  // namespace anvil::flash
