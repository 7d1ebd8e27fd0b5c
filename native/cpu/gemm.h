// gemm.h: Anvil's fp32 GEMM for C++ kernels (attention, ...) that need a matrix product without going
// through the C ABI. The blocked kernels live in gemm_{avx512,avx2,generic}.cpp; sgemm() in matmul.cpp
// picks one at run time (CPU features), splits the work over OpenMP threads and calls it.
#pragma once

#include <cstdint>

namespace anvil {

// C (m,n) = alpha * op(A) (m,k) @ op(B) (k,n) + beta * C + bias (n, broadcast over rows)
//   All matrices row-major with leading (row) strides in elements:
//   A is (m,k) with row stride lda, or (k,m) when trans_a;  B is (k,n) with row stride ldb, or (n,k)
//   when trans_b (a PyTorch Linear weight (out,in) is trans_b);  C is (m,n) with row stride ldc.
//   beta == 0 writes C without reading it (C may hold NaN); beta == 1 accumulates. bias may be null.
//   threads: 0 = OpenMP's current maximum, n = at most n. Small products, and calls made from inside an
//   OpenMP parallel region, run on the calling thread only, so kernels may call this from their own
//   parallel loops. Returns ANVIL_OK, or ANVIL_E_NOMEM (message set) when scratch memory ran out.
int sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
           const float* bias = nullptr, int threads = 0);

namespace gemm {

// One product, exactly sgemm's contract.
struct Args {
  bool trans_a, trans_b;
  int64_t m, n, k;
  float alpha, beta;
  const float* a;
  int64_t lda;
  const float* b;
  int64_t ldb;
  float* c;
  int64_t ldc;
  const float* bias;
};

// A packed, cache-blocked GEMM for one instruction set, single-threaded. run() needs panel_floats floats
// of 64-byte aligned scratch for the packed B panel, owned by the calling thread.
struct Kernel {
  const char* name;  // "avx512", "avx2", "generic"
  int mr, nr;        // micro-tile: rows of A broadcast, columns of B loaded
  int64_t panel_floats;
  void (*run)(const Args& args, float* panel);
};

// One per file gemm_<isa>.cpp, constant-initialized (no code of those files runs before the CPU check);
// the AVX ones' run() may only be called when the CPU has the features, which active() checks.
extern const Kernel avx512_kernel;
extern const Kernel avx2_kernel;
extern const Kernel generic_kernel;

enum class Isa { best, avx512, avx2, generic };

// The kernel sgemm uses now. force() overrides the run-time choice (tests and benchmarks compare the
// paths on one machine); it refuses (returns false) an ISA this CPU lacks. Not to be called while
// another thread is inside sgemm.
const Kernel& active();
bool force(Isa isa);

}  // namespace gemm
}  // namespace anvil
