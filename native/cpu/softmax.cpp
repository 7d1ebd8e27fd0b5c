// softmax.cpp: softmax over the last dim, forward and backward.
//   fwd: y (rows, cols) = softmax(scale * x (rows, cols)), stable: exp(scale x - max) / sum
//   bwd: dx (rows, cols) = scale * y * (dy - sum(dy * y))   written (=)
// A row whose scaled entries are all -inf (fully masked) gets y = 0 rather than 0/0 = NaN, as attention
// does for a query that sees no key. Sums are fp64. Rows are independent, so the result does not depend
// on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "common.h"
#include "parallel.h"
#include "vmath.h"

ANVIL_PARAMS_CHECK(anvil_softmax_params, ANVIL_SOFTMAX_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kParallelMin = 1 << 15;

// Three sweeps over a row that stays in cache: max, exp and sum (exp stored into y), normalize.
ANVIL_MULTIVERSION
void softmax_row(const float* x, float* y, int64_t cols, float scale) {
  float max = -std::numeric_limits<float>::infinity();
  // NaN is skipped here, and reaches every output through the exp below.
#pragma omp simd reduction(max : max)
  for (int64_t j = 0; j < cols; j++) {
    float v = scale * x[j];
    max = v > max ? v : max;
  }
  if (max == -std::numeric_limits<float>::infinity()) {
    for (int64_t j = 0; j < cols; j++) y[j] = 0.0f;
    return;
  }
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < cols; j++) {
    float e = exp_f32(scale * x[j] - max);
    y[j] = e;
    sum += e;
  }
  float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < cols; j++) y[j] *= inv;
}

ANVIL_MULTIVERSION
void softmax_row_bwd(const float* y, const float* dy, float* dx, int64_t cols, float scale) {
  double dot = 0.0;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < cols; j++) dot += static_cast<double>(dy[j]) * y[j];
  float d = static_cast<float>(dot);
  for (int64_t j = 0; j < cols; j++) dx[j] = scale * y[j] * (dy[j] - d);
}

int check(const anvil_softmax_params* p, const char* op) {
  if (p->rows < 0 || p->cols < 0) {
    return fail(ANVIL_E_INVALID, "%s: negative shape (%lld, %lld)", op, (long long)p->rows,
                (long long)p->cols);
  }
  return ANVIL_OK;
}

}  // namespace

extern "C" int anvil_cpu_softmax_fwd(const anvil_softmax_params* p) {
  if (int code = check(p, "softmax_fwd")) return code;
  const float* x = ptr<const float>(p->x);
  float* y = ptr<float>(p->y);
  const int64_t rows = p->rows, cols = p->cols;
  const float scale = static_cast<float>(p->scale);
  parallel_range(rows, std::max<int64_t>(1, kParallelMin / cols), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) softmax_row(x + r * cols, y + r * cols, cols, scale);
  });
  return ANVIL_OK;
}

extern "C" int anvil_cpu_softmax_bwd(const anvil_softmax_params* p) {
  if (int code = check(p, "softmax_bwd")) return code;
  const float* y = ptr<const float>(p->y);
  const float* dy = ptr<const float>(p->dy);
  float* dx = ptr<float>(p->dx);
  const int64_t rows = p->rows, cols = p->cols;
  const float scale = static_cast<float>(p->scale);
  parallel_range(rows, std::max<int64_t>(1, kParallelMin / cols), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) softmax_row_bwd(y + r * cols, dy + r * cols, dx + r * cols, cols, scale);
  });
  return ANVIL_OK;
}
