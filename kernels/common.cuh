// common.cuh: error checking shared by every CUDA file. ANVIL_CUDA_CHECK turns a failed runtime call
// into an ANVIL_E_CUDA return with the call, file and CUDA's own message; ANVIL_LAUNCH_CHECK does the
// same for the launch just made.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>

#include "anvil/anvil.h"

#define ANVIL_PARAMS_CHECK(type, slots) \
  static_assert(sizeof(type) == (slots) * 8, #type " must be " #slots " 8-byte slots")

namespace anvil {

template <typename T>
inline T* dptr(int64_t address) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(address));
}

inline cudaStream_t as_stream(int64_t stream) {
  return reinterpret_cast<cudaStream_t>(static_cast<uintptr_t>(stream));
}

inline int cuda_fail(cudaError_t status, const char* what, const char* file, int line) {
  char message[512];
  snprintf(message, sizeof(message), "%s failed at %s:%d: %s (%s)", what, file, line,
           cudaGetErrorString(status), cudaGetErrorName(status));
  return anvil_set_error(ANVIL_E_CUDA, message);
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
