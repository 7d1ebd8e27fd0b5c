// rmsnorm.cpp: root-mean-square normalization over the last dim (Llama), forward and backward.
//   fwd: x (rows, cols), weight (cols) -> y (rows, cols) written; rstd (rows) written when not 0
//        y = xhat * weight,  xhat = x * rstd,  rstd = 1 / sqrt(mean(x^2) + eps)
//   bwd: x, weight, rstd, dy (rows, cols) -> dx (rows, cols) written (=) when not 0;
//        dweight (cols) += sum_rows dy * xhat
//        dx = rstd * (g - xhat * mean_cols(g * xhat)),  g = dy * weight
//
// Numerics follow layernorm.cpp: the sum of squares and xhat are fp64 (the row is in L1, so this costs
// no traffic), xhat is rounded to fp32 before the weight multiplies it, as Hugging Face's
// LlamaRMSNorm does (weight * (x * rsqrt(var + eps))). The backward recomputes rstd in fp64 from x
// rather than trusting the saved fp32 value. dweight goes through fp64 partial sums over fixed blocks
// of rows whose size depends on `rows` only, summed in block order: bit-identical for every thread
// count, and race-free.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>
#include <vector>

#include "common.h"

ANVIL_PARAMS_CHECK(anvil_rmsnorm_params, ANVIL_RMSNORM_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kParallelMin = 1 << 15;
constexpr int64_t kMaxBlocks = 64;
constexpr int64_t kMinBlockRows = 16;

// 1 / sqrt(mean(x^2) + eps) of one row, in fp64.
__attribute__((always_inline)) inline double row_rstd(const float* x, int64_t cols, double eps) {
  double squares = 0.0;
#pragma omp simd reduction(+ : squares)
  for (int64_t j = 0; j < cols; j++) squares += static_cast<double>(x[j]) * x[j];
  return 1.0 / std::sqrt(squares / static_cast<double>(cols) + eps);
}

// x (cols) -> y (cols); returns the row's rstd.
ANVIL_MULTIVERSION
double rmsnorm_row(const float* x, const float* weight, float* y, int64_t cols, double eps) {
  const double rstd = row_rstd(x, cols, eps);
  for (int64_t j = 0; j < cols; j++) y[j] = static_cast<float>(x[j] * rstd) * weight[j];
  return rstd;
}

// One row of the backward: dx (cols) written when not null; dweight partials (cols, fp64) accumulated.
ANVIL_MULTIVERSION
void rmsnorm_row_bwd(const float* x, const float* weight, const float* dy, float* dx, double* dweight,
                     int64_t cols, double eps) {
  const double rstd = row_rstd(x, cols, eps);
  double sum_gx = 0.0;
#pragma omp simd reduction(+ : sum_gx)
  for (int64_t j = 0; j < cols; j++) {
    float xhat = static_cast<float>(x[j] * rstd);
    float g = dy[j] * weight[j];
    sum_gx += static_cast<double>(g) * xhat;
    dweight[j] += static_cast<double>(dy[j]) * xhat;
  }
  if (!dx) return;
  const double b = sum_gx / static_cast<double>(cols);
  for (int64_t j = 0; j < cols; j++) {
    double xhat = x[j] * rstd;
    dx[j] = static_cast<float>(rstd * (static_cast<double>(dy[j] * weight[j]) - xhat * b));
  }
}

// target[j] += sum over blocks of partial[block][j], blocks in order; columns [begin, end).
ANVIL_MULTIVERSION
void add_block_sums(float* target, const double* partial, int64_t blocks, int64_t cols, int64_t begin,
                    int64_t end) {
  constexpr int64_t kTile = 256;
  double sum[kTile];
  for (int64_t j0 = begin; j0 < end; j0 += kTile) {
    const int64_t width = std::min(kTile, end - j0);
    for (int64_t k = 0; k < width; k++) sum[k] = 0.0;
    for (int64_t b = 0; b < blocks; b++) {
      const double* row = partial + b * cols + j0;
      for (int64_t k = 0; k < width; k++) sum[k] += row[k];
    }
    for (int64_t k = 0; k < width; k++) target[j0 + k] += static_cast<float>(sum[k]);
  }
}

int check(const anvil_rmsnorm_params* p, const char* op) {
  if (p->rows < 0 || p->cols < 1) {
    return fail(ANVIL_E_INVALID, "%s: shape (%lld, %lld) needs rows >= 0 and cols >= 1", op,
                (long long)p->rows, (long long)p->cols);
  }
  if (!(p->eps >= 0.0)) return fail(ANVIL_E_INVALID, "%s: eps %g must be >= 0", op, p->eps);
  return ANVIL_OK;
}

}  // namespace

extern "C" int anvil_cpu_rmsnorm_fwd(const anvil_rmsnorm_params* p) {
  if (int code = check(p, "rmsnorm_fwd")) return code;
  const float* x = ptr<const float>(p->x);
  const float* weight = ptr<const float>(p->weight);
  float* y = ptr<float>(p->y);
  float* rstd = ptr<float>(p->rstd);
  const int64_t rows = p->rows, cols = p->cols;
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols > kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    double s = rmsnorm_row(x + r * cols, weight, y + r * cols, cols, p->eps);
    if (rstd) rstd[r] = static_cast<float>(s);
  }
  return ANVIL_OK;
}

extern "C" int anvil_cpu_rmsnorm_bwd(const anvil_rmsnorm_params* p) {
  if (int code = check(p, "rmsnorm_bwd")) return code;
  const float* x = ptr<const float>(p->x);
  const float* weight = ptr<const float>(p->weight);
  const float* dy = ptr<const float>(p->dy);
  float* dx = ptr<float>(p->dx);
  float* dweight = ptr<float>(p->dweight);
  const int64_t rows = p->rows, cols = p->cols;
  if (rows == 0) return ANVIL_OK;

  const int64_t block_rows = std::max(kMinBlockRows, (rows + kMaxBlocks - 1) / kMaxBlocks);
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
  std::vector<double> partial;
  try {
    partial.assign(static_cast<size_t>(blocks * cols), 0.0);
  } catch (const std::bad_alloc&) {
    return fail(ANVIL_E_NOMEM, "rmsnorm_bwd: no memory for %lld x %lld partial sums", (long long)blocks,
                (long long)cols);
  }
  double* pw = partial.data();
  const bool parallel = rows * cols > kParallelMin;

#pragma omp parallel for schedule(static) if (parallel && blocks > 1)
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t end = std::min(rows, (b + 1) * block_rows);
    for (int64_t r = b * block_rows; r < end; r++) {
      rmsnorm_row_bwd(x + r * cols, weight, dy + r * cols, dx ? dx + r * cols : nullptr, pw + b * cols, cols,
                      p->eps);
    }
  }
  if (!dweight) return ANVIL_OK;

  // Column ranges in whole cache lines (16 floats), so no two threads write the same line.
#pragma omp parallel if (parallel && cols >= 32)
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t lines = (cols + 15) / 16;
    const int64_t begin = std::min(cols, lines * t / threads * 16);
    const int64_t end = std::min(cols, lines * (t + 1) / threads * 16);
    add_block_sums(dweight, pw, blocks, cols, begin, end);
  }
  return ANVIL_OK;
}
