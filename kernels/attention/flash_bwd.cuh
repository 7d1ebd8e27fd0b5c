// attention/flash_bwd.cuh: FlashAttention-2 backward for sm_80 and later, bf16, head dims 64 and 128.
// Contract: attention.cu's (anvil.h): dq, dk, dv written (=) from q, k, v, out, lse, dout; with
// P = exp(scale q k^T - lse) (0 where masked) and delta_i = dout_i . out_i:
//   dV = P^T dO      dS = P o (dO V^T - delta)      dQ = scale dS K      dK = scale dS^T Q
// Deterministic (no atomics), in three kernels:
//   1 prep:  per query row, delta (fp32) and lse2 = lse * log2(e) (+inf where lse = -inf, so P = 0 for a
//            query that saw no key) into scratch rows padded to a multiple of 64 (pad: delta 0, lse2 +inf,
//            so padded queries contribute nothing and the tiles load with aligned 16-byte copies);
//   2 dK/dV: a CTA owns 64 keys (4 warps x 16), walks the query blocks that can see them, computing the
//            transposed products S^T = K Q^T and dP^T = V dO^T so that P^T and dS^T come out of the
//            accumulators in the A-fragment layout of dV += P^T dO and dK += dS^T Q;
//   3 dQ:    a CTA owns 64 queries (4 warps x 16, Q and dO fragments in registers), walks the key blocks
//            they can see: S = Q K^T, dP = dO V^T, dQ += dS K.
// dQ's pass recomputes S and dP (7 products per block pair instead of the 5 of the atomic form): the
// price of determinism, see kernels/NOTES.md. Preconditions: those of the forward, plus dout, dq, dk, dv
// 16-byte aligned (they share out's / q's / k's / v's strides).
#pragma once

#include "attention/flash_fwd.cuh"

namespace anvil::flash {

template <int D>
struct BwdShape {
  static_assert(D == 64 || D == 128, "head dims 64 and 128");
  static constexpr int kWarps = 4, kThreads = 32 * kWarps, kChunks = D / 8, kPad = 64;
  // dK/dV: 64 keys per CTA, kBq queries per step (fewer at D = 128: registers)
  static constexpr int kBk = 16 * kWarps, kBq = D == 64 ? 64 : 32;
  static constexpr int kKVBytes = 2 * kBk * D * 2;                      // K and V tiles
  static constexpr int kStageBytes = 2 * kBq * D * 2 + 2 * kBq * 4;     // Q, dO tiles, lse2, delta
  static constexpr int kDkdvSmem = kKVBytes + 2 * kStageBytes;
  // dQ: 64 queries per CTA, kBk2 keys per step
  static constexpr int kBq2 = 16 * kWarps, kBk2 = D == 64 ? 64 : 32;
  static constexpr int kQdOBytes = 2 * kBq2 * D * 2;                    // Q and dO tiles
  static constexpr int kDqSmem = kQdOBytes + 2 * (2 * kBk2 * D * 2);    // + 2 stages of K and V
};

inline int64_t padded_rows(int64_t q_len) { return (q_len + 63) / 64 * 64; }

// delta, lse2 (batch*heads, padded_rows(Tq)) fp32. grid: x = ceil(rows_total / rows per block), block
// 128 threads; D / 8 threads per query row, each with one 16-byte chunk of dout and out.
template <int D>
__global__ void __launch_bounds__(128) flash_bwd_prep_kernel(const anvil_attention_params p, float* delta,
                                                             float* lse2, int64_t padded) {
  constexpr int kGroup = D / 8, kRowsPerBlock = 128 / kGroup;
  const int64_t row = blockIdx.x * (int64_t)kRowsPerBlock + threadIdx.x / kGroup;  // over bh * padded
  const int gl = threadIdx.x % kGroup;
  const int64_t total = p.batch * p.heads * padded;
  const int64_t bh = row / padded, i = row % padded;
  float dot = 0.0f;
  const bool real = row < total && i < p.q_len;
  if (real) {
    const int64_t b = bh / p.heads, h = bh % p.heads;
    const bf16* dout = head_row(p.dout, p.o_batch_stride, b, h, D) + i * p.o_row_stride + gl * 8;
    const bf16* out = head_row(p.out, p.o_batch_stride, b, h, D) + i * p.o_row_stride + gl * 8;
    const uint4 g = *reinterpret_cast<const uint4*>(dout), o = *reinterpret_cast<const uint4*>(out);
    const __nv_bfloat162* g2 = reinterpret_cast<const __nv_bfloat162*>(&g);
    const __nv_bfloat162* o2 = reinterpret_cast<const __nv_bfloat162*>(&o);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 gf = __bfloat1622float2(g2[e]), of = __bfloat1622float2(o2[e]);
      dot += gf.x * of.x + gf.y * of.y;
    }
  }
#pragma unroll
  for (int offset = kGroup / 2; offset > 0; offset >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
  if (row < total && gl == 0) {
    float l2 = INFINITY;
    if (real) {
      const float l = reinterpret_cast<const float*>(static_cast<uintptr_t>(p.lse))[bh * p.q_len + i];
      l2 = l == -INFINITY ? INFINITY : l * kLog2e;
    }
    delta[row] = real ? dot : 0.0f;
    lse2[row] = l2;
  }
}

// grid: x = batch * heads, y = key blocks (ceil(Tk / 64)); block 128; dynamic smem kDkdvSmem.
template <int D>
__global__ void __launch_bounds__(BwdShape<D>::kThreads, 2)
flash_bwd_dkdv_kernel(const anvil_attention_params p, const float* delta, const float* lse2, int64_t padded) {
  using S = BwdShape<D>;
  constexpr int kBk = S::kBk, kBq = S::kBq, kChunks = S::kChunks, kDT = D / 8, kNT = kBq / 8;
  unsigned char* smem = tc::dynamic_smem();
  const uint32_t sk = tc::smem_address(smem), sv = sk + kBk * D * 2;
  auto sq = [&](int st) { return sk + S::kKVBytes + st * S::kStageBytes; };
  auto sdo = [&](int st) { return sq(st) + kBq * D * 2; };
  auto lse_tile = [&](int st) {
    return reinterpret_cast<const float*>(smem + S::kKVBytes + st * S::kStageBytes + 2 * kBq * D * 2);
  };
  auto delta_tile = [&](int st) { return lse_tile(st) + kBq; };

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t bh = blockIdx.x, b = bh / p.heads, h = bh % p.heads;
  const int64_t j0 = (int64_t)blockIdx.y * kBk, tq = p.q_len, tk = p.k_len, shift = tk - tq;
  const bf16* q = head_row(p.q, p.q_batch_stride, b, h, D);
  const bf16* k = head_row(p.k, p.k_batch_stride, b, h, D);
  const bf16* v = head_row(p.v, p.v_batch_stride, b, h, D);
  const bf16* dout = head_row(p.dout, p.o_batch_stride, b, h, D);
  const float* lse_rows = lse2 + bh * padded;
  const float* delta_rows = delta + bh * padded;
  const int* mask = p.key_mask ? reinterpret_cast<const int*>(static_cast<uintptr_t>(p.key_mask)) + b * tk : nullptr;
  const float scale_log2 = static_cast<float>(p.scale) * kLog2e;

  // this thread's key rows jr[0], jr[1] = jr[0] + 8; a masked key (or one past Tk) gets P = 0 everywhere
  const int64_t jr0 = j0 + warp * 16 + (lane >> 2);
  bool key_ok[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int64_t j = jr0 + half * 8;
    key_ok[half] = j < tk && (mask == nullptr || mask[j] != 0);
  }
  // queries that can see a key of this block: i >= j0 - shift (causal)
  const int64_t first = p.causal ? max((int64_t)0, j0 - shift) : 0;
  const int qb_begin = static_cast<int>(first / kBq), qb_end = static_cast<int>((tq + kBq - 1) / kBq);

  float dk[kDT][4], dv[kDT][4];
#pragma unroll
  for (int i = 0; i < kDT; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[i][e] = dv[i][e] = 0.0f;

  auto load_stage = [&](int qb, int st) {
    const int64_t i0 = (int64_t)qb * kBq;
    load_rows<kBq, D, S::kThreads>(sq(st), q + i0 * p.q_row_stride, p.q_row_stride, tq - i0);
    load_rows<kBq, D, S::kThreads>(sdo(st), dout + i0 * p.o_row_stride, p.o_row_stride, tq - i0);
    // lse2 and delta: kBq floats each = kBq / 4 chunks each, inside the padded rows
    const uint32_t sl = tc::smem_address(lse_tile(st));
    for (int c = threadIdx.x; c < kBq / 2; c += S::kThreads) {
      const bool is_lse = c < kBq / 4;
      const int cc = is_lse ? c : c - kBq / 4;
      tc::cp_async16(sl + (is_lse ? 0 : kBq * 4) + cc * 16, (is_lse ? lse_rows : delta_rows) + i0 + cc * 4, true);
    }
  };

  if (qb_begin < qb_end) {
    load_rows<kBk, D, S::kThreads>(sk, k + j0 * p.k_row_stride, p.k_row_stride, tk - j0);
    load_rows<kBk, D, S::kThreads>(sv, v + j0 * p.v_row_stride, p.v_row_stride, tk - j0);
    load_stage(qb_begin, 0);
    tc::cp_async_commit();
    for (int qb = qb_begin; qb < qb_end; ++qb) {
      const int st = (qb - qb_begin) & 1;
      __syncthreads();  // every warp is done with the previous stage
      if (qb + 1 < qb_end) load_stage(qb + 1, st ^ 1);
      tc::cp_async_commit();
      tc::cp_async_wait<1>();
      __syncthreads();
      const int64_t i0 = (int64_t)qb * kBq;
      const float* lt = lse_tile(st);
      const float* dt_ = delta_tile(st);

      // S^T (16 keys x kBq queries) = K_w Q^T
      float s[kNT][4];
#pragma unroll
      for (int i = 0; i < kNT; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < D / 16; ++ks) {
        uint32_t ka[4];
        tc::load_a<kChunks>(ka, sk, warp * 16, ks, lane);
#pragma unroll
        for (int np = 0; np < kNT / 2; ++np) {
          uint32_t qbf[4];
          tc::load_b_kmajor<kChunks>(qbf, sq(st), np * 16, ks, lane);
          tc::mma_bf16(s[2 * np], ka, qbf[0], qbf[1]);
          tc::mma_bf16(s[2 * np + 1], ka, qbf[2], qbf[3]);
        }
      }
      // P^T = exp2(S^T scale log2e - lse2[query]); 0 for masked keys and causally hidden pairs
      const bool causal_edge = p.causal && j0 + kBk - 1 > i0 + shift;
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int col = nt * 8 + 2 * (lane & 3) + (e & 1);
          float pv = exp2f(s[nt][e] * scale_log2 - lt[col]);
          const int half = e >> 1;
          if (!key_ok[half] || (causal_edge && jr0 + half * 8 > i0 + col + shift)) pv = 0.0f;
          s[nt][e] = pv;
        }
      }
      // dV += P^T dO
#pragma unroll
      for (int kk = 0; kk < kNT / 2; ++kk) {
        uint32_t pa[4];
        tc::c_to_a(pa, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
        for (int dp = 0; dp < kDT / 2; ++dp) {
          uint32_t gb[4];
          tc::load_b_nmajor<kChunks>(gb, sdo(st), dp * 16, kk, lane);
          tc::mma_bf16(dv[2 * dp], pa, gb[0], gb[1]);
          tc::mma_bf16(dv[2 * dp + 1], pa, gb[2], gb[3]);
        }
      }
      // dP^T (16 keys x kBq queries) = V_w dO^T
      float dpt[kNT][4];
#pragma unroll
      for (int i = 0; i < kNT; ++i) dpt[i][0] = dpt[i][1] = dpt[i][2] = dpt[i][3] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < D / 16; ++ks) {
        uint32_t va[4];
        tc::load_a<kChunks>(va, sv, warp * 16, ks, lane);
#pragma unroll
        for (int np = 0; np < kNT / 2; ++np) {
          uint32_t gb[4];
          tc::load_b_kmajor<kChunks>(gb, sdo(st), np * 16, ks, lane);
          tc::mma_bf16(dpt[2 * np], va, gb[0], gb[1]);
          tc::mma_bf16(dpt[2 * np + 1], va, gb[2], gb[3]);
        }
      }
      // dS^T = P^T o (dP^T - delta[query])
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) dpt[nt][e] = s[nt][e] * (dpt[nt][e] - dt_[nt * 8 + 2 * (lane & 3) + (e & 1)]);
      // dK += dS^T Q
#pragma unroll
      for (int kk = 0; kk < kNT / 2; ++kk) {
        uint32_t da[4];
        tc::c_to_a(da, dpt[2 * kk], dpt[2 * kk + 1]);
#pragma unroll
        for (int dp = 0; dp < kDT / 2; ++dp) {
          uint32_t qbf[4];
          tc::load_b_nmajor<kChunks>(qbf, sq(st), dp * 16, kk, lane);
          tc::mma_bf16(dk[2 * dp], da, qbf[0], qbf[1]);
          tc::mma_bf16(dk[2 * dp + 1], da, qbf[2], qbf[3]);
        }
      }
    }
    tc::cp_async_wait<0>();
  }

  // dk = scale dS^T Q, dv = P^T dO: rows jr0, jr0 + 8 (zeros for keys no query sees)
  const float scale = static_cast<float>(p.scale);
  bf16* dkp = const_cast<bf16*>(head_row(p.dk, p.k_batch_stride, b, h, D));
  bf16* dvp = const_cast<bf16*>(head_row(p.dv, p.v_batch_stride, b, h, D));
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int64_t j = jr0 + half * 8;
    if (j >= tk) continue;
    bf16* dkr = dkp + j * p.k_row_stride + 2 * (lane & 3);
    bf16* dvr = dvp + j * p.v_row_stride + 2 * (lane & 3);
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt) {
      *reinterpret_cast<__nv_bfloat162*>(dkr + dt * 8) =
          __floats2bfloat162_rn(dk[dt][2 * half] * scale, dk[dt][2 * half + 1] * scale);
      *reinterpret_cast<__nv_bfloat162*>(dvr + dt * 8) = __floats2bfloat162_rn(dv[dt][2 * half], dv[dt][2 * half + 1]);
    }
  }
}

// grid: x = batch * heads, y = query blocks (padded / 64); block 128; dynamic smem kDqSmem.
template <int D>
__global__ void __launch_bounds__(BwdShape<D>::kThreads, 2)
flash_bwd_dq_kernel(const anvil_attention_params p, const float* delta, const float* lse2, int64_t padded) {
  using S = BwdShape<D>;
  constexpr int kBq = S::kBq2, kBk = S::kBk2, kChunks = S::kChunks, kDT = D / 8, kNT = kBk / 8;
  unsigned char* smem = tc::dynamic_smem();
  const uint32_t sq = tc::smem_address(smem), sdo = sq + kBq * D * 2;
  auto sk = [&](int st) { return sq + S::kQdOBytes + 2 * st * kBk * D * 2; };
  auto sv = [&](int st) { return sq + S::kQdOBytes + (2 * st + 1) * kBk * D * 2; };

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t bh = blockIdx.x, b = bh / p.heads, h = bh % p.heads;
  const int64_t qb = p.causal ? gridDim.y - 1 - blockIdx.y : blockIdx.y;
  const int64_t q0 = qb * kBq, tq = p.q_len, tk = p.k_len, shift = tk - tq;
  const bf16* q = head_row(p.q, p.q_batch_stride, b, h, D);
  const bf16* k = head_row(p.k, p.k_batch_stride, b, h, D);
  const bf16* v = head_row(p.v, p.v_batch_stride, b, h, D);
  const bf16* dout = head_row(p.dout, p.o_batch_stride, b, h, D);
  const int* mask = p.key_mask ? reinterpret_cast<const int*>(static_cast<uintptr_t>(p.key_mask)) + b * tk : nullptr;
  const float scale_log2 = static_cast<float>(p.scale) * kLog2e;

  const int64_t row0 = q0 + warp * 16 + (lane >> 2);  // rows row0, row0 + 8 (< padded: in the scratch rows)
  float lse_r[2], delta_r[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    lse_r[half] = lse2[bh * padded + row0 + half * 8];
    delta_r[half] = delta[bh * padded + row0 + half * 8];
  }
  int64_t kend = tk;
  if (p.causal) kend = min(tk, min(q0 + kBq, tq) + shift);
  const int nblocks = kend > 0 ? static_cast<int>((kend + kBk - 1) / kBk) : 0;

  float dq[kDT][4];
#pragma unroll
  for (int i = 0; i < kDT; ++i) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.0f;

  if (nblocks > 0) {
    load_rows<kBq, D, S::kThreads>(sq, q + q0 * p.q_row_stride, p.q_row_stride, tq - q0);
    load_rows<kBq, D, S::kThreads>(sdo, dout + q0 * p.o_row_stride, p.o_row_stride, tq - q0);
    load_rows<kBk, D, S::kThreads>(sk(0), k, p.k_row_stride, tk);
    load_rows<kBk, D, S::kThreads>(sv(0), v, p.v_row_stride, tk);
    tc::cp_async_commit();
    uint32_t qf[D / 16][4], gf[D / 16][4];
    for (int jb = 0; jb < nblocks; ++jb) {
      const int st = jb & 1;
      __syncthreads();
      if (jb + 1 < nblocks) {
        const int64_t j1 = (int64_t)(jb + 1) * kBk;
        load_rows<kBk, D, S::kThreads>(sk(st ^ 1), k + j1 * p.k_row_stride, p.k_row_stride, tk - j1);
        load_rows<kBk, D, S::kThreads>(sv(st ^ 1), v + j1 * p.v_row_stride, p.v_row_stride, tk - j1);
      }
      tc::cp_async_commit();
      tc::cp_async_wait<1>();
      __syncthreads();
      if (jb == 0) {
#pragma unroll
        for (int ks = 0; ks < D / 16; ++ks) {
          tc::load_a<kChunks>(qf[ks], sq, warp * 16, ks, lane);
          tc::load_a<kChunks>(gf[ks], sdo, warp * 16, ks, lane);
        }
      }
      const int64_t j0 = (int64_t)jb * kBk;

      // S = Q K^T and dP = dO V^T (16 x kBk per warp)
      float s[kNT][4], dpm[kNT][4];
#pragma unroll
      for (int i = 0; i < kNT; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[i][e] = dpm[i][e] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < D / 16; ++ks) {
#pragma unroll
        for (int np = 0; np < kNT / 2; ++np) {
          uint32_t kb[4], vb[4];
          tc::load_b_kmajor<kChunks>(kb, sk(st), np * 16, ks, lane);
          tc::mma_bf16(s[2 * np], qf[ks], kb[0], kb[1]);
          tc::mma_bf16(s[2 * np + 1], qf[ks], kb[2], kb[3]);
          tc::load_b_kmajor<kChunks>(vb, sv(st), np * 16, ks, lane);
          tc::mma_bf16(dpm[2 * np], gf[ks], vb[0], vb[1]);
          tc::mma_bf16(dpm[2 * np + 1], gf[ks], vb[2], vb[3]);
        }
      }
      // dS = P o (dP - delta), P = exp2(S scale log2e - lse2) and 0 where masked
      const bool need_mask = mask != nullptr || j0 + kBk > tk || (p.causal && j0 + kBk - 1 > q0 + shift);
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int half = e >> 1;
          float pv = exp2f(s[nt][e] * scale_log2 - lse_r[half]);
          if (need_mask) {
            const int64_t j = j0 + nt * 8 + 2 * (lane & 3) + (e & 1), i = row0 + half * 8;
            if (j >= tk || (p.causal && j > i + shift) || (mask && mask[j] == 0)) pv = 0.0f;
          }
          dpm[nt][e] = pv * (dpm[nt][e] - delta_r[half]);
        }
      }
      // dQ += dS K: K fragments transposed from (key, d) rows
#pragma unroll
      for (int kk = 0; kk < kNT / 2; ++kk) {
        uint32_t da[4];
        tc::c_to_a(da, dpm[2 * kk], dpm[2 * kk + 1]);
#pragma unroll
        for (int dp = 0; dp < kDT / 2; ++dp) {
          uint32_t kb[4];
          tc::load_b_nmajor<kChunks>(kb, sk(st), dp * 16, kk, lane);
          tc::mma_bf16(dq[2 * dp], da, kb[0], kb[1]);
          tc::mma_bf16(dq[2 * dp + 1], da, kb[2], kb[3]);
        }
      }
    }
    tc::cp_async_wait<0>();
  }

  const float scale = static_cast<float>(p.scale);
  bf16* dqp = const_cast<bf16*>(head_row(p.dq, p.q_batch_stride, b, h, D));
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int64_t i = row0 + half * 8;
    if (i >= tq) continue;
    bf16* dst = dqp + i * p.q_row_stride + 2 * (lane & 3);
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt)
      *reinterpret_cast<__nv_bfloat162*>(dst + dt * 8) =
          __floats2bfloat162_rn(dq[dt][2 * half] * scale, dq[dt][2 * half + 1] * scale);
  }
}

// Scratch: delta and lse2, 2 * batch * heads * padded_rows(Tq) floats.
inline size_t bwd_scratch_bytes(const anvil_attention_params& p) {
  return 2 * sizeof(float) * static_cast<size_t>(p.batch * p.heads * padded_rows(p.q_len));
}

template <int D>
cudaError_t launch_bwd(const anvil_attention_params& p, float* scratch, cudaStream_t stream) {
  using S = BwdShape<D>;
  const int64_t bh = p.batch * p.heads, padded = padded_rows(p.q_len);
  const int64_t q_blocks = padded / S::kBq2, k_blocks = (p.k_len + S::kBk - 1) / S::kBk;
  if (bh == 0 || p.q_len == 0 || p.k_len == 0) return cudaSuccess;
  if (q_blocks > 65535 || k_blocks > 65535 || bh > 0x7fffffff) return cudaErrorInvalidConfiguration;
  float* delta = scratch;
  float* lse2 = scratch + bh * padded;
  constexpr int kRowsPerBlock = 128 / (D / 8);
  const int64_t prep_blocks = (bh * padded + kRowsPerBlock - 1) / kRowsPerBlock;
  if (prep_blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  auto prep = flash_bwd_prep_kernel<D>;
  ANVIL_LAUNCH(prep, static_cast<unsigned>(prep_blocks), 128, 0, stream)(p, delta, lse2, padded);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;

  auto dkdv = flash_bwd_dkdv_kernel<D>;
  if (cudaError_t e = cudaFuncSetAttribute(dkdv, cudaFuncAttributeMaxDynamicSharedMemorySize, S::kDkdvSmem);
      e != cudaSuccess)
    return e;
  ANVIL_LAUNCH(dkdv, dim3(static_cast<unsigned>(bh), static_cast<unsigned>(k_blocks)), S::kThreads, S::kDkdvSmem, stream)(
      p, delta, lse2, padded);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;

  auto dqk = flash_bwd_dq_kernel<D>;
  if (cudaError_t e = cudaFuncSetAttribute(dqk, cudaFuncAttributeMaxDynamicSharedMemorySize, S::kDqSmem);
      e != cudaSuccess)
    return e;
  ANVIL_LAUNCH(dqk, dim3(static_cast<unsigned>(bh), static_cast<unsigned>(q_blocks)), S::kThreads, S::kDqSmem, stream)(
      p, delta, lse2, padded);
  return cudaGetLastError();
}

}  // namespace anvil::flash
