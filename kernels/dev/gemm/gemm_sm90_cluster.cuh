// kernels/dev/gemm/gemm_sm90_cluster.cuh: playground version 5, the sm_90a GEMM of version 3
// (matmul/gemm_sm90.cuh) with thread-block clusters of 2 and TMA multicast of the operand tile the two CTAs
// share. Compiled for sm_90a and checked under the CPU emulator (kernels/dev/emu, which runs the two CTAs of
// a cluster at the same time and re-reads each wgmma's operands at the wait_group that completes it); not
// yet run on a GPU, not in the product (NOTES.md has the prediction).
//   C[z] (m,n) = epilogue(alpha * op(A[z]) (m,k) op(B[z]) (k,n)): version 3's contract, layouts, tiles
//   (128 x BN x 64, BN 256 or 128 by the same choice), stage ring, warp roles and epilogue (store_fragment).
//
// What the cluster changes. The two CTAs of a cluster take a pair of adjacent output tiles that share one
// operand tile, every k-tile:
//   along M (tiles (m0, n0) and (m0 + 128, n0)): they share B (BN x 64); each loads its own A (128 x 64) and
//     one half of B (BN/2 rows: rank r the rows n0 + r BN/2 ..), multicast into both CTAs at the same shared
//     offset, so each CTA's stage ends up whole: L2 -> SM bytes per CTA and k-tile 48 KB -> 32 KB (BN 256);
//   along N (tiles (m0, n0) and (m0, n0 + BN)): they share A; each loads its own B and one half of A (64
//     rows), multicast: 48 KB -> 40 KB (BN 256), 32 KB -> 24 KB (BN 128).
// The launcher pairs along M unless pairing along N needs fewer pairs (an odd tile count along M leaves a
// ghost tile: a CTA whose tile lies past the matrix still loads its half of the shared tile and computes
// on zero-filled rows, and its epilogue stores nothing).
// Barriers: each CTA's full barrier of a stage expects the whole stage's bytes (its own loads plus the
// half the peer multicasts; the peer's bytes may land before this CTA's expect_tx, which the tx-count
// allows); the empty barrier of a stage counts 4 arrivals, both consumer warpgroups of both CTAs (each
// consumer arrives on its own CTA's barrier and, through mapa, on the peer's), so a producer overwrites a
// stage in both CTAs only once all four consumers released it. The mbarriers live in dynamic shared memory
// (the same offset in both CTAs, which multicast and mapa address). Persistent schedule: cluster c (blockIdx.x
// / 2; grid = 2 x min(pairs, co-resident clusters, CTAs / 2)) takes tile pairs c, c + clusters, ... in
// version 3's grouped raster over the pair grid; both CTAs of a cluster run the same pairs and k-tiles.
// Start: barriers initialized, then a cluster barrier before any peer may multicast or arrive. Exit: a
// cluster barrier, so no CTA leaves while its peer may still arrive on its barriers or multicast into it.
// Launched with cudaLaunchKernelEx and the cluster-dimension attribute (2, 1, 1).
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>

#include <cstdint>

#include "hopper.cuh"
#include "matmul/gemm_sm90.cuh"
#include "tensor_core.cuh"

namespace anvil::gemm90cluster {

namespace g3 = ::anvil::gemm90;
using bf16 = __nv_bfloat16;
using Args = g3::Args;  // version 3's arguments; tiles_m / tiles_n are tile counts, group_m is in pair rows
using g3::kBM;
using g3::kBK;
using g3::kBox;
using g3::kConsumers;
using g3::kGroupM;
using g3::kThreads;

constexpr int kCluster = 2;
enum Axis { kAuto = 0, kAlongM = 1, kAlongN = 2 };

template <int BN>
struct Config {
  static constexpr int kABytes = kBM * kBK * 2, kBBytes = BN * kBK * 2, kStageBytes = kABytes + kBBytes;
  static constexpr int kStages = BN == 256 ? 4 : 6;
  static constexpr int kBarriers = kStages * kStageBytes;  // full[S] then empty[S], 8 bytes each
  static constexpr int kSmemBytes = kBarriers + 2 * kStages * 8 + 1024;  // + alignment to 1024 bytes
  static_assert(kSmemBytes <= 227 * 1024, "shared memory");
};

#if !defined(ANVIL_HOST_EMULATION)
using namespace ::anvil::sm90;  // mbarriers, TMA loads, cluster primitives (hopper.cuh)
using g3::wgmma_m64n128k16;
using g3::wgmma_m64n256k16;
#endif  // (the emulator's twins of all of these, its wgmma ones checked across their flight, are in cuda_emu.h)

// grid: 2 x clusters persistent CTAs in clusters of 2 along x; block kThreads; dynamic smem Config<BN>::kSmemBytes.
template <typename Tout, bool kGelu, bool kAMN, bool kBMN, int BN, bool kPairM>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_cluster_kernel(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_b,
                        const Args g) {
#if ANVIL_SM90A_BODY
  using Cfg = Config<BN>;
  constexpr int S = Cfg::kStages;
  const uint32_t raw = tc::smem_address(tc::dynamic_smem());
  const uint32_t base = (raw + 1023) & ~1023u;  // swizzled tiles start at 1024-byte boundaries
  auto stage_a = [&](int s) { return base + s * Cfg::kStageBytes; };
  auto stage_b = [&](int s) { return base + s * Cfg::kStageBytes + Cfg::kABytes; };
  const uint32_t full0 = base + Cfg::kBarriers, empty0 = full0 + 8 * S;
  const uint32_t rank = cluster_ctarank();

  // the pair grid: pairs of tile rows (kPairM) or of tile columns
  const int pm = kPairM ? (g.tiles_m + 1) / 2 : g.tiles_m, pn = kPairM ? g.tiles_n : (g.tiles_n + 1) / 2;
  const int per_item = pm * pn, total = per_item * g.batch, per_group = g.group_m * pn;
  const int cluster = blockIdx.x / kCluster, clusters = gridDim.x / kCluster;
  const int ktiles = static_cast<int>((g.k + kBK - 1) / kBK);
  // pair id -> batch item z and this CTA's tile (first row m0, column n0); shared0: the first row (kPairM:
  // column) of the shared operand tile
  auto decode = [&](int id, int& z, int& m0, int& n0, int& shared0) {
    z = id / per_item;
    id -= z * per_item;
    const int first = (id / per_group) * g.group_m;
    const int group = min(pm - first, g.group_m);
    const int pi = first + (id % per_group) % group, pj = (id % per_group) / group;
    m0 = (kPairM ? 2 * pi + static_cast<int>(rank) : pi) * kBM;
    n0 = (kPairM ? pj : 2 * pj + static_cast<int>(rank)) * BN;
    shared0 = kPairM ? pj * BN : pi * kBM;
  };

  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s) {
      mbar_init(full0 + 8 * s, 1);
      mbar_init(empty0 + 8 * s, kConsumers * kCluster);
    }
    mbar_fence_init();
  }
  cluster_sync();  // both CTAs' barriers initialized before either multicasts or arrives remotely

  const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
  if (wg == 0) {
    setmaxnreg_dec<40>();
    if (t == 0) {
      constexpr uint16_t kBoth = (1u << kCluster) - 1;
      int it = 0;  // k-tiles loaded so far, over every pair of this cluster: stage it % S, round it / S
      for (int pair = cluster; pair < total; pair += clusters) {
        int z, m0, n0, shared0;
        decode(pair, z, m0, n0, shared0);
        const int za = g.a_batched ? z : 0, zb = g.b_batched ? z : 0;
        for (int kt = 0; kt < ktiles; ++kt, ++it) {
          const int s = it % S, round = it / S;
          // all four consumers of the cluster released round - 1 of this stage (in both CTAs)
          if (round > 0) mbar_wait(empty0 + 8 * s, (round - 1) & 1);
          const uint32_t bar = full0 + 8 * s;
          mbar_expect_tx(bar, Cfg::kStageBytes);  // own loads + the peer's multicast half
          if constexpr (kPairM) {
            // own A, whole
            if constexpr (kAMN) {
#pragma unroll
              for (int j = 0; j < kBM / 64; ++j) tma_load_3d(stage_a(s) + j * kBox, &map_a, bar, m0 + 64 * j, kt * kBK, za);
            } else {
              tma_load_3d(stage_a(s), &map_a, bar, kt * kBK, m0, za);
            }
            // half r of the shared B: BN/2 rows at byte offset r * BN/2 * 128 (K-major lines or N-major boxes)
            const uint32_t dst = stage_b(s) + rank * (BN / 2) * 128;
            if constexpr (kBMN) {
#pragma unroll
              for (int j = 0; j < BN / 128; ++j)
                tma_load_3d_multicast(dst + j * kBox, &map_b, bar, shared0 + static_cast<int>(rank) * (BN / 2) + 64 * j,
                                      kt * kBK, zb, kBoth);
            } else {
              tma_load_3d_multicast(dst, &map_b, bar, kt * kBK, shared0 + static_cast<int>(rank) * (BN / 2), zb, kBoth);
            }
          } else {
            // half r of the shared A: 64 rows, one 8 KB box either way (map_a's boxes are 64 x 64)
            if constexpr (kAMN)
              tma_load_3d_multicast(stage_a(s) + rank * kBox, &map_a, bar, shared0 + 64 * static_cast<int>(rank),
                                    kt * kBK, za, kBoth);
            else
              tma_load_3d_multicast(stage_a(s) + rank * kBox, &map_a, bar, kt * kBK,
                                    shared0 + 64 * static_cast<int>(rank), za, kBoth);
            // own B, whole
            if constexpr (kBMN) {
#pragma unroll
              for (int j = 0; j < BN / 64; ++j) tma_load_3d(stage_b(s) + j * kBox, &map_b, bar, n0 + 64 * j, kt * kBK, zb);
            } else {
              tma_load_3d(stage_b(s), &map_b, bar, kt * kBK, n0, zb);
            }
          }
        }
      }
    }
  } else {
    setmaxnreg_inc<232>();
    const int c = wg - 1;  // this consumer's 64 rows: m0 + 64c ..
    // k16 step inside a stage: 32 bytes along a K-major line, 2 KB (16 k rows) in an M/N-major box
    constexpr uint64_t step_a = kAMN ? 2048 >> 4 : 32 >> 4, step_b = kBMN ? 2048 >> 4 : 32 >> 4;
    // stage s free again: one arrival on this stage's empty barrier in each CTA of the cluster
    auto release = [&](int s) {
      if (t == 0)
        for (uint32_t r = 0; r < kCluster; ++r) mbar_arrive_cluster(mapa_shared(empty0 + 8 * s, r));
    };
    int it = 0;
    for (int pair = cluster; pair < total; pair += clusters) {
      int z, m0, n0, shared0;
      decode(pair, z, m0, n0, shared0);
      float d[BN / 2];
      for (int kt = 0; kt < ktiles; ++kt, ++it) {
        const int s = it % S;
        mbar_wait(full0 + 8 * s, (it / S) & 1);
        wgmma_fence();
        const uint64_t da = g3::desc_sw128(stage_a(s) + c * kBox, kAMN), db = g3::desc_sw128(stage_b(s), kBMN);
#pragma unroll
        for (int kk = 0; kk < kBK / 16; ++kk) {
          if constexpr (BN == 256)
            wgmma_m64n256k16<kAMN, kBMN>(d, da + kk * step_a, db + kk * step_b, kt > 0 || kk > 0);
          else
            wgmma_m64n128k16<kAMN, kBMN>(d, da + kk * step_a, db + kk * step_b, kt > 0 || kk > 0);
        }
        wgmma_commit();
        wgmma_wait<1>();  // the previous k-tile's group is done: release its stage
        if (kt > 0) release((it - 1) % S);
      }
      wgmma_wait<0>();
      release((it - 1) % S);
      g3::store_fragment<Tout, kGelu, BN>(d, g, z, m0 + 64 * c, n0, t);  // a ghost tile (m0 >= m, n0 >= n) stores nothing
    }
  }
  cluster_sync();  // the peer may still arrive on this CTA's empty barriers: stay until it is done too
#else
  __trap();  // built for an architecture without wgmma and clusters: the launcher never picks this kernel there
#endif
}

// The pairing for a product: along M unless along N needs fewer pairs (ties to M: B's tile is at least A's).
inline Axis pick_axis(int64_t tiles_m, int64_t tiles_n) {
  return (tiles_m + 1) / 2 * tiles_n <= tiles_m * ((tiles_n + 1) / 2) ? kAlongM : kAlongN;
}

// C[z] = epilogue(alpha op(A[z]) op(B[z])) for arguments gemm90::gemm_sm90_supported accepted (version 3's
// launcher contract). bn 0: version 3's tile choice; axis kAuto: pick_axis; sms: CTAs at most (even, >= 2);
// clusters_out (optional): the clusters launched.
template <bool kAT, bool kBT, typename Tout, bool kGelu = false>
cudaError_t launch_gemm_sm90_cluster(const bf16* a, const bf16* b, int64_t lda, int64_t ldb, int64_t stride_a,
                                     int64_t stride_b, Args g, int sms, int bn, Axis axis, cudaStream_t stream,
                                     int* clusters_out = nullptr) {
  if (g.m <= 0 || g.n <= 0 || g.batch <= 0) return cudaSuccess;
  if (g.k <= 0 || sms < kCluster) return cudaErrorInvalidValue;  // a tensor map needs a nonzero extent
  if (bn == 0) bn = g3::pick_bn(g.m, g.n, g.batch, sms);
  if (bn != 256 && bn != 128) return cudaErrorInvalidValue;
  const int64_t tm = (g.m + kBM - 1) / kBM, tn = (g.n + bn - 1) / bn;
  if (axis == kAuto) axis = pick_axis(tm, tn);
  const bool pair_m = axis == kAlongM;
  const int64_t pm = pair_m ? (tm + 1) / 2 : tm, pn = pair_m ? tn : (tn + 1) / 2;
  if (tm * tn * g.batch > 0x7fffffff) return cudaErrorInvalidConfiguration;
  g.tiles_m = static_cast<int>(tm);
  g.tiles_n = static_cast<int>(tn);
  // version 3's raster in pair rows: every row when A (one item) fits in L2, else groups of kGroupM tile rows
  const int64_t group_rows = pair_m ? kGroupM / 2 : kGroupM;
  g.group_m = static_cast<int>(g.m * g.k * 2 <= (24LL << 20) ? pm : (group_rows < pm ? group_rows : pm));
  g.a_batched = stride_a != 0;
  g.b_batched = stride_b != 0;
  constexpr bool kAMN = kAT, kBMN = !kBT;
  // Boxes: the shared operand in halves (A: 64 rows; B: bn/2 rows when K-major), the own one as version 3.
  CUtensorMap map_a, map_b;
  const int box_a = kAMN ? 64 : pair_m ? kBM : 64, box_b = kBMN ? 64 : pair_m ? bn / 2 : bn;
  cudaError_t e = kAMN ? g3::make_map(&map_a, a, g.m, g.k, lda, g.batch, stride_a, box_a)
                       : g3::make_map(&map_a, a, g.k, g.m, lda, g.batch, stride_a, box_a);
  if (e != cudaSuccess) return e;
  e = kBMN ? g3::make_map(&map_b, b, g.n, g.k, ldb, g.batch, stride_b, box_b)
           : g3::make_map(&map_b, b, g.k, g.n, ldb, g.batch, stride_b, box_b);
  if (e != cudaSuccess) return e;
  const int64_t pairs = pm * pn * g.batch;
  auto go = [&](auto kernel, int smem) -> cudaError_t {
    if (cudaError_t e2 = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
        e2 != cudaSuccess)
      return e2;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = kCluster;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    // (the config's grid and block fields are set apart: the emulator's gridDim / blockDim are macros)
    cudaLaunchConfig_t cfg = {};
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
#if !defined(ANVIL_HOST_EMULATION)
    cfg.blockDim = dim3(kThreads);
    cfg.gridDim = dim3(kCluster * (sms / kCluster));
#endif
    // persistent: no more clusters than fit at once (a GPC with an odd SM count holds fewer than SMs / 2)
    int fit = 0;
    if (cudaError_t e2 = cudaOccupancyMaxActiveClusters(&fit, kernel, &cfg); e2 != cudaSuccess) return e2;
    if (fit <= 0) return cudaErrorInvalidConfiguration;
    int64_t clusters = sms / kCluster;
    if (fit < clusters) clusters = fit;
    if (pairs < clusters) clusters = pairs;
    const dim3 grid(static_cast<unsigned>(kCluster * clusters));
    if (clusters_out) *clusters_out = static_cast<int>(clusters);
#if defined(ANVIL_HOST_EMULATION)
    ::anvil::emu::Launch(kernel, grid, dim3(kThreads), smem, kCluster)(map_a, map_b, g);
    return cudaGetLastError();
#else
    cfg.gridDim = grid;
    if (cudaError_t e2 = cudaLaunchKernelEx(&cfg, kernel, map_a, map_b, g); e2 != cudaSuccess) return e2;
    return cudaGetLastError();
#endif
  };
  if (bn == 256)
    return pair_m ? go(gemm_cluster_kernel<Tout, kGelu, kAMN, kBMN, 256, true>, Config<256>::kSmemBytes)
                  : go(gemm_cluster_kernel<Tout, kGelu, kAMN, kBMN, 256, false>, Config<256>::kSmemBytes);
  return pair_m ? go(gemm_cluster_kernel<Tout, kGelu, kAMN, kBMN, 128, true>, Config<128>::kSmemBytes)
                : go(gemm_cluster_kernel<Tout, kGelu, kAMN, kBMN, 128, false>, Config<128>::kSmemBytes);
}

}  // namespace anvil::gemm90cluster
