// runtime.cpp: errors, CPU features, threads, copies and fills of the CPU library (host memory:
// allocator.cpp).
#include <omp.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common.h"
#include "parallel.h"

namespace anvil {

static thread_local std::string last_error;

int fail(int code, const char* format, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  last_error = buffer;
  return code;
}

}  // namespace anvil

using namespace anvil;

extern "C" {

const char* anvil_last_error(void) { return last_error.c_str(); }

int anvil_set_error(int code, const char* message) {
  last_error = message ? message : "";
  return code;
}

int64_t anvil_abi_version(void) { return ANVIL_ABI_VERSION; }

int64_t anvil_cpu_features(void) {
  int64_t bits = 0;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) bits |= ANVIL_CPU_AVX2;
  if (__builtin_cpu_supports("fma")) bits |= ANVIL_CPU_FMA;
  if (__builtin_cpu_supports("avx512f")) bits |= ANVIL_CPU_AVX512F;
  if (__builtin_cpu_supports("avx512bf16")) bits |= ANVIL_CPU_AVX512BF16;
#endif
  return bits;
}

int anvil_cpu_set_threads(int64_t threads) {
  if (threads < 1) return fail(ANVIL_E_INVALID, "threads must be >= 1, got %lld", (long long)threads);
  omp_set_num_threads(static_cast<int>(threads));
  return ANVIL_OK;
}

int64_t anvil_cpu_get_threads(void) { return omp_get_max_threads(); }

int anvil_cpu_copy(int64_t dst, int64_t src, int64_t bytes) {
  if (bytes > 0) std::memmove(ptr<void>(dst), ptr<void>(src), static_cast<size_t>(bytes));
  return ANVIL_OK;
}

int anvil_cpu_fill_f32(int64_t dst, int64_t n, double value) {
  float* out = ptr<float>(dst);
  const float v = static_cast<float>(value);
  parallel_range(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) out[i] = v;
  });
  return ANVIL_OK;
}

}  // extern "C"
