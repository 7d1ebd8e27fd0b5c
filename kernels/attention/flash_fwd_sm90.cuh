// attention/flash_fwd_sm90.cuh: FlashAttention forward for sm_90a (Hopper) in the FA3 style: TMA loads,
// mbarrier-guarded stages, wgmma, warp specialization. Same contract as flash_fwd.cuh (attention.cu, anvil.h):
//   out (B, Tq, H*D) = softmax(scale q k^T + masks) v, written; lse (B, H, Tq) fp32 natural log-sum-exp
//   (skipped when p.lse == 0); causal bottom-right; key_mask (B, Tk) int32, 0 = masked; a query that sees
//   no key: out 0, lse -inf. bf16 q/k/v/out, fp32 accumulation and softmax, head dims 64 and 128.
// Preconditions (flash90_supported): compute capability 9.0 exactly, q/k/v 16-byte aligned, row and batch
// strides multiples of 8 elements, 0 < scale < inf (the row max is taken before scaling), q_len > 1.
//
// CTA: 384 threads = 3 warpgroups over kBr = 128 query rows of one (batch, head). Warpgroup 0 produces
// (setmaxnreg 24): one thread loads Q once and then K and V blocks of kBc = 128 keys into a ring of
// 2-3 stages by TMA (3-D tensor maps over (B, T, H*D) token rows: boxes of 64 columns x rows, 128-byte
// swizzle; rows past the sequence read as zeros), each tensor of a stage with its own full barrier so S can
// start before V lands. Warpgroups 1 and 2 consume 64 query rows each (setmaxnreg 240), per key block:
//   S (64 x 128 fp32) = Q K^T      wgmma m64n128k16, both operands from shared memory (K-major)
//   online softmax in registers    max on raw scores, then p = exp2(s * scale * log2 e - m)
//   O (64 x D) += P V              wgmma m64nDk16 with P from registers (the accumulator of S is, pair by
//                                  pair, the A fragment: no shuffles), V N-major through the transpose bit
// then release the stage (one arrival per consumer on its empty barrier). The two consumers run
// unsynchronized, so one's softmax overlaps the other's products. Output: O / l from registers (pair
// stores), lse = (m + log2 l) ln 2. Causal CTAs run heaviest (last query block) first.
// Shared memory: Q 128 x D, 2-3 x (K, V) 128 x D bf16, each in 64-column sub-tiles of 128-byte rows
// (1024-byte aligned, the TMA/wgmma 128-byte swizzle), + 1 KB alignment slack.
// Descriptors (PTX ISA, matrix descriptor; CUTLASS's canonical GMMA layouts): K-major 128B swizzle:
// SBO = 1024 (8-row groups), LBO unused; N-major (V, transposed) 128B swizzle: SBO = 1024 (8-key groups),
// LBO = the distance between 64-column sub-tiles (kBc x 128 bytes), used by D = 128 only.
// kVariant 1: D = 128's P V as two m64n64k16 per k-step (one per 64-column sub-tile, LBO unused), a second
// reading of the same layout kept in the playground as a cross-check of the N = 128 descriptor.
// kVariant 2: FA3's pipelining: block j's S = Q K^T is issued together with block j - 1's P V (the softmax
// of j - 1 happened before), and the two consumers take turns issuing through two named barriers, so one
// consumer's softmax overlaps the other's products.
// Not yet: 3 consumer warpgroups for D = 64, an epilogue through shared memory / TMA store.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "anvil/anvil.h"
#include "attention/flash_fwd.cuh"
#include "hopper.cuh"
#include "tensor_core.cuh"

#if !defined(ANVIL_HOST_EMULATION)
#include <cudaTypedefs.h>
#endif

// The kernel bodies exist for sm_90a and the CPU emulator (kernels/dev/emu: the primitives below have
// emulated twins there); other targets get a stub that traps.
#if defined(ANVIL_HOST_EMULATION) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ANVIL_FLASH90_BODY 1
#else
#define ANVIL_FLASH90_BODY 0
#endif

namespace anvil::flash90 {

using bf16 = __nv_bfloat16;

template <int D>
struct Fwd90 {
  static_assert(D == 64 || D == 128, "head dims 64 and 128");
  static constexpr int kConsumers = 2, kThreads = 128 * (kConsumers + 1), kBr = 64 * kConsumers, kBc = 128;
  static constexpr int kSub = D / 64;
  static constexpr int kQBytes = kBr * D * 2, kKVBytes = kBc * D * 2;
  // K/V stages: 3 for the pipelined variant (its loads start a block later); D = 128: 32 + 3 x 64 + 1 KB of 227
  __host__ __device__ static constexpr int stages(int variant) { return variant == 2 || D == 64 ? 3 : 2; }
  __host__ __device__ static constexpr int smem_bytes(int variant) { return kQBytes + stages(variant) * 2 * kKVBytes + 1024; }
  // Variant 2 at D = 128 holds S (64), O (64) and the previous block's P (32 registers) at once: more than the
  // 168 registers of a 384-thread CTA (ptxas budgets the whole kernel at 65536 / 384, whatever setmaxnreg
  // does later), so there the CTA is the two consumers alone (255 registers), one thread loading in line.
  __host__ __device__ static constexpr bool inline_producer(int variant) { return D == 128 && variant == 2; }
  __host__ __device__ static constexpr int threads(int variant) { return inline_producer(variant) ? 256 : kThreads; }
};

#if !defined(ANVIL_HOST_EMULATION)
using namespace ::anvil::sm90;  // mbarriers, TMA loads, wgmma fences and waits, setmaxnreg (hopper.cuh)

// Keeps the compiler from moving reads or writes of wgmma accumulators across the async window.
template <int N>
__device__ __forceinline__ void fence_operands(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// ---- wgmma (bf16 in, fp32 accumulate) --------------------------------------------------------------
// d (64 x 128 fp32) (+)= A (64 x 16, K-major, shared) B^T (B: 128 x 16, K-major, shared); accumulate = 0 overwrites.
__device__ __forceinline__ void wgmma_ss_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b, int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}

// d (64 x 64 fp32) += A (64 x 16 bf16, registers: the mma.m16n8k16 A fragment of warp w's rows 16w..) B
// (16 x 64, N-major in shared memory: the descriptor's transpose bit).
__device__ __forceinline__ void wgmma_rs_m64n64k16_tb(float (&d)[32], const uint32_t (&a)[4], uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
}

// d (64 x 128 fp32) += A (64 x 16 bf16, registers: the mma.m16n8k16 A fragment of warp w's rows 16w..) B
// (16 x 128, N-major in shared memory: the descriptor's transpose bit).
__device__ __forceinline__ void wgmma_rs_m64n128k16_tb(float (&d)[64], const uint32_t (&a)[4], uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
}

#else  // ANVIL_HOST_EMULATION: the same primitives on kernels/dev/emu/cuda_emu.h (wgmma executes at issue)

inline void mbar_init(uint32_t bar, int count) { ::anvil::emu::mbar_init(bar, count); }
inline void mbar_fence_init() {}
inline void mbar_expect_tx(uint32_t bar, int bytes) { ::anvil::emu::mbar_expect_tx(bar, bytes); }
inline void mbar_arrive(uint32_t bar) { ::anvil::emu::mbar_arrive(bar); }
inline void mbar_wait(uint32_t bar, int parity) { ::anvil::emu::mbar_wait(bar, parity); }
inline void tma_load_3d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2) {
  ::anvil::emu::tma_load_3d(dst, map, bar, c0, c1, c2);
}
inline void wgmma_fence() {}
inline void wgmma_commit() {}
inline void wgmma_wait_all() {}
inline void __syncwarp(unsigned = 0xffffffffu) { ::anvil::emu::warp().bar.arrive_and_wait(); }
template <int N>
inline void setmaxnreg_inc() {}
template <int N>
inline void setmaxnreg_dec() {}
template <int N>
inline void fence_operands(float (&)[N]) {}

// bar.sync / bar.arrive id, 256: a phase completes at the 256th arrival (waiting or not); a wait that does
// not complete in 60 s aborts as a deadlock.
struct NamedBarrier {
  std::mutex m;
  std::condition_variable cv;
  int count = 0;
  unsigned phase = 0;
};
inline NamedBarrier& named_barrier(int id) {
  static NamedBarrier barriers[16];
  if (id < 0 || id >= 16) ::anvil::emu::fail("named barrier id outside 0..15", static_cast<uintptr_t>(id));
  return barriers[id];
}
inline void named_arrive(int id) {
  NamedBarrier& b = named_barrier(id);
  std::lock_guard<std::mutex> lock(b.m);
  if (++b.count == 256) {
    b.count = 0;
    ++b.phase;
    b.cv.notify_all();
  }
}
inline void named_sync(int id) {
  NamedBarrier& b = named_barrier(id);
  std::unique_lock<std::mutex> lock(b.m);
  const unsigned phase = b.phase;
  if (++b.count == 256) {
    b.count = 0;
    ++b.phase;
    b.cv.notify_all();
    return;
  }
  if (!b.cv.wait_for(lock, std::chrono::seconds(60), [&] { return b.phase != phase; }))
    ::anvil::emu::fail("named barrier wait timed out (a deadlock in the ping-pong?)", static_cast<uintptr_t>(id));
}

inline void wgmma_ss_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b, int accumulate) {
  ::anvil::emu::wgmma_m64nk16<128>(d, desc_a, desc_b, false, false, accumulate);
}
// wgmma with A from registers (each warp's rows 16w.. in the mma.m16n8k16 A layout) and B N-major: the
// warpgroup's threads meet, one gathers the A fragments and computes every thread's accumulator.
template <int N>
inline void wgmma_rs_tb_emulated(float* d, const uint32_t (&a)[4], uint64_t desc_b) {
  using namespace ::anvil::emu;
  const int t = linear_thread();
  if (tl_block->groups.empty()) fail("wgmma outside a block of whole warpgroups", t);
  WarpGroup& wg = *tl_block->groups[t / 128];
  static const uint32_t* fragments[1024];  // by thread of the running block (blocks run one at a time)
  fragments[t] = a;
  wg.d[t % 128] = d;
  wg.bar.arrive_and_wait();
  if (t % 128 == 0) {
    static thread_local float am[64][16], bm[128][16];
    for (int m = 0; m < 64; ++m)
      for (int k = 0; k < 16; ++k) {
        const int lane = 4 * (m % 8) + (k % 8) / 2, reg = (m % 16) / 8 + 2 * (k / 8);
        const uint32_t bits = fragments[t + 32 * (m / 16) + lane][reg];
        am[m][k] = bf16_bits_to_float(static_cast<uint16_t>(k % 2 ? bits >> 16 : bits & 0xffff));
      }
    for (int n = 0; n < N; ++n)
      for (int k = 0; k < 16; ++k) bm[n][k] = desc_element_mn(desc_b, n, k);
    for (int m = 0; m < 64; ++m)
      for (int n = 0; n < N; ++n) {
        float acc = 0;
        for (int k = 0; k < 16; ++k) acc += am[m][k] * bm[n][k];
        wg.d[32 * (m / 16) + 4 * (m % 8) + (n % 8) / 2][4 * (n / 8) + 2 * ((m % 16) / 8) + n % 2] += acc;
      }
  }
  wg.bar.arrive_and_wait();
}
inline void wgmma_rs_m64n64k16_tb(float (&d)[32], const uint32_t (&a)[4], uint64_t desc_b) {
  wgmma_rs_tb_emulated<64>(d, a, desc_b);
}
inline void wgmma_rs_m64n128k16_tb(float (&d)[64], const uint32_t (&a)[4], uint64_t desc_b) {
  wgmma_rs_tb_emulated<128>(d, a, desc_b);
}
#endif  // ANVIL_HOST_EMULATION

// K-major operand in 128-byte swizzle (rows of 64 bf16, 8-row groups 1024 bytes apart).
__device__ __forceinline__ uint64_t desc_kmajor(uint32_t address) {
  return static_cast<uint64_t>((address & 0x3FFFF) >> 4) | (static_cast<uint64_t>(1) << 16) |
         (static_cast<uint64_t>(1024 >> 4) << 32) | (static_cast<uint64_t>(1) << 62);
}
// N-major operand (read with the transpose bit) in 128-byte swizzle: 128-byte rows along k (one key of V),
// 8-key groups 1024 bytes apart (SBO), 64-column sub-tiles `lbo` bytes apart (LBO).
__device__ __forceinline__ uint64_t desc_nmajor(uint32_t address, uint32_t lbo) {
  return static_cast<uint64_t>((address & 0x3FFFF) >> 4) | (static_cast<uint64_t>((lbo >> 4) & 0x3FFF) << 16) |
         (static_cast<uint64_t>(1024 >> 4) << 32) | (static_cast<uint64_t>(1) << 62);
}

// grid: x = batch * heads, y = query blocks (ceil(Tq / 128)); block threads(kVariant); dynamic smem
// smem_bytes(kVariant).
template <int D, int kVariant>
__global__ void __launch_bounds__(Fwd90<D>::threads(kVariant), 1)
    flash_fwd_sm90_kernel(const __grid_constant__ CUtensorMap map_q, const __grid_constant__ CUtensorMap map_k,
                          const __grid_constant__ CUtensorMap map_v, const anvil_attention_params p) {
#if ANVIL_FLASH90_BODY
  using S = Fwd90<D>;
  constexpr bool kInline = S::inline_producer(kVariant);
  constexpr int kBr = S::kBr, kBc = S::kBc, kStages = S::stages(kVariant), kSub = S::kSub;
  __shared__ __align__(8) uint64_t bars[1 + 3 * kStages];  // q, k full[s], v full[s], empty[s]
  const uint32_t raw = tc::smem_address(tc::dynamic_smem());
  const uint32_t base = (raw + 1023) & ~1023u;
  const uint32_t qbar = tc::smem_address(&bars[0]);
  auto kfull = [&](int s) { return qbar + 8 * (1 + s); };
  auto vfull = [&](int s) { return qbar + 8 * (1 + kStages + s); };
  auto empty = [&](int s) { return qbar + 8 * (1 + 2 * kStages + s); };
  auto sk = [&](int s) { return base + S::kQBytes + s * 2 * S::kKVBytes; };
  auto sv = [&](int s) { return base + S::kQBytes + s * 2 * S::kKVBytes + S::kKVBytes; };

  const int64_t bh = blockIdx.x, b = bh / p.heads, h = bh % p.heads;
  const int64_t qb = p.causal ? gridDim.y - 1 - blockIdx.y : blockIdx.y;
  const int64_t q0 = qb * kBr, tq = p.q_len, tk = p.k_len, shift = tk - tq;
  int64_t kend = tk;  // keys [0, kend) can be visible to some row of this block
  if (p.causal) kend = min(tk, min(q0 + kBr, tq) + shift);
  const int nblocks = kend > 0 ? static_cast<int>((kend + kBc - 1) / kBc) : 0;

  if (threadIdx.x == 0) {
    mbar_init(qbar, 1);
    for (int s = 0; s < kStages; ++s) {
      mbar_init(kfull(s), 1);
      mbar_init(vfull(s), 1);
      mbar_init(empty(s), S::kConsumers);
    }
    mbar_fence_init();
  }
  __syncthreads();

  const int col = static_cast<int>(h * D), bi = static_cast<int>(b);
  auto produce_q = [&]() {
    mbar_expect_tx(qbar, S::kQBytes);
    for (int s = 0; s < kSub; ++s) tma_load_3d(base + s * kBr * 128, &map_q, qbar, col + 64 * s, static_cast<int>(q0), bi);
  };
  auto produce_block = [&](int jb) {
    const int st = jb % kStages, round = jb / kStages;
    if (round > 0) mbar_wait(empty(st), (round - 1) & 1);  // both consumers released round - 1
    mbar_expect_tx(kfull(st), S::kKVBytes);
    for (int s = 0; s < kSub; ++s) tma_load_3d(sk(st) + s * kBc * 128, &map_k, kfull(st), col + 64 * s, jb * kBc, bi);
    mbar_expect_tx(vfull(st), S::kKVBytes);
    for (int s = 0; s < kSub; ++s) tma_load_3d(sv(st) + s * kBc * 128, &map_v, vfull(st), col + 64 * s, jb * kBc, bi);
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
  const int64_t row0 = q0 + 64 * c + 16 * w + lane / 4;  // this thread's rows: row0, row0 + 8

  // o[4j + 2h + e] = O(row0 + 8h, 8j + 2(lane % 4) + e)  (the wgmma accumulator layout; S likewise)
  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // log2 units; l per thread (quad-summed at the end)

  auto issue_s = [&](float(&s)[kBc / 2], int st) {  // S = Q K^T of the block in stage st
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      const uint32_t qa = base + (ks / 4) * kBr * 128 + c * 64 * 128 + (ks % 4) * 32;
      const uint32_t ka = sk(st) + (ks / 4) * kBc * 128 + (ks % 4) * 32;
      wgmma_ss_m64n128k16(s, desc_kmajor(qa), desc_kmajor(ka), ks > 0);
    }
  };
  auto issue_pv = [&](const uint32_t(&pa)[kBc / 16][4], int st) {  // O += P V of the block in stage st
#pragma unroll
    for (int kk = 0; kk < kBc / 16; ++kk) {
      const uint32_t va = sv(st) + kk * 16 * 128;  // keys 16kk.. : 16 rows of 128 bytes
      if constexpr (D == 64) {
        wgmma_rs_m64n64k16_tb(o, pa[kk], desc_nmajor(va, kBc * 128));
      } else if constexpr (kVariant == 1) {
        wgmma_rs_m64n64k16_tb(*reinterpret_cast<float(*)[32]>(&o[0]), pa[kk], desc_nmajor(va, kBc * 128));
        wgmma_rs_m64n64k16_tb(*reinterpret_cast<float(*)[32]>(&o[32]), pa[kk], desc_nmajor(va + kBc * 128, kBc * 128));
      } else {
        wgmma_rs_m64n128k16_tb(o, pa[kk], desc_nmajor(va, kBc * 128));
      }
    }
  };
  // Mask, online softmax (O rescaled), P of block jb into pa.
  auto softmax = [&](float(&s)[kBc / 2], uint32_t(&pa)[kBc / 16][4], int jb) {
    const int64_t j0 = static_cast<int64_t>(jb) * kBc;
    const bool need_mask = mask != nullptr || j0 + kBc > tk || (p.causal && j0 + kBc - 1 > q0 + 64 * c + shift);
    if (need_mask) {
#pragma unroll
      for (int j = 0; j < kBc / 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t key = j0 + 8 * j + 2 * (lane % 4) + (e & 1), row = row0 + 8 * (e >> 1);
          if (key >= tk || (p.causal && key > row + shift) || (mask && mask[key] == 0)) s[4 * j + e] = -INFINITY;
        }
    }
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < kBc / 8; ++j) mx = fmaxf(mx, fmaxf(s[4 * j + 2 * hh], s[4 * j + 2 * hh + 1]));
      const float m_new = fmaxf(m[hh], tc::quad_max(mx) * scale_log2);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // nothing visible yet: no NaN
      const float correction = exp2f(m[hh] - m_use);
      m[hh] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < kBc / 8; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float x = exp2f(fmaf(s[4 * j + 2 * hh + e], scale_log2, -m_use));
          s[4 * j + 2 * hh + e] = x;
          sum += x;
        }
      l[hh] = l[hh] * correction + sum;
#pragma unroll
      for (int j = 0; j < D / 8; ++j) {
        o[4 * j + 2 * hh] *= correction;
        o[4 * j + 2 * hh + 1] *= correction;
      }
    }
#pragma unroll
    for (int kk = 0; kk < kBc / 16; ++kk) {  // P's k16 steps: the accumulator pairs of n-tiles 2kk, 2kk + 1
      pa[kk][0] = tc::pack_bf16(s[8 * kk], s[8 * kk + 1]);
      pa[kk][1] = tc::pack_bf16(s[8 * kk + 2], s[8 * kk + 3]);
      pa[kk][2] = tc::pack_bf16(s[8 * kk + 4], s[8 * kk + 5]);
      pa[kk][3] = tc::pack_bf16(s[8 * kk + 6], s[8 * kk + 7]);
    }
  };

  if (nblocks > 0) mbar_wait(qbar, 0);
  if constexpr (kVariant != 2) {
    for (int jb = 0; jb < nblocks; ++jb) {
      const int st = jb % kStages, parity = (jb / kStages) & 1;
      float s[kBc / 2];
      uint32_t pa[kBc / 16][4];
      mbar_wait(kfull(st), parity);
      wgmma_fence();
      issue_s(s, st);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(s);
      softmax(s, pa, jb);
      mbar_wait(vfull(st), parity);
      fence_operands(o);
      wgmma_fence();
      issue_pv(pa, st);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(o);
      if (t == 0) mbar_arrive(empty(st));
    }
  } else {
    // Pipelined: block jb's S is issued with block jb - 1's P V in one group, so the softmax of jb - 1 is
    // done before and the products run back to back; and the two consumers take turns issuing (named
    // barriers 1 and 2: consumer c waits on 1 + c, then lets the other go), so one's softmax overlaps the
    // other's products (FA3's ping-pong). Consumer 1 opens consumer 0's first turn and consumer 0
    // takes consumer 1's last hand-over after the loop, so both barriers see matched arrivals.
    uint32_t pa[kBc / 16][4];
    if (nblocks > 0) {
      if (c == 1) named_arrive(1);
      float s[kBc / 2];
      mbar_wait(kfull(0), 0);
      named_sync(1 + c);
      wgmma_fence();
      issue_s(s, 0);
      wgmma_commit();
      named_arrive(2 - c);
      wgmma_wait_all();
      fence_operands(s);
      softmax(s, pa, 0);
    }
    for (int jb = 1; jb < nblocks; ++jb) {
      const int st = jb % kStages, parity = (jb / kStages) & 1;
      const int prev = (jb - 1) % kStages, prev_parity = ((jb - 1) / kStages) & 1;
      float s[kBc / 2];
      mbar_wait(kfull(st), parity);
      mbar_wait(vfull(prev), prev_parity);
      named_sync(1 + c);
      fence_operands(o);
      wgmma_fence();
      issue_s(s, st);
      issue_pv(pa, prev);
      wgmma_commit();
      named_arrive(2 - c);
      wgmma_wait_all();
      fence_operands(s);
      fence_operands(o);
      if (t == 0) mbar_arrive(empty(prev));  // K and V of block jb - 1 are done
      if constexpr (kInline) {
        if (c == 1 && t == 0 && jb - 1 + kStages < nblocks) produce_block(jb - 1 + kStages);
        __syncwarp();
      }
      softmax(s, pa, jb);
    }
    if (c == 0 && nblocks > 0) named_sync(1);  // consumer 1's last hand-over
    if (nblocks > 0) {
      const int st = (nblocks - 1) % kStages, parity = ((nblocks - 1) / kStages) & 1;
      mbar_wait(vfull(st), parity);
      fence_operands(o);
      wgmma_fence();
      issue_pv(pa, st);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(o);
    }
  }

  // out = O / l (0 where nothing was visible); lse = ln(sum exp) = (m + log2 l) ln 2
  bf16* out = const_cast<bf16*>(flash::head_row(p.out, p.o_batch_stride, b, h, D));
  float* lse = p.lse ? reinterpret_cast<float*>(static_cast<uintptr_t>(p.lse)) + bh * tq : nullptr;
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const float total = tc::quad_sum(l[hh]);
    const int64_t row = row0 + 8 * hh;
    if (row >= tq) continue;
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    bf16* dst = out + row * p.o_row_stride + 2 * (lane % 4);
#pragma unroll
    for (int j = 0; j < D / 8; ++j)
      *reinterpret_cast<__nv_bfloat162*>(dst + 8 * j) =
          __floats2bfloat162_rn(o[4 * j + 2 * hh] * inv, o[4 * j + 2 * hh + 1] * inv);
    if (lse && lane % 4 == 0) lse[row] = total > 0.0f ? m[hh] * flash::kLn2 + __logf(total) : -INFINITY;
  }
#else
  __trap();  // built for an architecture without wgmma: the launcher never picks this kernel there
#endif
}

// Whether the sm_90a forward takes these arguments (the device is checked by the caller: cc 9.0 exactly).
inline bool flash90_supported(const anvil_attention_params& p) {
  auto aligned = [](int64_t a) { return (a & 15) == 0; };
  if (p.head_dim != 64 && p.head_dim != 128) return false;
  if (!aligned(p.q) || !aligned(p.k) || !aligned(p.v) || !aligned(p.out)) return false;
  for (int64_t s : {p.q_row_stride, p.k_row_stride, p.v_row_stride, p.o_row_stride, p.q_batch_stride,
                    p.k_batch_stride, p.v_batch_stride, p.o_batch_stride})
    if (s % 8 != 0 || s < 0) return false;
  const int64_t width = p.heads * p.head_dim;
  return p.q_len > 1 && p.scale > 0.0 && std::isfinite(p.scale) && (p.q_len + 127) / 128 <= 65535 &&
         p.batch * p.heads <= 0x7fffffff && width <= 0x7fffffff && p.q_len <= 0x7fffffff && p.k_len <= 0x7fffffff &&
         p.batch <= 0x7fffffff;
}

// A 3-D tensor map over (batch, rows, width) bf16 token rows: boxes of 64 elements x box_rows x 1, 128-byte
// swizzle, zero fill outside.
inline cudaError_t make_map_3d(CUtensorMap* map, int64_t address, int64_t width, int64_t rows, int64_t batch,
                               int64_t row_stride, int64_t batch_stride, int box_rows) {
#if defined(ANVIL_HOST_EMULATION)
  if (batch == 1) batch_stride = rows * row_stride;
  return ::anvil::emu::make_tensor_map_3d(map, reinterpret_cast<const bf16*>(static_cast<uintptr_t>(address)), width,
                                          rows, row_stride, batch, batch_stride, box_rows);
#else
  static PFN_cuTensorMapEncodeTiled_v12000 encode = nullptr;
  if (!encode) {
    cudaDriverEntryPointQueryResult found;
    void* fn = nullptr;
    cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found);
    if (e != cudaSuccess) return e;
    if (found != cudaDriverEntryPointSuccess || !fn) return cudaErrorNotSupported;
    encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }
  if (batch == 1) batch_stride = rows * row_stride;  // never stepped over; any legal stride
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(width), static_cast<cuuint64_t>(rows),
                              static_cast<cuuint64_t>(batch)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(row_stride) * 2, static_cast<cuuint64_t>(batch_stride) * 2};
  const cuuint32_t box[3] = {64, static_cast<cuuint32_t>(box_rows), 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  const CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, reinterpret_cast<void*>(static_cast<uintptr_t>(address)),
                            dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
#endif
}

// The variant the product takes (kernel template argument kVariant): 0 one block at a time, 1 the same with
// D = 128's P V as two N = 64 products (playground cross-check), 2 pipelined with ping-pong consumers.
constexpr int kFwdVariant = 0;

// The tensor maps of q, k and v (cudaErrorInvalidValue: strides or sizes the TMA unit refuses; nothing
// was launched, the caller may take another kernel).
struct Maps {
  CUtensorMap q, k, v;
};
template <int D>
cudaError_t make_maps(const anvil_attention_params& p, Maps* maps) {
  using S = Fwd90<D>;
  const int64_t width = p.heads * D;
  if (cudaError_t e = make_map_3d(&maps->q, p.q, width, p.q_len, p.batch, p.q_row_stride, p.q_batch_stride, S::kBr);
      e != cudaSuccess)
    return e;
  if (cudaError_t e = make_map_3d(&maps->k, p.k, width, p.k_len, p.batch, p.k_row_stride, p.k_batch_stride, S::kBc);
      e != cudaSuccess)
    return e;
  return make_map_3d(&maps->v, p.v, width, p.k_len, p.batch, p.v_row_stride, p.v_batch_stride, S::kBc);
}

// The forward for arguments flash90_supported accepted, on a device of compute capability 9.0.
template <int D, int kVariant = kFwdVariant>
cudaError_t launch_fwd_sm90(const anvil_attention_params& p, const Maps& maps, cudaStream_t stream) {
  using S = Fwd90<D>;
  const int64_t q_blocks = (p.q_len + S::kBr - 1) / S::kBr, bh = p.batch * p.heads;
  if (q_blocks > 65535 || bh > 0x7fffffff) return cudaErrorInvalidConfiguration;
  if (q_blocks == 0 || bh == 0) return cudaSuccess;
  static_assert(S::smem_bytes(kVariant) + 128 <= 227 * 1024, "shared memory per CTA (dynamic + the barriers)");
  auto kernel = flash_fwd_sm90_kernel<D, kVariant>;
  if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, S::smem_bytes(kVariant));
      e != cudaSuccess)
    return e;
  ANVIL_LAUNCH(kernel, dim3(static_cast<unsigned>(bh), static_cast<unsigned>(q_blocks)), S::threads(kVariant),
               S::smem_bytes(kVariant), stream)(maps.q, maps.k, maps.v, p);
  return cudaGetLastError();
}

// Both steps (the playground).
template <int D, int kVariant = kFwdVariant>
cudaError_t launch_fwd_sm90(const anvil_attention_params& p, cudaStream_t stream) {
  Maps maps;
  if (cudaError_t e = make_maps<D>(p, &maps); e != cudaSuccess) return e;
  return launch_fwd_sm90<D, kVariant>(p, maps, stream);
}

}  // namespace anvil::flash90
