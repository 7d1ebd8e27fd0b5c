// common.cuh: what every CUDA file shares.
//  - error checking: ANVIL_CUDA_CHECK turns a failed runtime call into an ANVIL_E_CUDA return with the
//    call, file and CUDA's own message; ANVIL_LAUNCH_CHECK does the same for the launch just made;
//  - the device error word: kernels that meet an argument they refuse (a token id out of range) cannot
//    return an error code, so they raise a bit in a word of mapped host memory and skip the bad element;
//    the next synchronizing call (stream synchronize, device-to-host copy) turns it into ANVIL_E_INVALID;
//  - fp32/bf16 loads and stores, 128-bit packs, warp and block reductions, dtype dispatch, scratch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <initializer_list>

#include "anvil/anvil.h"

#define ANVIL_PARAMS_CHECK(type, slots) \
  static_assert(sizeof(type) == (slots) * 8, #type " must be " #slots " 8-byte slots")

// Bits of the device error word.
#define ANVIL_DEVERR_EMBEDDING_ID 1u
#define ANVIL_DEVERR_TARGET 2u
#define ANVIL_DEVERR_ADAMW_SCHEDULE 4u
#define ANVIL_DEVERR_KV_POSITION 8u

// kernel<<<grid, block, smem, stream>>>(args): a macro so that kernels/dev/emu can run the same launch code
// on the CPU (the kernel argument must be one token: a variable or a name without template commas).
#ifndef ANVIL_LAUNCH
#ifdef ANVIL_HOST_EMULATION
#define ANVIL_LAUNCH(kernel, grid, block, smem, stream) ::anvil::emu::Launch(kernel, grid, block, smem)
#else
#define ANVIL_LAUNCH(kernel, grid, block, smem, stream) kernel<<<grid, block, smem, stream>>>
#endif
#endif

namespace anvil {

using bf16 = __nv_bfloat16;

template <typename T>
__host__ __device__ inline T* dptr(int64_t address) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(address));
}

inline cudaStream_t as_stream(int64_t stream) {
  return reinterpret_cast<cudaStream_t>(static_cast<uintptr_t>(stream));
}

inline bool aligned16(int64_t address) { return (address & 15) == 0; }

// 16-byte packs along rows of `cols` elements need every row start aligned: all base addresses 16-byte
// aligned (0, an absent tensor, counts as aligned) and cols * sizeof(T) a multiple of 16.
template <typename T>
inline bool rows_vectorizable(int64_t cols, std::initializer_list<int64_t> addresses) {
  if ((cols * static_cast<int64_t>(sizeof(T))) % 16 != 0) return false;
  for (int64_t a : addresses)
    if (!aligned16(a)) return false;
  return true;
}

inline int cuda_fail(cudaError_t status, const char* what, const char* file, int line) {
  char message[512];
  snprintf(message, sizeof(message), "%s failed at %s:%d: %s (%s)", what, file, line,
           cudaGetErrorString(status), cudaGetErrorName(status));
  return anvil_set_error(ANVIL_E_CUDA, message);
}

// The device error word (runtime.cu): a device pointer to mapped, pinned host memory, or nullptr when it
// could not be made (then the launcher fails with the reason already set).
unsigned int* device_error_word();

// Blocks for a grid-stride loop over `work` items at `threads` per block, capped so huge inputs loop.
inline unsigned blocks_for(int64_t work, int threads, int64_t cap = 65535LL * 16) {
  int64_t blocks = (work + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks);
}

// ---- element access: fp32 math on fp32 or bf16 storage -------------------------------------------

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(bf16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ bf16 from_float<bf16>(float v) { return __float2bfloat16(v); }

template <typename T>
__device__ __forceinline__ float load(const T* p, int64_t i) { return to_float(p[i]); }
template <typename T>
__device__ __forceinline__ void store(T* p, int64_t i, float v) { p[i] = from_float<T>(v); }

// N consecutive elements moved as one 16-byte access when N * sizeof(T) == 16 (4 fp32 or 8 bf16).
// The caller guarantees alignment of the address (see aligned16); N == 1 is the scalar fallback.
template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

template <typename T, int N>
__device__ __forceinline__ void load_pack(const T* p, float (&out)[N]) {
  Pack<T, N> pack = *reinterpret_cast<const Pack<T, N>*>(p);
#pragma unroll
  for (int i = 0; i < N; ++i) out[i] = to_float(pack.v[i]);
}

template <typename T, int N>
__device__ __forceinline__ void store_pack(T* p, const float (&in)[N]) {
  Pack<T, N> pack;
#pragma unroll
  for (int i = 0; i < N; ++i) pack.v[i] = from_float<T>(in[i]);
  *reinterpret_cast<Pack<T, N>*>(p) = pack;
}

template <typename T>
constexpr int pack_of() {
  return 16 / static_cast<int>(sizeof(T));
}

// ---- reductions -----------------------------------------------------------------------------------

template <typename V>
__device__ __forceinline__ V warp_sum(V v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over the block; every thread gets the result. blockDim.x must be a multiple of 32 (<= 1024).
// Uses 32 slots of shared memory passed in; callers reusing it must __syncthreads() in between (done
// here at the start).
template <typename V>
__device__ __forceinline__ V block_sum(V v, V* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : V(0);
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : -INFINITY;
  return warp_max(v);
}

// An online-softmax state: running max m and the sum s of exp(x - m). Merging is exact in any order up
// to rounding; -inf maxima (nothing seen) merge to the other side.
struct MaxSum {
  float m, s;
};

__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
  if (a.m == -INFINITY) return b;
  if (b.m == -INFINITY) return a;
  float m = fmaxf(a.m, b.m);
  return {m, a.s * __expf(a.m - m) + b.s * __expf(b.m - m)};
}

__device__ __forceinline__ MaxSum warp_merge(MaxSum v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    MaxSum o{__shfl_xor_sync(0xffffffffu, v.m, offset), __shfl_xor_sync(0xffffffffu, v.s, offset)};
    v = merge(v, o);
  }
  return v;
}

__device__ __forceinline__ MaxSum block_merge(MaxSum v, MaxSum* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_merge(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : MaxSum{-INFINITY, 0.0f};
  return warp_merge(v);
}

// ---- scratch: stream-ordered device memory for a launcher's temporaries ---------------------------

// Freed on the stream when the launcher returns, after the kernels queued before it.
class Scratch {
 public:
  explicit Scratch(cudaStream_t stream) : stream_(stream) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (memory_) cudaFreeAsync(memory_, stream_);
  }
  cudaError_t allocate(size_t bytes) { return cudaMallocAsync(&memory_, bytes > 0 ? bytes : 1, stream_); }
  template <typename T>
  T* at(size_t byte_offset) const {
    return reinterpret_cast<T*>(static_cast<char*>(memory_) + byte_offset);
  }

 private:
  cudaStream_t stream_;
  void* memory_ = nullptr;
};

inline size_t round_up(size_t bytes, size_t to = 256) { return (bytes + to - 1) / to * to; }

// How a deterministic column reduction over `rows` rows splits them: `count` splits of `per` rows (64 rows
// each, at most 1024 splits), each summed by its own block into a partial, the partials then summed in a
// fixed order. Depends on rows only, so the summation order (and the result) is the same on every device.
struct RowSplits {
  int64_t per, count;
};
inline RowSplits row_splits(int64_t rows) {
  int64_t per = 64, count = (rows + per - 1) / per;
  if (count > 1024) {
    per = (rows + 1023) / 1024;
    count = (rows + per - 1) / per;
  }
  return {per, count};
}

}  // namespace anvil

#define ANVIL_CUDA_CHECK(call)                                             \
  do {                                                                     \
    cudaError_t status_ = (call);                                          \
    if (status_ != cudaSuccess) return anvil::cuda_fail(status_, #call, __FILE__, __LINE__); \
  } while (0)

#define ANVIL_LAUNCH_CHECK(name)                                            \
  do {                                                                      \
    cudaError_t status_ = cudaGetLastError();                               \
    if (status_ != cudaSuccess) return anvil::cuda_fail(status_, name, __FILE__, __LINE__); \
  } while (0)

// The error of a launcher given a dtype it does not take.
namespace anvil {
inline int unsupported_dtype(const char* op, int64_t dtype) {
  char message[160];
  snprintf(message, sizeof(message), "cuda %s: dtype %lld is not f32 or bf16", op, (long long)dtype);
  return anvil_set_error(ANVIL_E_UNSUPPORTED, message);
}
}  // namespace anvil

// Returns launcher<T>(args...) with T = float or bf16 for an fp32/bf16 dtype code.
#define ANVIL_DISPATCH_FLOAT(dtype, op, launcher, ...)                              \
  do {                                                                               \
    if ((dtype) == ANVIL_F32) return launcher<float>(__VA_ARGS__);                   \
    if ((dtype) == ANVIL_BF16) return launcher<anvil::bf16>(__VA_ARGS__);            \
    return anvil::unsupported_dtype(op, dtype);                                      \
  } while (0)
