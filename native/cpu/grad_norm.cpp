// grad_norm.cpp: the global L2 norm of a list of fp32 tensors (gradient clipping), forward only.
//   tensors/sizes: int64 arrays of length count (addresses, element counts)
//   out: one double on the host, written: sqrt(sum over tensors of sum(x^2))
// Sums are fp64. Each tensor is cut into fixed blocks of kBlock elements; a block's sum of squares
// does not depend on which thread computes it, and the blocks are added in list order. So the norm is
// bit-identical for every thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>
#include <vector>

#include "common.h"
#include "parallel.h"

ANVIL_PARAMS_CHECK(anvil_grad_norm_params, ANVIL_GRAD_NORM_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kBlock = 1 << 16;
constexpr int64_t kParallelMin = 1 << 15;

struct Block {
  const float* data;
  int64_t n;
};

ANVIL_MULTIVERSION
double sum_squares(const float* x, int64_t n) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; i++) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

}  // namespace

extern "C" int anvil_cpu_grad_norm_fwd(const anvil_grad_norm_params* p) {
  if (p->count < 0) return fail(ANVIL_E_INVALID, "grad_norm: negative count %lld", (long long)p->count);
  const int64_t* tensors = ptr<const int64_t>(p->tensors);
  const int64_t* sizes = ptr<const int64_t>(p->sizes);
  std::vector<Block> blocks;
  std::vector<double> sums;
  int64_t total = 0;
  try {
    for (int64_t k = 0; k < p->count; k++) {
      if (sizes[k] < 0) {
        return fail(ANVIL_E_INVALID, "grad_norm: tensor %lld has negative size %lld", (long long)k,
                    (long long)sizes[k]);
      }
      const float* data = ptr<const float>(tensors[k]);
      for (int64_t at = 0; at < sizes[k]; at += kBlock) {
        blocks.push_back({data + at, std::min(kBlock, sizes[k] - at)});
      }
      total += sizes[k];
    }
    sums.resize(blocks.size());
  } catch (const std::bad_alloc&) {
    return fail(ANVIL_E_NOMEM, "grad_norm: no memory for the block list of %lld tensors",
                (long long)p->count);
  }
  const int64_t count = static_cast<int64_t>(blocks.size());
// Blocks differ in size (small tensors are one short block), so they are handed out dynamically;
// which thread sums a block does not change its sum.
  parallel_tasks(count, count > 1 && total > kParallelMin ? max_threads() : 1,
                 [&](int64_t b, int) { sums[b] = sum_squares(blocks[b].data, blocks[b].n); });
  double sum = 0.0;
  for (int64_t b = 0; b < count; b++) sum += sums[b];
  *ptr<double>(p->out) = std::sqrt(sum);
  return ANVIL_OK;
}
