// attention/flash_bwd_sm90.cuh: FlashAttention backward for sm_90a with wgmma, deterministic (no atomics),
// same contract and prep as flash_bwd.cuh (attention.cu, anvil.h): dq, dk, dv written (=); with
// P = exp(scale q k^T - lse) (0 where masked) and delta_i = dout_i . out_i:
//   dV = P^T dO      dS = P o (dO V^T - delta)      dQ = scale dS K      dK = scale dS^T Q
// Three kernels: flash_bwd.cuh's prep (delta, lse2 = lse log2 e, rows padded to 64), then
//   dK/dV: a CTA owns kBk = 128 keys (2 consumer warpgroups x 64; K and V loaded once by TMA) and walks the
//          query blocks of kBq = 64 that can see them (Q, dO, lse2, delta per block through a 2-stage ring,
//          a producer thread, mbarriers): S^T = K Q^T and dP^T = V dO^T by wgmma m64n64k16 (SS, one
//          commit group), P^T and dS^T in registers, which are then the A operands (RS) of
//          dV += P^T dO and dK += dS^T Q by wgmma m64nDk16 with dO and Q N-major (transpose bit);
//   dQ:    a CTA owns 128 queries (Q and dO loaded once) and walks key blocks of 64 (128 in variant 2 at
//          D = 64, in line: 128 does not fit 168 registers): S = Q K^T, dP = dO V^T (SS), dS in registers, dQ += dS K
//          (RS, K N-major).
// 7 products per (query, key) block pair, as flash_bwd.cuh: dQ recomputes S and dP instead of atomics.
// Preconditions: the forward's (flash90_supported) plus dout, dq, dk, dv 16-byte aligned; the launcher
// returns cudaErrorInvalidValue before any launch when a TMA descriptor does not encode.
#pragma once

#include "attention/flash_bwd.cuh"
#include "attention/flash_fwd_sm90.cuh"

namespace anvil::flash90 {

#if !defined(ANVIL_HOST_EMULATION)
// d (64 x 64 fp32) (+)= A (64 x 16, K-major, shared) B^T (B: 64 x 16, K-major, shared); accumulate = 0 overwrites.
__device__ __forceinline__ void wgmma_ss_m64n64k16(float (&d)[32], uint64_t desc_a, uint64_t desc_b, int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}


// bytes (a multiple of 16, both addresses 16-byte aligned) global -> shared, completing on `bar`.
__device__ __forceinline__ void bulk_load(uint32_t dst, const void* src, int bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
}
#else  // ANVIL_HOST_EMULATION
inline void wgmma_ss_m64n64k16(float (&d)[32], uint64_t desc_a, uint64_t desc_b, int accumulate) {
  ::anvil::emu::wgmma_m64nk16<64>(d, desc_a, desc_b, false, false, accumulate);
}
inline void bulk_load(uint32_t dst, const void* src, int bytes, uint32_t bar) {
  if (dst % 16 || reinterpret_cast<uintptr_t>(src) % 16 || bytes % 16)
    ::anvil::emu::fail("bulk copy not 16-byte aligned", dst);
  memcpy(::anvil::emu::smem_at(dst, bytes), src, bytes);
  ::anvil::emu::mbar_complete_tx(bar, bytes);
}
#endif  // ANVIL_HOST_EMULATION

// Overloads by accumulator size (N = 64: 32 floats, N = 128: 64 floats).
__device__ __forceinline__ void wgmma_ss(float (&d)[32], uint64_t a, uint64_t b, int acc) { wgmma_ss_m64n64k16(d, a, b, acc); }
__device__ __forceinline__ void wgmma_ss(float (&d)[64], uint64_t a, uint64_t b, int acc) { wgmma_ss_m64n128k16(d, a, b, acc); }
__device__ __forceinline__ void wgmma_rs_tb(float (&d)[32], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n64k16_tb(d, a, b); }
__device__ __forceinline__ void wgmma_rs_tb(float (&d)[64], const uint32_t (&a)[4], uint64_t b) { wgmma_rs_m64n128k16_tb(d, a, b); }


// The bf16 A fragment of k-step kk from an m64nN accumulator (n-tiles 2kk and 2kk + 1).
template <int N>
__device__ __forceinline__ void acc_to_a(uint32_t (&a)[4], const float (&c)[N], int kk) {
  a[0] = tc::pack_bf16(c[8 * kk], c[8 * kk + 1]);
  a[1] = tc::pack_bf16(c[8 * kk + 2], c[8 * kk + 3]);
  a[2] = tc::pack_bf16(c[8 * kk + 4], c[8 * kk + 5]);
  a[3] = tc::pack_bf16(c[8 * kk + 6], c[8 * kk + 7]);
}

template <int D>
struct Bwd90 {
  static_assert(D == 64 || D == 128, "head dims 64 and 128");
  static constexpr int kConsumers = 2, kThreads = 128 * (kConsumers + 1), kSub = D / 64;
  // Stages: 2, or 3 for the pipelined variant 2 (its loads of a block start a block later).
  __host__ __device__ static constexpr int stages(int variant) { return variant == 2 ? 3 : 2; }
  // dK/dV at D = 128 holds S^T, dP^T (32 + 32) and dK, dV (64 + 64) per thread, and variant 2 also the
  // previous block's P^T, dS^T fragments (32): more than the 168 registers of a 384-thread CTA (ptxas
  // budgets the whole kernel at 65536 / 384 whatever setmaxnreg does later), so there the CTA is the two
  // consumer warpgroups alone (255 registers) and one of their threads issues the loads in line.
  __host__ __device__ static constexpr bool dkdv_inline(int variant) { return D == 128 || variant == 2; }
  __host__ __device__ static constexpr int dkdv_threads(int variant) { return dkdv_inline(variant) ? 256 : kThreads; }
  // dQ's variant 2 at D = 128 (S, dP 32 + 32, dQ 64, the previous dS fragments 16): likewise.
  // Variant 2 at D = 64 also walks key blocks of 128 (S, dP 64 + 64, dQ 32, dS fragments 32: in line; at
  // D = 128 the 3 stages of 128-key blocks would need 257 KB of shared memory).
  __host__ __device__ static constexpr bool dq_inline(int variant) { return variant == 2; }
  __host__ __device__ static constexpr int dq_threads(int variant) { return dq_inline(variant) ? 256 : kThreads; }
  // dK/dV: kBk keys per CTA (K, V tiles), kBq queries per step (Q, dO blocks + lse2, delta: 1 KB slot)
  static constexpr int kBk = 128, kBq = 64;
  static constexpr int kKBytes = kBk * D * 2, kQBytes = kBq * D * 2;
  static constexpr int kStageBytes = 2 * kQBytes + 1024;
  __host__ __device__ static constexpr int dkdv_smem(int variant) { return 2 * kKBytes + stages(variant) * kStageBytes + 1024; }
  // dQ: kBq2 queries per CTA (Q, dO tiles), kBk2 keys per step (K, V blocks)
  static constexpr int kBq2 = 128, kQ2Bytes = kBq2 * D * 2;
  __host__ __device__ static constexpr int dq_keys(int variant) { return variant == 2 && D == 64 ? 128 : 64; }
  __host__ __device__ static constexpr int dq_kv_bytes(int variant) { return dq_keys(variant) * D * 2; }
  __host__ __device__ static constexpr int dq_smem(int variant) {
    return 2 * kQ2Bytes + stages(variant) * 2 * dq_kv_bytes(variant) + 1024;
  }
};

// The variant the product takes: 0 one block at a time; 2 pipelined (the products of block j issued with
// the last products of block j - 1) with ping-pong consumers, as the forward's variant 2.
constexpr int kBwdVariant = 0;

// grid: x = batch * heads, y = key blocks (ceil(Tk / 128)); block dkdv_threads(kVariant); dynamic smem
// dkdv_smem(kVariant). map_q, map_do: boxes of kBq rows; map_k, map_v: kBk rows.
template <int D, int kVariant>
__global__ void __launch_bounds__(Bwd90<D>::dkdv_threads(kVariant), 1)
    flash_bwd_dkdv_sm90_kernel(const __grid_constant__ CUtensorMap map_q, const __grid_constant__ CUtensorMap map_do,
                               const __grid_constant__ CUtensorMap map_k, const __grid_constant__ CUtensorMap map_v,
                               const anvil_attention_params p, const float* delta, const float* lse2, int64_t padded) {
#if ANVIL_FLASH90_BODY
  using S = Bwd90<D>;
  constexpr int kBk = S::kBk, kBq = S::kBq, kStages = S::stages(kVariant), kSub = S::kSub;
  constexpr bool kInline = S::dkdv_inline(kVariant);
  __shared__ __align__(8) uint64_t bars[1 + 2 * kStages];  // K/V, full[s], empty[s]
  unsigned char* smem = tc::dynamic_smem();
  const uint32_t raw = tc::smem_address(smem);
  const uint32_t base = (raw + 1023) & ~1023u;
  const uint32_t kvbar = tc::smem_address(&bars[0]);
  auto full = [&](int s) { return kvbar + 8 * (1 + s); };
  auto empty = [&](int s) { return kvbar + 8 * (1 + kStages + s); };
  const uint32_t sk = base, sv = base + S::kKBytes;
  auto sq = [&](int s) { return base + 2 * S::kKBytes + s * S::kStageBytes; };
  auto sdo = [&](int s) { return sq(s) + S::kQBytes; };
  auto slse = [&](int s) { return sq(s) + 2 * S::kQBytes; };  // kBq lse2, then kBq delta
  auto generic = [&](uint32_t address) { return reinterpret_cast<const float*>(smem + (address - raw)); };

  const int64_t bh = blockIdx.x, b = bh / p.heads, h = bh % p.heads;
  const int64_t k0 = static_cast<int64_t>(blockIdx.y) * kBk, tq = p.q_len, tk = p.k_len, shift = tk - tq;
  const int64_t first = p.causal ? max(static_cast<int64_t>(0), k0 - shift) : 0;  // queries that see a key here
  const int qb_begin = static_cast<int>(first / kBq), qb_end = static_cast<int>((tq + kBq - 1) / kBq);
  const int n = max(0, qb_end - qb_begin);

  if (threadIdx.x == 0) {
    mbar_init(kvbar, 1);
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full(s), 1);
      mbar_init(empty(s), S::kConsumers);
    }
    mbar_fence_init();
  }
  __syncthreads();

  const int col = static_cast<int>(h * D), bi = static_cast<int>(b);
  auto produce_kv = [&]() {
    mbar_expect_tx(kvbar, 2 * S::kKBytes);
    for (int s = 0; s < kSub; ++s) {
      tma_load_3d(sk + s * kBk * 128, &map_k, kvbar, col + 64 * s, static_cast<int>(k0), bi);
      tma_load_3d(sv + s * kBk * 128, &map_v, kvbar, col + 64 * s, static_cast<int>(k0), bi);
    }
  };
  auto produce_stage = [&](int it) {  // Q, dO, lse2, delta of query block qb_begin + it
    const int st = it % kStages, round = it / kStages, i0 = (qb_begin + it) * kBq;
    if (round > 0) mbar_wait(empty(st), (round - 1) & 1);  // both consumers released round - 1
    mbar_expect_tx(full(st), 2 * S::kQBytes + 2 * kBq * 4);
    for (int s = 0; s < kSub; ++s) {
      tma_load_3d(sq(st) + s * kBq * 128, &map_q, full(st), col + 64 * s, i0, bi);
      tma_load_3d(sdo(st) + s * kBq * 128, &map_do, full(st), col + 64 * s, i0, bi);
    }
    bulk_load(slse(st), lse2 + bh * padded + i0, kBq * 4, full(st));
    bulk_load(slse(st) + kBq * 4, delta + bh * padded + i0, kBq * 4, full(st));
  };
  // the in-line producer: thread 0 of consumer 0 (variant 0) or of consumer 1 (variant 2: the one behind)
  constexpr int kProducer = kVariant == 2 ? 128 : 0;
  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
  if constexpr (!kInline) {
    if (wg == 0) {
      setmaxnreg_dec<24>();
      if (t == 0 && n > 0) {
        produce_kv();
        for (int it = 0; it < n; ++it) produce_stage(it);
      }
      return;
    }
    setmaxnreg_inc<240>();
  } else {
    if (threadIdx.x == kProducer && n > 0) {
      produce_kv();
      for (int it = 0; it < min(n, kStages); ++it) produce_stage(it);
    }
    __syncwarp();
  }
  const int c = kInline ? wg : wg - 1, w = t / 32, lane = t % 32;
  const int* mask = p.key_mask ? reinterpret_cast<const int*>(static_cast<uintptr_t>(p.key_mask)) + b * tk : nullptr;
  const float scale_log2 = static_cast<float>(p.scale) * flash::kLog2e;
  const int64_t jr0 = k0 + 64 * c + 16 * w + lane / 4;  // this thread's keys: jr0, jr0 + 8
  bool key_ok[2];
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t j = jr0 + 8 * hh;
    key_ok[hh] = j < tk && (mask == nullptr || mask[j] != 0);
  }
  float dk[D / 2], dv[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) dk[i] = dv[i] = 0.0f;

  auto issue_ss = [&](float(&s)[32], float(&dp)[32], int st) {  // S^T = K Q^T, dP^T = V dO^T (64 x 64)
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      const uint32_t off_a = (ks / 4) * kBk * 128 + c * 64 * 128 + (ks % 4) * 32, off_b = (ks / 4) * kBq * 128 + (ks % 4) * 32;
      wgmma_ss(s, desc_kmajor(sk + off_a), desc_kmajor(sq(st) + off_b), ks > 0);
    }
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      const uint32_t off_a = (ks / 4) * kBk * 128 + c * 64 * 128 + (ks % 4) * 32, off_b = (ks / 4) * kBq * 128 + (ks % 4) * 32;
      wgmma_ss(dp, desc_kmajor(sv + off_a), desc_kmajor(sdo(st) + off_b), ks > 0);
    }
  };
  auto issue_rs = [&](const uint32_t(&pa)[4][4], const uint32_t(&da)[4][4], int st) {  // dV += P^T dO, dK += dS^T Q
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) wgmma_rs_tb(dv, pa[kk], desc_nmajor(sdo(st) + kk * 16 * 128, kBq * 128));
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) wgmma_rs_tb(dk, da[kk], desc_nmajor(sq(st) + kk * 16 * 128, kBq * 128));
  };
  // P^T = exp2(S^T scale log2e - lse2[query]) (0: masked key, causally hidden pair); dS^T = P^T (dP^T - delta),
  // as bf16 A fragments.
  auto elementwise = [&](float(&s)[32], float(&dp)[32], uint32_t(&pa)[4][4], uint32_t(&da)[4][4], int it, int st) {
    const int64_t i0 = static_cast<int64_t>(qb_begin + it) * kBq;
    const float* lt = generic(slse(st));
    const float* dt = lt + kBq;
    const bool causal_edge = p.causal && k0 + 64 * c + 63 > i0 + shift;
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = 8 * j + 2 * (lane % 4) + (e & 1), hh = e >> 1;
        float pv = exp2f(fmaf(s[4 * j + e], scale_log2, -lt[col]));
        if (!key_ok[hh] || (causal_edge && jr0 + 8 * hh > i0 + col + shift)) pv = 0.0f;
        s[4 * j + e] = pv;
        dp[4 * j + e] = pv * (dp[4 * j + e] - dt[col]);
      }
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      acc_to_a(pa[kk], s, kk);
      acc_to_a(da[kk], dp, kk);
    }
  };

  if (n > 0) mbar_wait(kvbar, 0);
  if constexpr (kVariant != 2) {
    for (int it = 0; it < n; ++it) {
      const int st = it % kStages, parity = (it / kStages) & 1;
      if constexpr (kInline) {  // refill the stage both consumers released after block it - 1
        if (threadIdx.x == kProducer && it >= 1 && it - 1 + kStages < n) produce_stage(it - 1 + kStages);
        __syncwarp();
      }
      float s[32], dp[32];  // S^T, dP^T: 64 keys x 64 queries
      uint32_t pa[4][4], da[4][4];
      mbar_wait(full(st), parity);
      wgmma_fence();
      issue_ss(s, dp, st);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(s);
      fence_operands(dp);
      elementwise(s, dp, pa, da, it, st);
      fence_operands(dv);
      fence_operands(dk);
      wgmma_fence();
      issue_rs(pa, da, st);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(dv);
      fence_operands(dk);
      if (t == 0) mbar_arrive(empty(st));
    }
  } else {
    // Pipelined with ping-pong consumers (the forward's variant 2): block it's S^T, dP^T go out with block
    // it - 1's dV, dK products; consumer c issues on named barrier 1 + c, then hands over.
    uint32_t pa[4][4], da[4][4];
    if (n > 0) {
      if (c == 1) named_arrive(1);
      float s[32], dp[32];
      mbar_wait(full(0), 0);
      named_sync(1 + c);
      wgmma_fence();
      issue_ss(s, dp, 0);
      wgmma_commit();
      named_arrive(2 - c);
      wgmma_wait_all();
      fence_operands(s);
      fence_operands(dp);
      elementwise(s, dp, pa, da, 0, 0);
    }
    for (int it = 1; it < n; ++it) {
      const int st = it % kStages, parity = (it / kStages) & 1, prev = (it - 1) % kStages;
      float s[32], dp[32];
      mbar_wait(full(st), parity);
      named_sync(1 + c);
      fence_operands(dv);
      fence_operands(dk);
      wgmma_fence();
      issue_ss(s, dp, st);
      issue_rs(pa, da, prev);
      wgmma_commit();
      named_arrive(2 - c);
      wgmma_wait_all();
      fence_operands(s);
      fence_operands(dp);
      fence_operands(dv);
      fence_operands(dk);
      if (t == 0) mbar_arrive(empty(prev));  // block it - 1 is done
      if (threadIdx.x == kProducer && it - 1 + kStages < n) produce_stage(it - 1 + kStages);
      __syncwarp();
      elementwise(s, dp, pa, da, it, st);
    }
    if (n > 0) {
      fence_operands(dv);
      fence_operands(dk);
      wgmma_fence();
      issue_rs(pa, da, (n - 1) % kStages);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(dv);
      fence_operands(dk);
      if (c == 0) named_sync(1);  // consumer 1's last hand-over
    }
  }

  // dk = scale dS^T Q, dv = P^T dO: rows jr0, jr0 + 8 (zeros for keys no query sees)
  const float scale = static_cast<float>(p.scale);
  bf16* dkp = const_cast<bf16*>(flash::head_row(p.dk, p.k_batch_stride, b, h, D));
  bf16* dvp = const_cast<bf16*>(flash::head_row(p.dv, p.v_batch_stride, b, h, D));
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t j = jr0 + 8 * hh;
    if (j >= tk) continue;
    bf16* dkr = dkp + j * p.k_row_stride + 2 * (lane % 4);
    bf16* dvr = dvp + j * p.v_row_stride + 2 * (lane % 4);
#pragma unroll
    for (int jj = 0; jj < D / 8; ++jj) {
      *reinterpret_cast<__nv_bfloat162*>(dkr + 8 * jj) =
          __floats2bfloat162_rn(dk[4 * jj + 2 * hh] * scale, dk[4 * jj + 2 * hh + 1] * scale);
      *reinterpret_cast<__nv_bfloat162*>(dvr + 8 * jj) = __floats2bfloat162_rn(dv[4 * jj + 2 * hh], dv[4 * jj + 2 * hh + 1]);
    }
  }
#else
  __trap();
#endif
}

// grid: x = batch * heads, y = query blocks (ceil(Tq / 128)); block dq_threads(kVariant); dynamic smem
// dq_smem(kVariant).
// map_q, map_do: boxes of kBq2 rows; map_k, map_v: dq_keys(kVariant) rows.
template <int D, int kVariant>
__global__ void __launch_bounds__(Bwd90<D>::dq_threads(kVariant), 1)
    flash_bwd_dq_sm90_kernel(const __grid_constant__ CUtensorMap map_q, const __grid_constant__ CUtensorMap map_do,
                             const __grid_constant__ CUtensorMap map_k, const __grid_constant__ CUtensorMap map_v,
                             const anvil_attention_params p, const float* delta, const float* lse2, int64_t padded) {
#if ANVIL_FLASH90_BODY
  using S = Bwd90<D>;
  constexpr int kBq = S::kBq2, kBk = S::dq_keys(kVariant), kStages = S::stages(kVariant), kSub = S::kSub;
  constexpr int kKV2Bytes = S::dq_kv_bytes(kVariant);
  constexpr bool kInline = S::dq_inline(kVariant);
  __shared__ __align__(8) uint64_t bars[1 + 2 * kStages];  // Q/dO, full[s], empty[s]
  const uint32_t raw = tc::smem_address(tc::dynamic_smem());
  const uint32_t base = (raw + 1023) & ~1023u;
  const uint32_t qbar = tc::smem_address(&bars[0]);
  auto full = [&](int s) { return qbar + 8 * (1 + s); };
  auto empty = [&](int s) { return qbar + 8 * (1 + kStages + s); };
  const uint32_t sq = base, sdo = base + S::kQ2Bytes;
  auto sk = [&](int s) { return base + 2 * S::kQ2Bytes + s * 2 * kKV2Bytes; };
  auto sv = [&](int s) { return sk(s) + kKV2Bytes; };

  const int64_t bh = blockIdx.x, b = bh / p.heads, h = bh % p.heads;
  const int64_t qb = p.causal ? gridDim.y - 1 - blockIdx.y : blockIdx.y;
  const int64_t q0 = qb * kBq, tq = p.q_len, tk = p.k_len, shift = tk - tq;
  int64_t kend = tk;
  if (p.causal) kend = min(tk, min(q0 + kBq, tq) + shift);
  const int nblocks = kend > 0 ? static_cast<int>((kend + kBk - 1) / kBk) : 0;

  if (threadIdx.x == 0) {
    mbar_init(qbar, 1);
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full(s), 1);
      mbar_init(empty(s), S::kConsumers);
    }
    mbar_fence_init();
  }
  __syncthreads();

  const int col = static_cast<int>(h * D), bi = static_cast<int>(b);
  auto produce_q = [&]() {
    mbar_expect_tx(qbar, 2 * S::kQ2Bytes);
    for (int s = 0; s < kSub; ++s) {
      tma_load_3d(sq + s * kBq * 128, &map_q, qbar, col + 64 * s, static_cast<int>(q0), bi);
      tma_load_3d(sdo + s * kBq * 128, &map_do, qbar, col + 64 * s, static_cast<int>(q0), bi);
    }
  };
  auto produce_block = [&](int jb) {
    const int st = jb % kStages, round = jb / kStages;
    if (round > 0) mbar_wait(empty(st), (round - 1) & 1);
    mbar_expect_tx(full(st), 2 * kKV2Bytes);
    for (int s = 0; s < kSub; ++s) {
      tma_load_3d(sk(st) + s * kBk * 128, &map_k, full(st), col + 64 * s, jb * kBk, bi);
      tma_load_3d(sv(st) + s * kBk * 128, &map_v, full(st), col + 64 * s, jb * kBk, bi);
    }
  };
  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
  if constexpr (!kInline) {
    if (wg == 0) {
      setmaxnreg_dec<24>();
      if (t == 0 && nblocks > 0) {
        produce_q();
        for (int jb = 0; jb < nblocks; ++jb) produce_block(jb);
      }
      return;
    }
    setmaxnreg_inc<240>();
  } else {  // thread 0 of consumer 1 (the one behind in the ping-pong) loads, in line
    if (threadIdx.x == 128 && nblocks > 0) {
      produce_q();
      for (int jb = 0; jb < min(nblocks, kStages); ++jb) produce_block(jb);
    }
    __syncwarp();
  }
  const int c = kInline ? wg : wg - 1, w = t / 32, lane = t % 32;
  const int* mask = p.key_mask ? reinterpret_cast<const int*>(static_cast<uintptr_t>(p.key_mask)) + b * tk : nullptr;
  const float scale_log2 = static_cast<float>(p.scale) * flash::kLog2e;
  const int64_t row0 = q0 + 64 * c + 16 * w + lane / 4;  // rows row0, row0 + 8
  float lse_r[2], delta_r[2];
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = row0 + 8 * hh;  // past the padded rows (a 128-row block over 64-row padding): no query
    lse_r[hh] = row < padded ? lse2[bh * padded + row] : INFINITY;
    delta_r[hh] = row < padded ? delta[bh * padded + row] : 0.0f;
  }
  float dq[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) dq[i] = 0.0f;

  auto issue_ss = [&](float(&s)[kBk / 2], float(&dp)[kBk / 2], int st) {  // S = Q K^T, dP = dO V^T
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      const uint32_t off_a = (ks / 4) * kBq * 128 + c * 64 * 128 + (ks % 4) * 32, off_b = (ks / 4) * kBk * 128 + (ks % 4) * 32;
      wgmma_ss(s, desc_kmajor(sq + off_a), desc_kmajor(sk(st) + off_b), ks > 0);
    }
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      const uint32_t off_a = (ks / 4) * kBq * 128 + c * 64 * 128 + (ks % 4) * 32, off_b = (ks / 4) * kBk * 128 + (ks % 4) * 32;
      wgmma_ss(dp, desc_kmajor(sdo + off_a), desc_kmajor(sv(st) + off_b), ks > 0);
    }
  };
  auto issue_rs = [&](const uint32_t(&da)[kBk / 16][4], int st) {  // dQ += dS K
#pragma unroll
    for (int kk = 0; kk < kBk / 16; ++kk) wgmma_rs_tb(dq, da[kk], desc_nmajor(sk(st) + kk * 16 * 128, kBk * 128));
  };
  // dS = P o (dP - delta), P = exp2(S scale log2e - lse2) and 0 where masked, as bf16 A fragments.
  auto elementwise = [&](float(&s)[kBk / 2], float(&dp)[kBk / 2], uint32_t(&da)[kBk / 16][4], int jb) {
    const int64_t j0 = static_cast<int64_t>(jb) * kBk;
    const bool need_mask = mask != nullptr || j0 + kBk > tk || (p.causal && j0 + kBk - 1 > q0 + 64 * c + shift);
#pragma unroll
    for (int j = 0; j < kBk / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int hh = e >> 1;
        float pv = exp2f(fmaf(s[4 * j + e], scale_log2, -lse_r[hh]));
        if (need_mask) {
          const int64_t key = j0 + 8 * j + 2 * (lane % 4) + (e & 1), row = row0 + 8 * hh;
          if (key >= tk || (p.causal && key > row + shift) || (mask && mask[key] == 0)) pv = 0.0f;
        }
        dp[4 * j + e] = pv * (dp[4 * j + e] - delta_r[hh]);
      }
#pragma unroll
    for (int kk = 0; kk < kBk / 16; ++kk) acc_to_a(da[kk], dp, kk);
  };

  if (nblocks > 0) mbar_wait(qbar, 0);
  if constexpr (kVariant != 2) {
    for (int jb = 0; jb < nblocks; ++jb) {
      const int st = jb % kStages, parity = (jb / kStages) & 1;
      float s[kBk / 2], dp[kBk / 2];
      uint32_t da[kBk / 16][4];
      mbar_wait(full(st), parity);
      wgmma_fence();
      issue_ss(s, dp, st);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(s);
      fence_operands(dp);
      elementwise(s, dp, da, jb);
      fence_operands(dq);
      wgmma_fence();
      issue_rs(da, st);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(dq);
      if (t == 0) mbar_arrive(empty(st));
    }
  } else {  // pipelined with ping-pong consumers, as the forward's variant 2
    uint32_t da[kBk / 16][4];
    if (nblocks > 0) {
      if (c == 1) named_arrive(1);
      float s[kBk / 2], dp[kBk / 2];
      mbar_wait(full(0), 0);
      named_sync(1 + c);
      wgmma_fence();
      issue_ss(s, dp, 0);
      wgmma_commit();
      named_arrive(2 - c);
      wgmma_wait_all();
      fence_operands(s);
      fence_operands(dp);
      elementwise(s, dp, da, 0);
    }
    for (int jb = 1; jb < nblocks; ++jb) {
      const int st = jb % kStages, parity = (jb / kStages) & 1, prev = (jb - 1) % kStages;
      float s[kBk / 2], dp[kBk / 2];
      mbar_wait(full(st), parity);
      named_sync(1 + c);
      fence_operands(dq);
      wgmma_fence();
      issue_ss(s, dp, st);
      issue_rs(da, prev);
      wgmma_commit();
      named_arrive(2 - c);
      wgmma_wait_all();
      fence_operands(s);
      fence_operands(dp);
      fence_operands(dq);
      if (t == 0) mbar_arrive(empty(prev));  // K, V of block jb - 1 are done
      if constexpr (kInline) {
        if (threadIdx.x == 128 && jb - 1 + kStages < nblocks) produce_block(jb - 1 + kStages);
        __syncwarp();
      }
      elementwise(s, dp, da, jb);
    }
    if (nblocks > 0) {
      fence_operands(dq);
      wgmma_fence();
      issue_rs(da, (nblocks - 1) % kStages);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(dq);
      if (c == 0) named_sync(1);  // consumer 1's last hand-over
    }
  }

  const float scale = static_cast<float>(p.scale);
  bf16* dqp = const_cast<bf16*>(flash::head_row(p.dq, p.q_batch_stride, b, h, D));
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t i = row0 + 8 * hh;
    if (i >= tq) continue;
    bf16* dst = dqp + i * p.q_row_stride + 2 * (lane % 4);
#pragma unroll
    for (int jj = 0; jj < D / 8; ++jj)
      *reinterpret_cast<__nv_bfloat162*>(dst + 8 * jj) =
          __floats2bfloat162_rn(dq[4 * jj + 2 * hh] * scale, dq[4 * jj + 2 * hh + 1] * scale);
  }
#else
  __trap();
#endif
}

inline bool flash90_bwd_supported(const anvil_attention_params& p) {
  auto aligned = [](int64_t a) { return (a & 15) == 0; };
  return flash90_supported(p) && aligned(p.dout) && aligned(p.dq) && aligned(p.dk) && aligned(p.dv) &&
         (p.k_len + 127) / 128 <= 65535;
}

// The 8 tensor maps of the backward (cudaErrorInvalidValue: TMA refuses a stride; nothing launched).
struct BwdMaps {
  CUtensorMap q64, do64, k128, v128;  // dK/dV: query blocks of kBq, the key tile of kBk
  CUtensorMap q128, do128, kb, vb;    // dQ: the query tile of kBq2, key blocks of dq_keys(kVariant)
};
template <int D, int kVariant = kBwdVariant>
cudaError_t make_bwd_maps(const anvil_attention_params& p, BwdMaps* m) {
  using S = Bwd90<D>;
  const int64_t w = p.heads * D;
  struct One {
    CUtensorMap* map;
    int64_t address, rows, row_stride, batch_stride;
    int box;
  } all[] = {
      {&m->q64, p.q, p.q_len, p.q_row_stride, p.q_batch_stride, S::kBq},
      {&m->do64, p.dout, p.q_len, p.o_row_stride, p.o_batch_stride, S::kBq},
      {&m->k128, p.k, p.k_len, p.k_row_stride, p.k_batch_stride, S::kBk},
      {&m->v128, p.v, p.k_len, p.v_row_stride, p.v_batch_stride, S::kBk},
      {&m->q128, p.q, p.q_len, p.q_row_stride, p.q_batch_stride, S::kBq2},
      {&m->do128, p.dout, p.q_len, p.o_row_stride, p.o_batch_stride, S::kBq2},
      {&m->kb, p.k, p.k_len, p.k_row_stride, p.k_batch_stride, S::dq_keys(kVariant)},
      {&m->vb, p.v, p.k_len, p.v_row_stride, p.v_batch_stride, S::dq_keys(kVariant)},
  };
  for (const One& o : all)
    if (cudaError_t e = make_map_3d(o.map, o.address, w, o.rows, p.batch, o.row_stride, o.batch_stride, o.box);
        e != cudaSuccess)
      return e;
  return cudaSuccess;
}

// prep (flash_bwd.cuh), dK/dV, dQ; scratch: flash::bwd_scratch_bytes(p). parts: which kernels (1 prep,
// 2 dK/dV, 4 dQ; the playground times them apart), all by default.
template <int D, int kVariant = kBwdVariant>
cudaError_t launch_bwd_sm90(const anvil_attention_params& p, const BwdMaps& m, float* scratch, cudaStream_t stream,
                            int parts = 7) {
  using S = Bwd90<D>;
  const int64_t bh = p.batch * p.heads, padded = flash::padded_rows(p.q_len);
  if (bh == 0 || p.q_len == 0 || p.k_len == 0) return cudaSuccess;
  const int64_t q_blocks = (p.q_len + S::kBq2 - 1) / S::kBq2, k_blocks = (p.k_len + S::kBk - 1) / S::kBk;
  if (q_blocks > 65535 || k_blocks > 65535 || bh > 0x7fffffff) return cudaErrorInvalidConfiguration;
  float* delta = scratch;
  float* lse2 = scratch + bh * padded;
  constexpr int kRowsPerBlock = 128 / (D / 8);
  const int64_t prep_blocks = (bh * padded + kRowsPerBlock - 1) / kRowsPerBlock;
  if (prep_blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  auto prep = flash::flash_bwd_prep_kernel<D>;
  if (parts & 1) ANVIL_LAUNCH(prep, static_cast<unsigned>(prep_blocks), 128, 0, stream)(p, delta, lse2, padded);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;

  static_assert(S::dkdv_smem(kVariant) <= 227 * 1024 && S::dq_smem(kVariant) <= 227 * 1024, "shared memory per CTA");
  auto dkdv = flash_bwd_dkdv_sm90_kernel<D, kVariant>;
  if (cudaError_t e = cudaFuncSetAttribute(dkdv, cudaFuncAttributeMaxDynamicSharedMemorySize, S::dkdv_smem(kVariant));
      e != cudaSuccess)
    return e;
  if (parts & 2)
    ANVIL_LAUNCH(dkdv, dim3(static_cast<unsigned>(bh), static_cast<unsigned>(k_blocks)), S::dkdv_threads(kVariant),
                 S::dkdv_smem(kVariant), stream)(m.q64, m.do64, m.k128, m.v128, p, delta, lse2, padded);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;

  auto dqk = flash_bwd_dq_sm90_kernel<D, kVariant>;
  if (cudaError_t e = cudaFuncSetAttribute(dqk, cudaFuncAttributeMaxDynamicSharedMemorySize, S::dq_smem(kVariant));
      e != cudaSuccess)
    return e;
  if (parts & 4)
    ANVIL_LAUNCH(dqk, dim3(static_cast<unsigned>(bh), static_cast<unsigned>(q_blocks)), S::dq_threads(kVariant),
                 S::dq_smem(kVariant), stream)(m.q128, m.do128, m.kb, m.vb, p, delta, lse2, padded);
  return cudaGetLastError();
}

// Both steps (the playground).
template <int D, int kVariant = kBwdVariant>
cudaError_t launch_bwd_sm90(const anvil_attention_params& p, float* scratch, cudaStream_t stream, int parts = 7) {
  BwdMaps m;
  if (cudaError_t e = make_bwd_maps<D, kVariant>(p, &m); e != cudaSuccess) return e;
  return launch_bwd_sm90<D, kVariant>(p, m, scratch, stream, parts);
}

}  // namespace anvil::flash90
