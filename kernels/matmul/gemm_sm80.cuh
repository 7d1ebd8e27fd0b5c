// matmul/gemm_sm80.cuh: the tensor-core GEMM for sm_80 and later (mma.sync, ldmatrix, cp.async).
//   C[z] (m,n) = epilogue(alpha * op(A[z]) (m,k) op(B[z]) (k,n)), bf16 operands, fp32 accumulation,
//   C bf16 or fp32; for z < batch with element strides stride_a/b/c between items (0: one matrix).
//   op(A): A stored (m,k) (K contiguous, "K-major") or, kAT, A^T stored (k,m) (M contiguous).
//   op(B): B stored (k,n) (N contiguous) or, kBT, B^T stored (n,k) (K contiguous: a Linear weight).
//   epilogue, per element, in this order: v = alpha * acc; v += bias[col] (when bias); with kGelu,
//   pre[row, col] = v rounded to Tout (when pre is not null: the pre-activation the backward reads; same
//   layout as C) and v = gelu_tanh(v) (matmul/epilogue.cuh) from the unrounded v; v += C[row, col]
//   (accumulate: residual add, gradient accumulation); C = v rounded to Tout. The C ABI's gelu field
//   (anvil.h) takes kGelu with accumulate 0.
// The three Linear products are layouts of this one kernel (x (M,K), W (N,K), dY (M,N)):
//   forward  Y = x W^T      kAT=0 kBT=1   both operands K-major: plain ldmatrix for A and B
//   dX = dY W               kAT=0 kBT=0   B N-major: ldmatrix.trans for B
//   dW = dY^T x             kAT=1 kBT=0   both M/N-major: ldmatrix.trans for both
//
// Preconditions (gemm_sm80_supported, checked by the launcher; the stand-in takes everything else):
//   every operand's contiguous extent (lda, ldb, ldc) a multiple of 8 elements, base addresses 16-byte
//   aligned, batch strides multiples of 8: then every 16-byte chunk of a row is either wholly inside
//   the matrix or wholly outside, so loads predicate per chunk (zero fill) and stores per element pair.
//   m, n, k need not be multiples of the tile.
//
// Tiling: a CTA computes a 128x128 tile of C with 4 warps in a 2 x 2 grid, each warp 64x64 = 4 x 8 mma
// tiles of 16x8 (128 fp32 accumulators per thread; per k16 step 4 + 4 ldmatrix.x4 feed 32 mma). K advances 32 per stage through a 4-stage
// cp.async ring in shared memory (16 KB per stage: A 128x32, B 128x32, both swizzled; 64 KB in all),
// one __syncthreads per stage. Tiles are visited in groups of 8 tile rows (grid raster), so CTAs
// running together share A rows and B columns in L2.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "matmul/epilogue.cuh"
#include "tensor_core.cuh"

namespace anvil::gemm {

using bf16 = __nv_bfloat16;

struct MmaArgs {
  const bf16* a;
  const bf16* b;
  void* c;
  const bf16* bias;  // (n) or null
  int64_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, batch;
  float alpha;
  int accumulate;
  int tiles_m, tiles_n;
  void* pre;  // kGelu: (batch, m, n) like c (ldc, stride_c), or null
};

constexpr int kBM = 128, kBN = 128, kBK = 32, kStages = 4, kThreads = 128, kGroupM = 8;
constexpr int kWarpM = 64, kWarpN = 64, kMTiles = kWarpM / 16, kNTiles = kWarpN / 8;
constexpr int kChunksPerThread = kBM * kBK / 8 / kThreads;  // 16-byte chunks of one operand's tile
constexpr int kTileElems = kBM * kBK;  // one operand's stage (kBN * kBK for B: the same)
constexpr int kSmemBytes = kStages * 2 * kTileElems * 2;
static_assert(kBM == kBN, "one tile size for both operands keeps the loaders shared");

// Stages one operand's 128 x 32 k-tiles into shared memory, one k-tile per call, in increasing order.
// kKMajor: stored (rows, k) with k contiguous -> tile [128 rows][4 chunks]; otherwise stored (k, rows) ->
// [32 k-rows][16 chunks]. 512 chunks per tile, 4 per thread, consecutive threads on consecutive global
// chunks. Chunks outside the matrix are zero-filled. A thread's 4 chunks are 32 rows (K-major) or 8
// k-rows (otherwise) apart, which keeps their swizzle key, so one running pointer and one shared offset
// describe all four.
template <bool kKMajor>
struct TileLoader {
  static constexpr int kRowsApart = kKMajor ? kThreads / 4 : kThreads / 16;
  const bf16* base;  // a mapped address for the zero-fill copies
  const bf16* src;   // chunk 0 of the next k-tile
  int64_t apart;     // elements between the thread's chunks
  int64_t step;      // elements between k-tiles
  int64_t depth;     // k extent
  int k_first;       // k offset of chunk 0 within its tile
  uint32_t dst;      // byte offset of chunk 0 in the tile
  unsigned row_ok;   // bit i: chunk i's m/n position is inside the matrix

  __device__ __forceinline__ TileLoader(const bf16* g, int64_t ld, int64_t rows, int64_t k, int64_t r0) {
    base = g;
    depth = k;
    step = kKMajor ? kBK : kBK * ld;
    apart = kRowsApart * ld;
    row_ok = 0;
    if constexpr (kKMajor) {
      const int r = threadIdx.x >> 2, c = threadIdx.x & 3;
#pragma unroll
      for (int i = 0; i < kChunksPerThread; ++i) row_ok |= (r0 + r + i * kRowsApart < rows ? 1u : 0u) << i;
      k_first = c * 8;
      src = g + (r0 + r) * ld + c * 8;
      dst = 2 * tc::swizzle<4>(r, c);
    } else {
      const int r = threadIdx.x >> 4, c = threadIdx.x & 15;
      row_ok = r0 + c * 8 < rows ? (1u << kChunksPerThread) - 1 : 0u;
      k_first = r;
      src = g + r * ld + r0 + c * 8;
      dst = 2 * tc::swizzle<16>(r, c);
    }
  }

  // k-tile kt into the stage at `tile`; then advances to kt + 1.
  __device__ __forceinline__ void load(uint32_t tile, int kt) {
    const int64_t k0 = (int64_t)kt * kBK + k_first;
#pragma unroll
    for (int i = 0; i < kChunksPerThread; ++i) {
      const bool valid = ((row_ok >> i) & 1) && k0 + (kKMajor ? 0 : i * kRowsApart) < depth;
      // swizzle(r + i*kRowsApart, c) == swizzle(r, c) + i*kRowsApart*row length (same key)
      const uint32_t at = dst + i * kRowsApart * (kKMajor ? kBK : kBM) * 2;
      tc::cp_async16(tile + at, valid ? src + i * apart : base, valid);
    }
    src += step;
  }
};

// A fragments of this warp's 4 m16 tiles for k16 step ks of the stage at `tile`.
template <bool kKMajor>
__device__ __forceinline__ void load_a(uint32_t (&af)[kMTiles][4], uint32_t tile, int warp_m, int ks, int lane) {
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
    const int m = warp_m * kWarpM + mt * 16;
    if constexpr (kKMajor) {
      // matrices: (m 0-7, k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15, k 8-15)
      const int r = m + (lane & 7) + ((lane >> 3) & 1) * 8, c = ks * 2 + (lane >> 4);
      tc::ldmatrix_x4(af[mt], tile + 2 * tc::swizzle<4>(r, c));
    } else {
      // stored k rows: matrix i reads k rows 8*(i/2).., m chunk i%2, transposed
      const int i = lane >> 3;
      const int r = ks * 16 + (lane & 7) + (i >> 1) * 8, c = m / 8 + (i & 1);
      tc::ldmatrix_x4_trans(af[mt], tile + 2 * tc::swizzle<16>(r, c));
    }
  }
}

// B fragments of this warp's 4 n8 tiles (two per ldmatrix.x4) for k16 step ks.
template <bool kKMajor>
__device__ __forceinline__ void load_b(uint32_t (&bf)[kNTiles][2], uint32_t tile, int warp_n, int ks, int lane) {
#pragma unroll
  for (int np = 0; np < kNTiles / 2; ++np) {
    const int n = warp_n * kWarpN + np * 16;
    uint32_t t[4];
    if constexpr (kKMajor) {
      // matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
      const int r = n + (lane & 7) + (lane >> 4) * 8, c = ks * 2 + ((lane >> 3) & 1);
      tc::ldmatrix_x4(t, tile + 2 * tc::swizzle<4>(r, c));
    } else {
      // stored k rows: matrix i reads k rows 8*(i%2).., n chunk i/2, transposed
      const int i = lane >> 3;
      const int r = ks * 16 + (lane & 7) + (i & 1) * 8, c = n / 8 + (i >> 1);
      tc::ldmatrix_x4_trans(t, tile + 2 * tc::swizzle<16>(r, c));
    }
    bf[2 * np][0] = t[0];
    bf[2 * np][1] = t[1];
    bf[2 * np + 1][0] = t[2];
    bf[2 * np + 1][1] = t[3];
  }
}

template <typename T>
__device__ __forceinline__ void store_pair(T* p, float v0, float v1);
template <>
__device__ __forceinline__ void store_pair<float>(float* p, float v0, float v1) {
  *reinterpret_cast<float2*>(p) = make_float2(v0, v1);
}
template <>
__device__ __forceinline__ void store_pair<bf16>(bf16* p, float v0, float v1) {
  *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(v0, v1);
}
__device__ __forceinline__ float2 load_pair(const float* p) { return *reinterpret_cast<const float2*>(p); }
__device__ __forceinline__ float2 load_pair(const bf16* p) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
}

// grid: x = tiles (tiles_m * tiles_n, grouped raster), y = batch items (looped when batch > gridDim.y)
template <bool kAT, bool kBT, typename Tout, bool kGelu>
__global__ void __launch_bounds__(kThreads, 2) gemm_mma_kernel(const MmaArgs g) {
  constexpr bool kAK = !kAT, kBK_ = kBT;  // K-major operands
  unsigned char* smem = tc::dynamic_smem();
  const uint32_t base = tc::smem_address(smem);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warp_m = warp & 1, warp_n = warp >> 1;  // 2 x 2 warps

  // grouped raster: kGroupM tile rows sweep the tile columns together
  const int id = blockIdx.x, per_group = kGroupM * g.tiles_n;
  const int first_m = (id / per_group) * kGroupM;
  const int group_m = min(g.tiles_m - first_m, kGroupM);
  const int tile_m = first_m + (id % per_group) % group_m, tile_n = (id % per_group) / group_m;
  const int64_t m0 = (int64_t)tile_m * kBM, n0 = (int64_t)tile_n * kBN;
  const int ktiles = static_cast<int>((g.k + kBK - 1) / kBK);

  for (int64_t z = blockIdx.y; z < g.batch; z += gridDim.y) {
    const bf16* a = g.a + z * g.stride_a;
    const bf16* b = g.b + z * g.stride_b;
    auto stage_a = [&](int s) { return base + s * (2 * kTileElems) * 2; };
    auto stage_b = [&](int s) { return base + (s * 2 + 1) * kTileElems * 2; };
    TileLoader<kAK> load_a_tiles(a, g.lda, g.m, g.k, m0);
    TileLoader<kBK_> load_b_tiles(b, g.ldb, g.n, g.k, n0);
    auto load_stage = [&](int kt) {  // called for kt = 0, 1, 2, ... in order
      const int s = kt % kStages;
      load_a_tiles.load(stage_a(s), kt);
      load_b_tiles.load(stage_b(s), kt);
    };

    float acc[kMTiles][kNTiles][4];
#pragma unroll
    for (int i = 0; i < kMTiles; ++i)
#pragma unroll
      for (int j = 0; j < kNTiles; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    // Prologue: stages 0..kStages-2 in flight, one commit group each (empty groups past the end).
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < ktiles) load_stage(s);
      tc::cp_async_commit();
    }
    for (int kt = 0; kt < ktiles; ++kt) {
      // Groups committed so far: kStages-1+kt; at most kStages-2 pending means tile kt has landed (for
      // this thread); the barrier makes every thread's part visible and guarantees that tile kt-1's
      // slot, refilled below, is no longer being read.
      tc::cp_async_wait<kStages - 2>();
      __syncthreads();
      if (kt + kStages - 1 < ktiles) load_stage(kt + kStages - 1);
      tc::cp_async_commit();
      const int s = kt % kStages;
#pragma unroll
      for (int ks = 0; ks < kBK / 16; ++ks) {
        uint32_t af[kMTiles][4], bfr[kNTiles][2];
        load_a<kAK>(af, stage_a(s), warp_m, ks, lane);
        load_b<kBK_>(bfr, stage_b(s), warp_n, ks, lane);
#pragma unroll
        for (int i = 0; i < kMTiles; ++i)
#pragma unroll
          for (int j = 0; j < kNTiles; ++j) tc::mma_bf16(acc[i][j], af[i], bfr[j][0], bfr[j][1]);
      }
    }
    tc::cp_async_wait<0>();
    __syncthreads();  // the next batch item's prologue refills slots other warps may still be reading

    Tout* c = static_cast<Tout*>(g.c) + z * g.stride_c;
    Tout* pre = kGelu && g.pre ? static_cast<Tout*>(g.pre) + z * g.stride_c : nullptr;
#pragma unroll
    for (int i = 0; i < kMTiles; ++i) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t row = m0 + warp_m * kWarpM + i * 16 + (lane >> 2) + half * 8;
        if (row >= g.m) continue;
#pragma unroll
        for (int j = 0; j < kNTiles; ++j) {
          const int64_t col = n0 + warp_n * kWarpN + j * 8 + (lane & 3) * 2;  // even; n is even
          if (col >= g.n) continue;
          float v0 = g.alpha * acc[i][j][2 * half], v1 = g.alpha * acc[i][j][2 * half + 1];
          if (g.bias) {
            const float2 bv = load_pair(g.bias + col);
            v0 += bv.x;
            v1 += bv.y;
          }
          if constexpr (kGelu) {
            if (pre) store_pair<Tout>(pre + row * g.ldc + col, v0, v1);
            v0 = gelu_tanh(v0);
            v1 = gelu_tanh(v1);
          }
          Tout* p = c + row * g.ldc + col;
          if (g.accumulate) {
            const float2 old = load_pair(p);
            v0 += old.x;
            v1 += old.y;
          }
          store_pair<Tout>(p, v0, v1);
        }
      }
    }
  }
}

// Whether the kernel takes this product (see the header): lda/ldb/ldc and batch strides multiples of 8
// elements, pointers 16-byte aligned. m, n, k, batch positive or zero.
inline bool gemm_sm80_supported(const void* a, const void* b, const void* c, const void* bias, int64_t lda,
                                int64_t ldb, int64_t ldc, int64_t stride_a, int64_t stride_b, int64_t stride_c) {
  auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  return aligned(a) && aligned(b) && aligned(c) && aligned(bias) && lda % 8 == 0 && ldb % 8 == 0 &&
         ldc % 8 == 0 && stride_a % 8 == 0 && stride_b % 8 == 0 && stride_c % 8 == 0 && lda > 0 && ldb > 0 &&
         ldc > 0;
}

// Launches C = epilogue(alpha op(A) op(B)) for args already checked by gemm_sm80_supported. Returns the
// launch's error (cudaSuccess when queued). Fills tiles_m / tiles_n.
template <bool kAT, bool kBT, typename Tout, bool kGelu = false>
cudaError_t launch_gemm_sm80(MmaArgs g, cudaStream_t stream) {
  if (g.m <= 0 || g.n <= 0 || g.batch <= 0) return cudaSuccess;
  const int64_t tm = (g.m + kBM - 1) / kBM, tn = (g.n + kBN - 1) / kBN;
  if (tm * tn > 0x7fffffff || kGroupM * tn > 0x7fffffff) return cudaErrorInvalidConfiguration;
  g.tiles_m = static_cast<int>(tm);
  g.tiles_n = static_cast<int>(tn);
  auto kernel = gemm_mma_kernel<kAT, kBT, Tout, kGelu>;
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
  if (e != cudaSuccess) return e;
  const unsigned gy = static_cast<unsigned>(g.batch < 65535 ? g.batch : 65535);
  ANVIL_LAUNCH(kernel, dim3(static_cast<unsigned>(tm * tn), gy), kThreads, kSmemBytes, stream)(g);
  return cudaGetLastError();
}

}  // namespace anvil::gemm
