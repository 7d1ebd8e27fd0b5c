// tensor_core.cuh: the sm_80+ building blocks of the tensor-core kernels (matmul/, attention/):
//  - cp.async 16-byte global->shared copies with zero fill, commit/wait groups;
//  - ldmatrix (x4, plain and .trans) and mma.sync m16n8k16 bf16 -> fp32;
//  - the XOR swizzle of shared-memory tiles that keeps ldmatrix and cp.async free of bank conflicts;
//  - ANVIL_LAUNCH and dynamic_smem(), through which kernels/dev/emu runs the kernels on the CPU
//    (ANVIL_HOST_EMULATION: index math, masks and pipelines checked without a GPU).
//
// Fragment layouts (PTX ISA, "mma.m16n8k16", bf16), lane = threadIdx.x % 32, g = lane / 4, q = lane % 4:
//   A (16x16, row):  a[0] = (g,   2q..2q+1)  a[1] = (g+8, 2q..2q+1)  a[2] = (g, 2q+8..)  a[3] = (g+8, 2q+8..)
//   B (16x8, col):   b[0] = (k 2q..2q+1, n g)  b[1] = (k 2q+8..2q+9, n g)
//   C (16x8, fp32):  c[0], c[1] = (g, 2q), (g, 2q+1)   c[2], c[3] = (g+8, 2q), (g+8, 2q+1)
// ldmatrix.x4: lanes 8i..8i+7 give the row addresses of 8x8 matrix i (8 bf16 = 16 bytes each); register
// i receives (row g, columns 2q, 2q+1) of matrix i, or with .trans (rows 2q, 2q+1, column g): the
// transpose, which is how an operand stored with M or N contiguous becomes a row/col fragment.
// Two adjacent n8 C tiles of one m16 row block, rounded to bf16 pairs, are exactly an A fragment of a
// k16 step: {c(t)[0..1], c(t)[2..3], c(t+1)[0..1], c(t+1)[2..3]} (flash attention's P and dS).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

// kernel<<<grid, block, smem, stream>>>(args): a macro so that kernels/dev/emu can run the same launch code
// on the CPU (the kernel argument must be one token: a variable or a name without template commas).
#ifndef ANVIL_LAUNCH
#ifdef ANVIL_HOST_EMULATION
#define ANVIL_LAUNCH(kernel, grid, block, smem, stream) ::anvil::emu::Launch(kernel, grid, block, smem)
#else
#define ANVIL_LAUNCH(kernel, grid, block, smem, stream) kernel<<<grid, block, smem, stream>>>
#endif
#endif

namespace anvil::tc {

#ifndef ANVIL_HOST_EMULATION

// The kernel's dynamic shared memory (the size is the launch's third argument).
__device__ __forceinline__ unsigned char* dynamic_smem() {
  extern __shared__ __align__(128) unsigned char anvil_dynamic_smem[];
  return anvil_dynamic_smem;
}

__device__ __forceinline__ uint32_t smem_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronous; when !valid nothing is read and the 16 bytes become zeros
// (src must still be a mapped address: callers pass the matrix base).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// d (16x8 fp32) += a (16x16 bf16, row) * b (16x8 bf16, col)
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

#endif  // !ANVIL_HOST_EMULATION (kernels/dev/emu/cuda_emu.h defines these on the CPU)

// Two floats as a bf16 pair (lo in the low half: the element with the smaller index).
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// Element offset of 16-byte chunk c (8 bf16) of row r in a shared tile whose rows are kChunks chunks
// long (4: 64-byte rows, 8: 128, 16: 256), XOR-swizzled so that
//  - the 8 row addresses one ldmatrix phase reads (8 consecutive rows, one logical chunk) fall in 8
//    different 16-byte bank groups, and
//  - 8 consecutive threads storing consecutive chunks of one row (cp.async) stay conflict-free.
// 64-byte rows pair up in one 128-byte bank line, so there the XOR key is (r / 2) % 4; longer rows XOR the
// low three chunk bits with r % 8.
template <int kChunks>
__device__ __forceinline__ int swizzle(int r, int c) {
  static_assert(kChunks == 4 || kChunks == 8 || kChunks == 16, "rows of 64, 128 or 256 bytes");
  if constexpr (kChunks == 4) return r * 32 + ((c ^ ((r >> 1) & 3)) << 3);
  return r * (kChunks * 8) + ((c ^ (r & 7)) << 3);
}

// ---- fragments from row-major swizzled tiles ([rows][kChunks chunks], swizzle<kChunks>) -----------

// A fragment of rows r0..r0+15, k-step ks (columns 16ks..16ks+15) of a tile stored (rows, k), k contiguous.
// matrices: (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15)
template <int kChunks>
__device__ __forceinline__ void load_a(uint32_t (&a)[4], uint32_t tile, int r0, int ks, int lane) {
  const int r = r0 + (lane & 7) + ((lane >> 3) & 1) * 8, c = ks * 2 + (lane >> 4);
  ldmatrix_x4(a, tile + 2 * swizzle<kChunks>(r, c));
}

// B fragments of the two n8 tiles n0..n0+15, k-step ks, of a tile stored (n, k) with k contiguous (B^T
// row-major: K of attention's Q K^T). b[0], b[1]: n-tile n0/8; b[2], b[3]: n-tile n0/8 + 1.
// matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
template <int kChunks>
__device__ __forceinline__ void load_b_kmajor(uint32_t (&b)[4], uint32_t tile, int n0, int ks, int lane) {
  const int r = n0 + (lane & 7) + (lane >> 4) * 8, c = ks * 2 + ((lane >> 3) & 1);
  ldmatrix_x4(b, tile + 2 * swizzle<kChunks>(r, c));
}

// The same fragments from a tile stored (k, n) with n contiguous (V of attention's P V), transposed by
// ldmatrix: matrix i reads k rows 16ks + 8(i%2).., n chunk n0/8 + i/2.
template <int kChunks>
__device__ __forceinline__ void load_b_nmajor(uint32_t (&b)[4], uint32_t tile, int n0, int ks, int lane) {
  const int i = lane >> 3;
  const int r = ks * 16 + (lane & 7) + (i & 1) * 8, c = n0 / 8 + (i >> 1);
  ldmatrix_x4_trans(b, tile + 2 * swizzle<kChunks>(r, c));
}

// The A fragment of a k16 step from the C fragments of the two n8 tiles that span it, rounded to bf16.
__device__ __forceinline__ void c_to_a(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = pack_bf16(c0[0], c0[1]);
  a[1] = pack_bf16(c0[2], c0[3]);
  a[2] = pack_bf16(c1[0], c1[1]);
  a[3] = pack_bf16(c1[2], c1[3]);
}

// Sum / max over the 4 lanes of a quad (the lanes holding one row of a C fragment).
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}
__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

// Host: whether the current device has the sm_80 instructions above (cached per device).
inline bool device_has_tensor_cores() {
  static std::atomic<int> known[64];  // 0 unknown, 1 yes, 2 no
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= 64) return false;
  int v = known[device].load(std::memory_order_relaxed);
  if (v == 0) {
    int major = 0;
    v = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 8 ? 1 : 2;
    known[device].store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

// Host: the current device's compute capability (major * 10 + minor) and SM count, cached per device;
// {0, 0} when there is no current device.
struct DeviceInfo {
  int cc, sms;
};
inline DeviceInfo device_info() {
  static std::atomic<int> known[64];  // 0 unknown, else cc << 16 | sms
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= 64) return {0, 0};
  int v = known[device].load(std::memory_order_relaxed);
  if (v == 0) {
    int major = 0, minor = 0, sms = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || sms <= 0)
      return {0, 0};
    v = (major * 10 + minor) << 16 | (sms & 0xffff);
    known[device].store(v, std::memory_order_relaxed);
  }
  return {v >> 16, v & 0xffff};
}

}  // namespace anvil::tc
