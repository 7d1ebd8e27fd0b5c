// matmul/gemm_sm90.cuh: GEMM versions 3 and 4 for sm_90a (Hopper): TMA tile loads into a ring of mbarrier-guarded
// shared-memory stages, wgmma m64nNk16 from shared memory, warp specialization, persistent CTAs.
//   C[z] (m,n) = epilogue(alpha * op(A[z]) (m,k) op(B[z]) (k,n)), bf16 in, fp32 accumulate, bf16 or fp32
//   out; the epilogue of gemm_sm80.cuh, per element in this order: v = alpha * acc; v += bias[col] (when
//   bias); with kGelu, pre = v rounded to Tout (when pre is not null: the aux store of the pre-activation
//   for the backward, C's layout) and v = gelu_tanh(v); v += C (accumulate: residual add, gradient +=);
//   C = v rounded to Tout.
// Every layout of the Linear products, named by the stored operands (x (M,K), W (N,K), dY (M,N)):
//   NT  Y = x W^T      A K-major, B K-major         (forward)
//   NN  dX = dY W      A K-major, B N-major         (input gradient)
//   TN  dW = dY^T x    A M-major, B N-major         (weight gradient, fp32 +=)
//   TT  A M-major, B K-major (for completeness)
// A K-major operand arrives as one TMA box of 64 (k) x rows, 128-byte swizzled (each 64-element K row
// is one 128-byte line, its 16-byte chunks XORed with row % 8); an M/N-major one as boxes of 64 (m or n)
// x 64 (k), 8 KB each, one per 64 rows of the tile, same swizzle: wgmma reads it with its transpose bit
// set, LBO = 8 KB (the next 64 M/N elements), SBO = 1 KB (the next 8 k). Batch items are the third
// dimension of the tensor maps (a stride-0 operand has extent 1 there), so a tile never reads the next
// item's rows: out-of-range elements are zero-filled by TMA, stores are predicated.
// Preconditions (gemm_sm90_supported): compute capability 9.0 exactly (sm_90a code does not run on later
// architectures), k > 0, n even (pair stores), lda, ldb, ldc and batch strides multiples of 8, pointers
// 16-byte aligned.
//
// CTA: 384 threads = 3 warpgroups, one CTA per SM, persistent: CTA i takes tiles i, i + grid, ... in a
// grouped raster (group_m tile rows share B tiles in L2: every tile row when A fits in L2, so each B tile
// comes from DRAM once, else kGroupM). Warpgroup 0 is the producer (setmaxnreg 40):
// one thread waits for a free stage (empty barrier), announces its bytes (expect_tx on the full barrier)
// and issues the TMA loads of A (128 x 64) and B (BN x 64). Warpgroups 1 and 2 are consumers (setmaxnreg
// 232), 64 rows each of the 128 x BN tile: wait for a full stage, issue 4 wgmma m64nBNk16, commit, wait
// until at most one group is in flight, and release the previous stage (one arrival per consumer
// warpgroup on its empty barrier); at the end of a tile the epilogue stores from registers while the
// producer already loads the next tile's stages. BN = 256 (128 fp32 accumulators per thread, 4 stages of
// 48 KB) or 128 (64 accumulators, 6 stages of 32 KB): the launcher picks the one with fewer tile-waves.
// A wait that does not complete within ~2 s traps (a broken pipeline fails fast instead of hanging).
// Two schedules of the consumers (launch_gemm_sm90's `schedule`; pick_schedule chooses by shape):
//   cooperative (kCoop256 / kCoop128): both consumers on one 128 x BN tile, 64 rows each, as above;
//   ping-pong (kPingPong128): each consumer takes whole 128 x 128 tiles (two m64n128k16 per k16 step) and
//     the two take turns in the mainloop (turn barriers), so one's epilogue runs under the other's math;
//     every stage then has one consumer (empty barriers count 1).
// Measured on an H200 (playground, 2026-11-27 15:15 UTC, run 5): ping-pong buys 20-25% on the k = 768
// products with wide outputs (c_attn, attn.c_proj, c_fc forward, mlp.c_proj input gradient, lm_head fwd)
// whose 12 k-tiles per tile leave the cooperative epilogue unhidden, and loses ~20% on the long-k weight
// gradients and the squares: pick_schedule takes it for k <= 1024 when every consumer gets tiles.
// Validated there (before the GELU epilogue's pre store was added): every layout and epilogue of the
// playground's check list, both schedules; the product's dispatch of ping-pong is new with this change.
// Not yet: clusters with TMA multicast (playground version 5), an epilogue through shared memory.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>

#include <cstdint>
#include <cstring>

#include "matmul/gemm_sm80.cuh"
#include "hopper.cuh"
#include "tensor_core.cuh"

#if !defined(ANVIL_HOST_EMULATION)
#include <cudaTypedefs.h>
#endif

// The kernel body exists for sm_90a (and the CPU emulator); other targets get a stub that traps.
#if defined(ANVIL_HOST_EMULATION) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ANVIL_SM90A_BODY 1
#else
#define ANVIL_SM90A_BODY 0
#endif

namespace anvil::gemm90 {

using bf16 = __nv_bfloat16;

constexpr int kBM = 128, kBK = 64, kConsumers = 2, kThreads = 128 * (kConsumers + 1), kGroupM = 8;
constexpr int kBox = 64 * kBK * 2;  // one 64 x 64 bf16 box of an M/N-major operand: 8 KB

template <int BN>
struct Config {
  static constexpr int kABytes = kBM * kBK * 2, kBBytes = BN * kBK * 2, kStageBytes = kABytes + kBBytes;
  static constexpr int kStages = BN == 256 ? 4 : 6;
  static constexpr int kSmemBytes = kStages * kStageBytes + 1024;  // + alignment to 1024 bytes
  static_assert(kSmemBytes <= 227 * 1024, "shared memory");
};

struct Args {
  void* c;
  const bf16* bias;  // (n) or null
  int64_t m, n, k, ldc, stride_c;
  float alpha;
  int accumulate;
  int tiles_m, tiles_n, batch;
  int a_batched, b_batched;  // 0: one matrix for every batch item (stride 0)
  int group_m;  // tile rows per raster group; the launcher fills it, tiles_m/n and a/b_batched
  void* pre;    // kGelu: (batch, m, n) like c (ldc, stride_c), or null
};

#if !defined(ANVIL_HOST_EMULATION)

using namespace ::anvil::sm90;  // mbarriers, TMA loads, wgmma fences and waits, setmaxnreg (hopper.cuh)

// d (64 x N fp32, the warpgroup's fragment) (+)= A (64 x 16) B (16 x N), both from shared memory through
// descriptors; kTA / kTB: A M-major / B N-major (the transpose bits); scale_d 0 ignores d's old value.
template <int kTA, int kTB>
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, %67, %68;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d), "n"(kTA), "n"(kTB));
}

template <int kTA, int kTB>
__device__ __forceinline__ void wgmma_m64n256k16(float (&d)[128], uint64_t desc_a, uint64_t desc_b, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p, 1, 1, %131, %132;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d), "n"(kTA), "n"(kTB));
}
#endif  // !ANVIL_HOST_EMULATION

// wgmma descriptors, 128-byte swizzle (bits 62-63 = 1), addresses and offsets in 16-byte units.
// K-major: rows of 64 bf16 (one 128-byte line), 8-row groups 1024 bytes apart (SBO); LBO unused (1).
// M/N-major: 64 M/N elements per 128-byte line, k rows; LBO = 8 KB to the next 64 M/N elements (the next
// TMA box), SBO = 1024 bytes to the next 8 k.
__host__ __device__ __forceinline__ uint64_t desc_sw128(uint32_t smem_address, bool mn_major) {
  const uint64_t lbo = mn_major ? kBox : 16;
  return static_cast<uint64_t>((smem_address & 0x3FFFF) >> 4) | ((lbo >> 4) << 16) |
         (static_cast<uint64_t>(1024 >> 4) << 32) | (static_cast<uint64_t>(1) << 62);
}

// The epilogue of one 64 x N fragment (a warpgroup's wgmma accumulators, thread t of 128) whose first row is
// row0 and first column n0: d[4j + e] = D(16w + lane/4 + 8(e/2), 8j + 2(lane%4) + e%2), w = t/32. Loads of C
// (accumulate) and bias go out kChunk pairs at a time ahead of that chunk's stores: a load after each
// store would be one DRAM round trip per pair (the compiler cannot hoist a load of C above a store that
// may alias it).
template <typename Tout, bool kGelu, int N>
__device__ __forceinline__ void store_fragment(const float (&d)[N / 2], const Args& g, int z, int64_t row0,
                                               int64_t n0, int t) {
  constexpr int kChunk = 8;
  const int w = t / 32, lane = t % 32;
  Tout* out = static_cast<Tout*>(g.c) + z * g.stride_c;
  Tout* pre = kGelu && g.pre ? static_cast<Tout*>(g.pre) + z * g.stride_c : nullptr;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int64_t row = row0 + 16 * w + lane / 4 + 8 * half;
    if (row >= g.m) continue;
    Tout* out_row = out + row * g.ldc;
#pragma unroll
    for (int j0 = 0; j0 < N / 8; j0 += kChunk) {
      float2 add[kChunk], bias[kChunk];
#pragma unroll
      for (int jj = 0; jj < kChunk; ++jj) {
        const int64_t col = n0 + 8 * (j0 + jj) + 2 * (lane % 4);
        add[jj] = bias[jj] = make_float2(0.0f, 0.0f);
        if (col < g.n && g.accumulate) add[jj] = gemm::load_pair(out_row + col);
        if (col < g.n && g.bias) bias[jj] = gemm::load_pair(g.bias + col);
      }
#pragma unroll
      for (int jj = 0; jj < kChunk; ++jj) {
        const int j = j0 + jj;
        const int64_t col = n0 + 8 * j + 2 * (lane % 4);
        if (col >= g.n) continue;
        float v0 = g.alpha * d[4 * j + 2 * half] + bias[jj].x, v1 = g.alpha * d[4 * j + 2 * half + 1] + bias[jj].y;
        if constexpr (kGelu) {
          if (pre) gemm::store_pair<Tout>(pre + row * g.ldc + col, v0, v1);
          v0 = gemm::gelu_tanh(v0);
          v1 = gemm::gelu_tanh(v1);
        }
        gemm::store_pair<Tout>(out_row + col, v0 + add[jj].x, v1 + add[jj].y);
      }
    }
  }
}

// grid: min(tiles, SMs) persistent CTAs; block kThreads; dynamic smem Config<BN>::kSmemBytes.
// kPingPong (BN 128 only): instead of both consumers sharing each 128 x BN tile (64 rows each), consumer c
// takes this CTA's tiles c, c + 2, ... whole (two m64n128 wgmmas per k16 step, 128 accumulators), and the
// two take turns in the mainloop (turn barriers): one's epilogue runs while the other's math does, so the
// tensor cores do not wait for stores. Each stage then has one consumer (empty barriers count 1).
template <typename Tout, bool kGelu, bool kAMN, bool kBMN, int BN, bool kPingPong>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_wgmma_kernel(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_b,
                      const Args g) {
#if ANVIL_SM90A_BODY
  static_assert(!kPingPong || BN == 128, "ping-pong consumers hold 128 x 128 tiles");
  using Cfg = Config<BN>;
  constexpr int S = Cfg::kStages;
  __shared__ __align__(8) uint64_t full[S];
  __shared__ __align__(8) uint64_t empty[S];
  __shared__ __align__(8) uint64_t turn[2];  // ping-pong: turn[c] completes a phase when c may start its math
  const uint32_t raw = tc::smem_address(tc::dynamic_smem());
  const uint32_t base = (raw + 1023) & ~1023u;  // swizzled tiles start at 1024-byte boundaries
  auto stage_a = [&](int s) { return base + s * Cfg::kStageBytes; };
  auto stage_b = [&](int s) { return base + s * Cfg::kStageBytes + Cfg::kABytes; };
  const uint32_t full0 = tc::smem_address(&full[0]), empty0 = tc::smem_address(&empty[0]);
  const uint32_t turn0 = tc::smem_address(&turn[0]);

  const int per_item = g.tiles_m * g.tiles_n, total = per_item * g.batch, per_group = g.group_m * g.tiles_n;
  const int ktiles = static_cast<int>((g.k + kBK - 1) / kBK);
  // tile id -> batch item z and the tile's first row / column (grouped raster within an item)
  auto decode = [&](int id, int& z, int& m0, int& n0) {
    z = id / per_item;
    id -= z * per_item;
    const int first_m = (id / per_group) * g.group_m;
    const int group_m = min(g.tiles_m - first_m, g.group_m);
    m0 = (first_m + (id % per_group) % group_m) * kBM;
    n0 = ((id % per_group) / group_m) * BN;
  };

  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s) {
      mbar_init(full0 + 8 * s, 1);
      mbar_init(empty0 + 8 * s, kPingPong ? 1 : kConsumers);
    }
    mbar_init(turn0, 1);
    mbar_init(turn0 + 8, 1);
    mbar_fence_init();
  }
  __syncthreads();

  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
  if (wg == 0) {
    setmaxnreg_dec<40>();
    if (t == 0) {
      int it = 0;  // k-tiles loaded so far, over every tile of this CTA: stage it % S, round it / S
      for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        int z, m0, n0;
        decode(tile, z, m0, n0);
        const int za = g.a_batched ? z : 0, zb = g.b_batched ? z : 0;
        for (int kt = 0; kt < ktiles; ++kt, ++it) {
          const int s = it % S, round = it / S;
          if (round > 0) mbar_wait(empty0 + 8 * s, (round - 1) & 1);  // the consumers released round - 1
          const uint32_t bar = full0 + 8 * s;
          mbar_expect_tx(bar, Cfg::kStageBytes);
          if constexpr (kAMN) {
#pragma unroll
            for (int j = 0; j < kBM / 64; ++j) tma_load_3d(stage_a(s) + j * kBox, &map_a, bar, m0 + 64 * j, kt * kBK, za);
          } else {
            tma_load_3d(stage_a(s), &map_a, bar, kt * kBK, m0, za);
          }
          if constexpr (kBMN) {
#pragma unroll
            for (int j = 0; j < BN / 64; ++j) tma_load_3d(stage_b(s) + j * kBox, &map_b, bar, n0 + 64 * j, kt * kBK, zb);
          } else {
            tma_load_3d(stage_b(s), &map_b, bar, kt * kBK, n0, zb);
          }
        }
      }
    }
  } else {
    setmaxnreg_inc<232>();
    const int c = wg - 1;
    // k16 step inside a stage: 32 bytes along a K-major line, 2 KB (16 k rows) in an M/N-major box
    constexpr uint64_t step_a = kAMN ? 2048 >> 4 : 32 >> 4, step_b = kBMN ? 2048 >> 4 : 32 >> 4;
    if constexpr (!kPingPong) {
      int it = 0;
      for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        int z, m0, n0;
        decode(tile, z, m0, n0);
        float d[BN / 2];
        for (int kt = 0; kt < ktiles; ++kt, ++it) {
          const int s = it % S;
          mbar_wait(full0 + 8 * s, (it / S) & 1);
          wgmma_fence();
          // consumer c's 64 rows: 64 K-major lines of 128 bytes, or the c-th 64 x 64 M-major box: 8 KB either way
          const uint64_t da = desc_sw128(stage_a(s) + c * kBox, kAMN), db = desc_sw128(stage_b(s), kBMN);
#pragma unroll
          for (int kk = 0; kk < kBK / 16; ++kk) {
            if constexpr (BN == 256)
              wgmma_m64n256k16<kAMN, kBMN>(d, da + kk * step_a, db + kk * step_b, kt > 0 || kk > 0);
            else
              wgmma_m64n128k16<kAMN, kBMN>(d, da + kk * step_a, db + kk * step_b, kt > 0 || kk > 0);
          }
          wgmma_commit();
          wgmma_wait<1>();  // the previous k-tile's group is done: release its stage
          if (kt > 0 && t == 0) mbar_arrive(empty0 + 8 * ((it - 1) % S));
        }
        wgmma_wait<0>();
        if (t == 0) mbar_arrive(empty0 + 8 * ((it - 1) % S));
        store_fragment<Tout, kGelu, BN>(d, g, z, m0 + 64 * c, n0, t);
      }
    } else {
      // this consumer's tiles: local index j = c, c + 2, ... (CTA tile blockIdx.x + j * gridDim.x), whose
      // k-tiles sit at ring positions j * ktiles ...; its i-th tile waits for turn phase i - 1 (consumer 0)
      // or i (consumer 1), completed when the other consumer has issued its previous tile's math.
      int i = 0;
      for (int tile = blockIdx.x + c * gridDim.x; tile < total; tile += 2 * gridDim.x, ++i) {
        int z, m0, n0;
        decode(tile, z, m0, n0);
        if (c == 1 || i > 0) mbar_wait(turn0 + 8 * c, (c == 0 ? i - 1 : i) & 1);
        float d0[64], d1[64];
        int it = (c + 2 * i) * ktiles;
        for (int kt = 0; kt < ktiles; ++kt, ++it) {
          const int s = it % S;
          mbar_wait(full0 + 8 * s, (it / S) & 1);
          wgmma_fence();
          const uint64_t da = desc_sw128(stage_a(s), kAMN), db = desc_sw128(stage_b(s), kBMN);
#pragma unroll
          for (int kk = 0; kk < kBK / 16; ++kk) {
            wgmma_m64n128k16<kAMN, kBMN>(d0, da + kk * step_a, db + kk * step_b, kt > 0 || kk > 0);
            wgmma_m64n128k16<kAMN, kBMN>(d1, da + (kBox >> 4) + kk * step_a, db + kk * step_b, kt > 0 || kk > 0);
          }
          wgmma_commit();
          wgmma_wait<1>();
          if (kt > 0 && t == 0) mbar_arrive(empty0 + 8 * ((it - 1) % S));
        }
        if (t == 0) mbar_arrive(turn0 + 8 * (1 - c));  // the other consumer may start its math
        wgmma_wait<0>();
        if (t == 0) mbar_arrive(empty0 + 8 * ((it - 1) % S));
        store_fragment<Tout, kGelu, 128>(d0, g, z, m0, n0, t);
        store_fragment<Tout, kGelu, 128>(d1, g, z, m0 + 64, n0, t);
      }
    }
  }
#else
  __trap();  // built for an architecture without wgmma: the launcher never picks this kernel there
#endif
}

// Whether the wgmma kernel takes this product (major.minor: the device's compute capability).
inline bool gemm_sm90_supported(int major, int minor, const void* a, const void* b, const void* c, const void* bias,
                                int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc,
                                int64_t stride_a, int64_t stride_b, int64_t stride_c, int64_t batch) {
  auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  const int64_t big = 0x7fffffff;
  return major == 9 && minor == 0 && aligned(a) && aligned(b) && aligned(c) && aligned(bias) && k > 0 && n % 2 == 0 &&
         lda > 0 &&
         ldb > 0 && lda % 8 == 0 && ldb % 8 == 0 && ldc % 8 == 0 && stride_a % 8 == 0 && stride_b % 8 == 0 &&
         stride_c % 8 == 0 && m < big && n < big && k < big && batch < big;
}

// A 3-D tensor map over bf16 (inner, outer, items): row stride ld, item stride `stride` (elements; items 1
// when 0), boxes of 64 (inner) x box_outer x 1, 128-byte swizzle, zero fill outside.
inline cudaError_t make_map(CUtensorMap* map, const bf16* base, int64_t inner, int64_t outer, int64_t ld,
                            int64_t items, int64_t stride, int box_outer) {
#if defined(ANVIL_HOST_EMULATION)
  return ::anvil::emu::make_tensor_map_3d(map, base, inner, outer, ld, stride == 0 ? 1 : items,
                                          stride != 0 ? stride : ld * outer, box_outer);
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
  if (stride == 0) items = 1;
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(inner), static_cast<cuuint64_t>(outer),
                              static_cast<cuuint64_t>(items)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(ld) * 2,
                                 static_cast<cuuint64_t>(stride != 0 ? stride : ld * outer) * 2};
  const cuuint32_t box[3] = {64, static_cast<cuuint32_t>(box_outer), 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  const CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<bf16*>(base), dims, strides, box,
                            element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
#endif
}

// Schedules of the kernel: cooperative consumers on 128 x 256 or 128 x 128 tiles, or ping-pong consumers
// on 128 x 128 tiles each.
constexpr int kCoop256 = 256, kCoop128 = 128, kPingPong128 = 1;

// The cooperative tile width for a product: the one with fewer tile-waves over the SMs, BN 128 counted 10%
// dearer per column (it reads B from shared memory twice as often per FLOP); ties go to 256.
inline int pick_bn(int64_t m, int64_t n, int64_t batch, int sms) {
  const int64_t tm = (m + kBM - 1) / kBM;
  const int64_t w256 = (tm * ((n + 255) / 256) * batch + sms - 1) / sms;
  const int64_t w128 = (tm * ((n + 127) / 128) * batch + sms - 1) / sms;
  return w128 * 128 * 11 < w256 * 256 * 10 ? kCoop128 : kCoop256;
}

// The schedule for a product: ping-pong when k is short (the epilogue is a large share of a tile) and
// there are at least two 128 x 128 tiles per SM (both consumers of every CTA busy); else cooperative.
inline int pick_schedule(int64_t m, int64_t n, int64_t k, int64_t batch, int sms) {
  const int64_t tiles128 = ((m + kBM - 1) / kBM) * ((n + 127) / 128) * batch;
  if (k <= 1024 && tiles128 >= 2 * static_cast<int64_t>(sms)) return kPingPong128;
  return pick_bn(m, n, batch, sms);
}

// C[z] = epilogue(alpha op(A[z]) op(B[z])) for arguments gemm_sm90_supported accepted. kAT: A stored (k,m)
// (M-major); kBT: B stored (n,k) (K-major). schedule: kCoop256, kCoop128, kPingPong128, or 0 (pick_schedule);
// sms: CTAs at most.
template <bool kAT, bool kBT, typename Tout, bool kGelu = false>
cudaError_t launch_gemm_sm90(const bf16* a, const bf16* b, int64_t lda, int64_t ldb, int64_t stride_a,
                             int64_t stride_b, Args g, int sms, int schedule, cudaStream_t stream) {
  if (g.m <= 0 || g.n <= 0 || g.batch <= 0) return cudaSuccess;
  if (g.k <= 0 || sms <= 0) return cudaErrorInvalidValue;  // a tensor map needs a nonzero extent
  if (schedule == 0) schedule = pick_schedule(g.m, g.n, g.k, g.batch, sms);
  if (schedule != kCoop256 && schedule != kCoop128 && schedule != kPingPong128) return cudaErrorInvalidValue;
  const int bn = schedule == kCoop256 ? 256 : 128;
  const int64_t tm = (g.m + kBM - 1) / kBM, tn = (g.n + bn - 1) / bn;
  if (tm * tn * g.batch > 0x7fffffff) return cudaErrorInvalidConfiguration;
  g.tiles_m = static_cast<int>(tm);
  // A (one batch item) within ~24 MB stays in L2 (50 MB on H100, 60 on H200) while B streams: sweep every
  // tile row per B column so each B tile is read from DRAM once (lm_head fwd: B 77 MB, read 8 times with
  // groups of 8)
  g.group_m = g.m * g.k * 2 <= (24LL << 20) ? g.tiles_m : (kGroupM < g.tiles_m ? kGroupM : g.tiles_m);
  g.tiles_n = static_cast<int>(tn);
  g.a_batched = stride_a != 0;
  g.b_batched = stride_b != 0;
  constexpr bool kAMN = kAT, kBMN = !kBT;
  CUtensorMap map_a, map_b;
  // A: K-major (k, m) boxes 64 x 128; M-major (m, k) boxes 64 x 64. B likewise with n and bn.
  cudaError_t e = kAMN ? make_map(&map_a, a, g.m, g.k, lda, g.batch, stride_a, 64)
                       : make_map(&map_a, a, g.k, g.m, lda, g.batch, stride_a, kBM);
  if (e != cudaSuccess) return e;
  e = kBMN ? make_map(&map_b, b, g.n, g.k, ldb, g.batch, stride_b, 64)
           : make_map(&map_b, b, g.k, g.n, ldb, g.batch, stride_b, bn);
  if (e != cudaSuccess) return e;
  const int grid = static_cast<int>(tm * tn * g.batch < sms ? tm * tn * g.batch : sms);
  auto go = [&](auto kernel, int smem) -> cudaError_t {
    if (cudaError_t e2 = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
        e2 != cudaSuccess)
      return e2;
    ANVIL_LAUNCH(kernel, grid, kThreads, smem, stream)(map_a, map_b, g);
    return cudaGetLastError();
  };
  if (schedule == kCoop256) return go(gemm_wgmma_kernel<Tout, kGelu, kAMN, kBMN, 256, false>, Config<256>::kSmemBytes);
  if (schedule == kCoop128) return go(gemm_wgmma_kernel<Tout, kGelu, kAMN, kBMN, 128, false>, Config<128>::kSmemBytes);
  return go(gemm_wgmma_kernel<Tout, kGelu, kAMN, kBMN, 128, true>, Config<128>::kSmemBytes);
}

}  // namespace anvil::gemm90
