// common.h: what every CPU kernel file shares: error reporting, params-layout checks, the OpenMP
// parallel-for helper and the multiversioning attribute that lets one binary run on any x86-64.
#pragma once

#include <cstdint>
#include <cstring>

#include "anvil/anvil.h"

// Each params struct is an array of 8-byte slots; Java writes exactly this many.
#define ANVIL_PARAMS_CHECK(type, slots) \
  static_assert(sizeof(type) == (slots) * 8, #type " must be " #slots " 8-byte slots")

namespace anvil {

template <typename T>
inline T* ptr(int64_t address) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(address));
}

// Records a message for this thread and returns code, so kernels can `return fail(...)`.
int fail(int code, const char* format, ...) __attribute__((format(printf, 2, 3)));

// Auto-vectorized clones of a loop-heavy function for AVX-512, AVX2+FMA and baseline x86-64; the loader
// picks one through an ifunc at first call, so no instruction the CPU lacks is ever executed.
#if defined(__x86_64__) && !defined(ANVIL_NO_MULTIVERSION)
#define ANVIL_MULTIVERSION __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define ANVIL_MULTIVERSION
#endif

}  // namespace anvil
