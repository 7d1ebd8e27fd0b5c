// matmul/gemm_sm90.cuh: GEMM version 3 for sm_90a (Hopper): TMA tile loads into a 4-stage ring of
// mbarrier-guarded shared-memory stages, wgmma m64n256k16 from shared memory, warp specialization.
//   C (m,n) = epilogue(alpha * A (m,k) B^T), A stored (m,k) and B stored (n,k), both K contiguous (the NT
//   layout: a Linear's forward), bf16 in, fp32 accumulate, bf16 or fp32 out; the epilogue of
//   gemm_sm80.cuh (bias, GELU, accumulate). Batch 1 (a Linear's batch folds into m).
// PLAYGROUND ONLY (kernels/dev/gemm version 3) until measured: the product dispatches to gemm_sm80.cuh.
// Preconditions (gemm_sm90_supported): compute capability 9.0 exactly (sm_90a code does not run on later
// architectures), lda, ldb, ldc multiples of 8, pointers 16-byte aligned. m, n, k any (TMA zero-fills
// out-of-range elements of a box; stores are predicated).
//
// CTA: 384 threads = 3 warpgroups. Warpgroup 0 is the producer (setmaxnreg down to 40): one thread
// waits for a free stage (empty barrier), announces the stage's bytes (expect_tx on the full barrier) and
// issues two TMA loads: A 128 x 64 and B 256 x 64, 128-byte swizzled (each 64-element K row is one
// 128-byte line; the 16-byte chunks of row r are XORed with r % 8, which is the layout wgmma's 128-byte
// swizzle mode reads). Warpgroups 1 and 2 are consumers (setmaxnreg up to 232): each waits for a full
// stage, issues 4 wgmma m64n256k16 (k 16 each, the descriptor's start address advanced 32 bytes per
// step) on its 64 rows of the 128 x 256 tile, waits for them, and releases the stage (one arrival per
// consumer warpgroup on the empty barrier). 128 fp32 accumulators per consumer thread. Shared memory:
// 4 x 48 KB stages + 1 KB for alignment (swizzled tiles start at 1024-byte boundaries).
// A wait that does not complete within ~2 s traps (a broken pipeline fails fast instead of hanging).
// Not yet: persistent tiles, clusters with TMA multicast, a ping-pong of the two consumers, an epilogue
// through shared memory, the other layouts (wgmma's transpose bits for M/N-major operands).
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>

#include <cstdint>
#include <cstring>

#include "matmul/gemm_sm80.cuh"
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

constexpr int kBM = 128, kBN = 256, kBK = 64, kStages = 4, kConsumers = 2, kThreads = 128 * (kConsumers + 1);
constexpr int kABytes = kBM * kBK * 2, kBBytes = kBN * kBK * 2, kStageBytes = kABytes + kBBytes;
constexpr int kSmemBytes = kStages * kStageBytes + 1024;
constexpr int kGroupM = 8;

struct Args {
  void* c;
  const bf16* bias;
  int64_t m, n, k, ldc;
  float alpha;
  int accumulate;
  int tiles_m, tiles_n;
};

#if !defined(ANVIL_HOST_EMULATION)

__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_fence_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, int bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ bool mbar_try_wait(uint32_t bar, int parity) {
  uint32_t done;
  asm volatile(
      "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory");
  return done != 0;
}
// Waits for the completion of the barrier's phase of this parity; traps after ~2 s (4e9 cycles).
__device__ __forceinline__ void mbar_wait(uint32_t bar, int parity) {
  if (mbar_try_wait(bar, parity)) return;
  const long long start = clock64();
  while (!mbar_try_wait(bar, parity))
    if (clock64() - start > 4000000000LL) __trap();
}
// A box at coordinates (c0 along k, c1 along rows) into shared memory, completing bytes on `bar`.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n"
      ::"r"(dst), "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1)
      : "memory");
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}

// d (64 x 256 fp32, the warpgroup's fragment) += A (64 x 16, K-major) B^T (B: 256 x 16, K-major), both from
// shared memory through descriptors.
__device__ __forceinline__ void wgmma_m64n256k16(float (&d)[128], uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
      : "l"(desc_a), "l"(desc_b), "r"(1));
}

#endif  // !ANVIL_HOST_EMULATION (kernels/dev/emu/cuda_emu.h defines these on the CPU)

// wgmma descriptor of a K-major tile in 128-byte swizzle: rows of 64 bf16 (one 128-byte line each), 8-row
// groups 1024 bytes apart (SBO); LBO is unused in this mode (1 by convention); bits 62-63 = 1: 128B.
__host__ __device__ __forceinline__ uint64_t desc_kmajor_sw128(uint32_t smem_address) {
  return static_cast<uint64_t>((smem_address & 0x3FFFF) >> 4) | (static_cast<uint64_t>(16 >> 4) << 16) |
         (static_cast<uint64_t>(1024 >> 4) << 32) | (static_cast<uint64_t>(1) << 62);
}

// grid: x = tiles (grouped raster of kGroupM tile rows); block kThreads; dynamic smem kSmemBytes.
template <typename Tout, bool kGelu>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_wgmma_kernel(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_b,
                      const Args g) {
#if ANVIL_SM90A_BODY
  __shared__ __align__(8) uint64_t full[kStages];
  __shared__ __align__(8) uint64_t empty[kStages];
  const uint32_t raw = tc::smem_address(tc::dynamic_smem());
  const uint32_t base = (raw + 1023) & ~1023u;  // swizzled tiles start at 1024-byte boundaries
  auto stage_a = [&](int s) { return base + s * kStageBytes; };
  auto stage_b = [&](int s) { return base + s * kStageBytes + kABytes; };
  const uint32_t full0 = tc::smem_address(&full[0]), empty0 = tc::smem_address(&empty[0]);

  const int id = blockIdx.x, per_group = kGroupM * g.tiles_n;
  const int first_m = (id / per_group) * kGroupM;
  const int group_m = min(g.tiles_m - first_m, kGroupM);
  const int tile_m = first_m + (id % per_group) % group_m, tile_n = (id % per_group) / group_m;
  const int m0 = tile_m * kBM, n0 = tile_n * kBN;
  const int ktiles = static_cast<int>((g.k + kBK - 1) / kBK);

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full0 + 8 * s, 1);
      mbar_init(empty0 + 8 * s, kConsumers);
    }
    mbar_fence_init();
  }
  __syncthreads();

  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
  if (wg == 0) {
    setmaxnreg_dec<40>();
    if (t == 0) {
      for (int kt = 0; kt < ktiles; ++kt) {
        const int s = kt % kStages, round = kt / kStages;
        if (round > 0) mbar_wait(empty0 + 8 * s, (round - 1) & 1);  // the consumers released round - 1
        mbar_expect_tx(full0 + 8 * s, kStageBytes);
        tma_load_2d(stage_a(s), &map_a, full0 + 8 * s, kt * kBK, m0);
        tma_load_2d(stage_b(s), &map_b, full0 + 8 * s, kt * kBK, n0);
      }
    }
  } else {
    setmaxnreg_inc<232>();
    const int c = wg - 1;  // this consumer's 64 rows: m0 + 64c ..
    float d[128];
#pragma unroll
    for (int i = 0; i < 128; ++i) d[i] = 0.0f;
    for (int kt = 0; kt < ktiles; ++kt) {
      const int s = kt % kStages;
      mbar_wait(full0 + 8 * s, (kt / kStages) & 1);
      wgmma_fence();
      const uint64_t da = desc_kmajor_sw128(stage_a(s) + c * 64 * 128), db = desc_kmajor_sw128(stage_b(s));
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk) wgmma_m64n256k16(d, da + 2 * kk, db + 2 * kk);  // +32 bytes per k16
      wgmma_commit();
      wgmma_wait_all();
      if (t == 0) mbar_arrive(empty0 + 8 * s);
    }
    // epilogue: d[4j + e] = D(16w + g + 8(e/2), 8j + 2q + e%2), w = t / 32, g = lane / 4, q = lane % 4
    const int w = t / 32, lane = t % 32;
    Tout* out = static_cast<Tout*>(g.c);
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int64_t row = m0 + 64 * c + 16 * w + lane / 4 + 8 * half;
      if (row >= g.m) continue;
#pragma unroll
      for (int j = 0; j < kBN / 8; ++j) {
        const int64_t col = n0 + 8 * j + 2 * (lane % 4);
        if (col >= g.n) continue;
        float v0 = g.alpha * d[4 * j + 2 * half], v1 = g.alpha * d[4 * j + 2 * half + 1];
        if (g.bias) {
          const float2 bv = gemm::load_pair(g.bias + col);
          v0 += bv.x;
          v1 += bv.y;
        }
        if constexpr (kGelu) {
          v0 = gemm::gelu_tanh(v0);
          v1 = gemm::gelu_tanh(v1);
        }
        Tout* p = out + row * g.ldc + col;
        if (g.accumulate) {
          const float2 old = gemm::load_pair(p);
          v0 += old.x;
          v1 += old.y;
        }
        gemm::store_pair<Tout>(p, v0, v1);
      }
    }
  }
#else
  __trap();  // built for an architecture without wgmma: the launcher never picks this kernel there
#endif
}

inline bool gemm_sm90_supported(int major, int minor, const void* a, const void* b, const void* c, const void* bias,
                                int64_t lda, int64_t ldb, int64_t ldc) {
  auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  return major == 9 && minor == 0 && aligned(a) && aligned(b) && aligned(c) && aligned(bias) && lda % 8 == 0 &&
         ldb % 8 == 0 && ldc % 8 == 0 && lda > 0 && ldb > 0;
}

// A 2-D tensor map over a (rows, k) bf16 matrix with row stride ld: boxes of 64 (k) x box_rows, 128-byte
// swizzle, zero fill outside.
inline cudaError_t make_map(CUtensorMap* map, const bf16* base, int64_t rows, int64_t k, int64_t ld, int box_rows) {
#if defined(ANVIL_HOST_EMULATION)
  return ::anvil::emu::make_tensor_map(map, base, rows, k, ld, kBK, box_rows);
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
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(ld) * 2};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(kBK), static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<bf16*>(base), dims, strides, box,
                            element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
#endif
}

// C = epilogue(alpha A B^T) for arguments gemm_sm90_supported accepted.
template <typename Tout, bool kGelu = false>
cudaError_t launch_gemm_sm90(const bf16* a, const bf16* b, int64_t lda, int64_t ldb, Args g, cudaStream_t stream) {
  if (g.m <= 0 || g.n <= 0) return cudaSuccess;
  if (g.k <= 0) return cudaErrorInvalidValue;  // a tensor map needs a nonzero extent (k = 0 is bias only: v2)
  const int64_t tm = (g.m + kBM - 1) / kBM, tn = (g.n + kBN - 1) / kBN;
  if (tm * tn > 0x7fffffff || kGroupM * tn > 0x7fffffff || g.m > 0x7fffffff || g.n > 0x7fffffff || g.k > 0x7fffffff)
    return cudaErrorInvalidConfiguration;
  g.tiles_m = static_cast<int>(tm);
  g.tiles_n = static_cast<int>(tn);
  CUtensorMap map_a, map_b;
  if (cudaError_t e = make_map(&map_a, a, g.m, g.k, lda, kBM); e != cudaSuccess) return e;
  if (cudaError_t e = make_map(&map_b, b, g.n, g.k, ldb, kBN); e != cudaSuccess) return e;
  auto kernel = gemm_wgmma_kernel<Tout, kGelu>;
  if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
      e != cudaSuccess)
    return e;
  ANVIL_LAUNCH(kernel, static_cast<unsigned>(tm * tn), kThreads, kSmemBytes, stream)(map_a, map_b, g);
  return cudaGetLastError();
}

}  // namespace anvil::gemm90
