// kernels/dev/emu/cuda_emu_gemm90.h: the emulator's twins of the sm_90a intrinsics (hopper.cuh) in the
// namespaces of the Hopper GEMM kernels: matmul/gemm_sm90.cuh (anvil::gemm90) and the playground's cluster
// version (kernels/dev/gemm/gemm_sm90_cluster.cuh, anvil::gemm90cluster), bound to cuda_emu.h's machine.
// Included by cuda_emu.h; not on its own.
#pragma once

// The sm_90 GEMM intrinsics of matmul/gemm_sm90.cuh (namespace anvil::gemm90), on the emulator.
#define ANVIL_EMU_GEMM90_SYNC_INTRINSICS                                                                     \
  inline void mbar_init(uint32_t bar, int count) { ::anvil::emu::mbar_init(bar, count); }                   \
  inline void mbar_fence_init() {}                                                                           \
  inline void mbar_expect_tx(uint32_t bar, int bytes) { ::anvil::emu::mbar_expect_tx(bar, bytes); }          \
  inline void mbar_arrive(uint32_t bar) { ::anvil::emu::mbar_arrive(bar); }                                  \
  inline void mbar_wait(uint32_t bar, int parity) { ::anvil::emu::mbar_wait(bar, parity); }                  \
  inline void tma_load_3d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2) {      \
    ::anvil::emu::tma_load_3d(dst, map, bar, c0, c1, c2);                                                    \
  }                                                                                                          \
  template <int N>                                                                                           \
  inline void setmaxnreg_inc() {}                                                                            \
  template <int N>                                                                                           \
  inline void setmaxnreg_dec() {}
#define ANVIL_EMU_GEMM90_INTRINSICS                                                                          \
  ANVIL_EMU_GEMM90_SYNC_INTRINSICS                                                                           \
  inline void wgmma_fence() {}                                                                               \
  inline void wgmma_commit() {}                                                                              \
  template <int N>                                                                                           \
  inline void wgmma_wait() {}                                                                                \
  template <int kTA, int kTB>                                                                                \
  inline void wgmma_m64n256k16(float (&d)[128], uint64_t desc_a, uint64_t desc_b, int scale_d) {             \
    ::anvil::emu::wgmma_m64nk16<256>(d, desc_a, desc_b, kTA != 0, kTB != 0, scale_d);                        \
  }                                                                                                          \
  template <int kTA, int kTB>                                                                                \
  inline void wgmma_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b, int scale_d) {              \
    ::anvil::emu::wgmma_m64nk16<128>(d, desc_a, desc_b, kTA != 0, kTB != 0, scale_d);                        \
  }
namespace anvil::gemm90 {
ANVIL_EMU_GEMM90_INTRINSICS
}  // namespace anvil::gemm90

// The cluster primitives of hopper.cuh, for the playground's cluster version
// (kernels/dev/gemm/gemm_sm90_cluster.cuh, anvil::gemm90cluster), whose wgmma twins are the checked ones.
#define ANVIL_EMU_CLUSTER_INTRINSICS                                                                          \
  inline uint32_t cluster_ctarank() { return ::anvil::emu::cluster_ctarank(); }                             \
  inline void cluster_arrive() { ::anvil::emu::cluster_arrive(); }                                          \
  inline void cluster_wait() { ::anvil::emu::cluster_wait(); }                                              \
  inline void cluster_sync() {                                                                              \
    ::anvil::emu::cluster_arrive();                                                                         \
    ::anvil::emu::cluster_wait();                                                                           \
  }                                                                                                         \
  inline uint32_t mapa_shared(uint32_t address, uint32_t rank) { return ::anvil::emu::mapa_shared(address, rank); } \
  inline void mbar_arrive_cluster(uint32_t address) { ::anvil::emu::mbar_arrive_cluster(address); }         \
  inline void tma_load_3d_multicast(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2, \
                                    uint16_t mask) {                                                        \
    ::anvil::emu::tma_load_3d_multicast(dst, map, bar, c0, c1, c2, mask);                                   \
  }
namespace anvil::gemm90cluster {
ANVIL_EMU_GEMM90_SYNC_INTRINSICS
ANVIL_EMU_CLUSTER_INTRINSICS
inline void wgmma_fence() {}
inline void wgmma_commit() { ::anvil::emu::wgmma_commit_checked(); }
template <int N>
inline void wgmma_wait() {
  ::anvil::emu::wgmma_wait_checked(N);
}
template <int kTA, int kTB>
inline void wgmma_m64n256k16(float (&d)[128], uint64_t desc_a, uint64_t desc_b, int scale_d) {
  ::anvil::emu::wgmma_checked<256>(d, desc_a, desc_b, kTA != 0, kTB != 0, scale_d);
}
template <int kTA, int kTB>
inline void wgmma_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b, int scale_d) {
  ::anvil::emu::wgmma_checked<128>(d, desc_a, desc_b, kTA != 0, kTB != 0, scale_d);
}
}  // namespace anvil::gemm90cluster
