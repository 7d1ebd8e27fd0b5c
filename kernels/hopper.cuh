// hopper.cuh: the sm_90a primitives the Hopper kernels share (matmul/gemm_sm90.cuh, the attention kernels
// attention/flash_{fwd,bwd}_sm90.cuh, the GEMM playground's next versions), each one PTX instruction (or a
// short loop of one): mbarriers, TMA tile loads, wgmma fences and waits, setmaxnreg, named barriers, all
// validated on an H200 with the kernels above (bench/logs/2026-11-27-H200-run3.log); and the cluster
// primitives (rank, cluster barrier, mapa, arrival on a peer's mbarrier, multicast TMA load) of playground
// version 5 (kernels/dev/gemm/gemm_sm90_cluster.cuh), compiled and emulated but not yet run on a GPU.
// Under the CPU emulator (ANVIL_HOST_EMULATION) kernels/dev/emu/cuda_emu.h supplies CPU twins of these
// in each kernel's namespace instead, so this header is empty there.
#pragma once

#include <cuda.h>

#include <cstdint>

#if !defined(ANVIL_HOST_EMULATION)

namespace anvil::sm90 {

// ---- mbarriers (shared-memory transaction barriers): `bar` is the barrier's shared-memory address ---------
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// Makes the initialized barriers visible to the async proxy (TMA) before any load names them.
__device__ __forceinline__ void mbar_fence_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
// Arrives and announces `bytes` more bytes that TMA loads will complete on this phase.
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
// Waits for the completion of the barrier's phase of this parity; traps after ~2 s (4e9 cycles), so a
// broken pipeline fails fast instead of hanging.
__device__ __forceinline__ void mbar_wait(uint32_t bar, int parity) {
  if (mbar_try_wait(bar, parity)) return;
  const long long start = clock64();
  while (!mbar_try_wait(bar, parity))
    if (clock64() - start > 4000000000LL) __trap();
}

// ---- TMA: the box of `map` at coordinates (c0 innermost, c1, c2) into shared memory at dst, completing
// its bytes on the mbarrier `bar`; out-of-range elements are zero-filled --------------------------------
__device__ __forceinline__ void tma_load_3d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1,
                                            int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], "
      "[%2];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}

// ---- wgmma ordering: fence before the first wgmma that reads registers written since, commit a group,
// wait until at most N groups are in flight ----------------------------------------------------------------
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }

// ---- registers per thread of a warpgroup: producers give theirs up, consumers take them ---------------------
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}

// ---- named barrier `id` over two consumer warpgroups (256 threads): wait for it / arrive without waiting ----
__device__ __forceinline__ void named_sync(int id) { asm volatile("bar.sync %0, 256;\n" ::"r"(id) : "memory"); }
__device__ __forceinline__ void named_arrive(int id) { asm volatile("bar.arrive %0, 256;\n" ::"r"(id) : "memory"); }

// ---- thread-block clusters (a launch with the cluster-dimension attribute) ----------------------------------
// This CTA's rank in its cluster (0 .. cluster size - 1).
__device__ __forceinline__ uint32_t cluster_ctarank() {
  uint32_t rank;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
  return rank;
}
// The cluster barrier over every thread of every CTA of the cluster: arrive (release) / wait (acquire). A CTA
// whose shared memory peers write into (multicast loads, remote arrivals) must not exit before they are done:
// cluster_sync before exit. Not .aligned, so threads of a warp may reach it apart.
__device__ __forceinline__ void cluster_arrive() { asm volatile("barrier.cluster.arrive.release;\n" ::: "memory"); }
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait.acquire;\n" ::: "memory"); }
__device__ __forceinline__ void cluster_sync() {
  cluster_arrive();
  cluster_wait();
}
// The shared::cluster address of this CTA's shared-memory address `address` in the CTA of cluster rank `rank`.
__device__ __forceinline__ uint32_t mapa_shared(uint32_t address, uint32_t rank) {
  uint32_t mapped;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(mapped) : "r"(address), "r"(rank));
  return mapped;
}
// Arrives on the mbarrier at a shared::cluster address (mapa_shared: possibly a peer CTA's), release at
// cluster scope: what this thread did before (reads of its shared memory) is visible to the peer's waiters.
__device__ __forceinline__ void mbar_arrive_cluster(uint32_t cluster_bar) {
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];\n" ::"r"(cluster_bar) : "memory");
}
// tma_load_3d into every CTA of the cluster whose bit is set in `mask`: the box lands at the same shared
// offset dst in each, and its bytes complete on each one's mbarrier at the same offset bar.
__device__ __forceinline__ void tma_load_3d_multicast(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0,
                                                      int c1, int c2, uint16_t mask) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster [%0], "
      "[%1, {%4, %5, %6}], [%2], %3;\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "h"(mask), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}

}  // namespace anvil::sm90

#endif  // !ANVIL_HOST_EMULATION
