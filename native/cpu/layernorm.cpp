// layernorm.cpp: layer normalization over the last dim, forward and backward.
//   fwd: x (rows, cols), weight (cols), bias (cols) or 0 -> y (rows, cols) written;
//        mean (rows), rstd (rows) written when not 0 (saved for bwd)
//        y = (x - mean) * rstd * weight + bias,  rstd = 1 / sqrt(var + eps), var biased (/cols)
//   bwd: x, weight, mean, rstd, dy (rows, cols) -> dx (rows, cols) written (=), or added (+=) when
//        accumulate_dx; dweight (cols) += sum_rows dy * xhat;  dbias (cols) += sum_rows dy (when not 0);
//        both written (=) instead when overwrite_params. y_bf16 (a CUDA mode) is refused: fp32 only.
//        dx = rstd * (dy w - mean_cols(dy w) - xhat * mean_cols(dy w xhat)),  xhat = (x - mean) rstd
//
// Numerics: the row statistics are two-pass in fp64 and xhat is formed in fp64 (the row is in L1 by
// then, so this costs no memory traffic). The backward recomputes the row mean in fp64 from x rather
// than reading the saved fp32 one, whose rounding would shift every xhat of a row with |mean| >> std.
// y and dx are fp32. Determinism: rows are independent in fwd and in dx. The dweight/dbias column
// sums go through fp64 partial sums over fixed blocks of rows, whose size depends on `rows` only,
// summed in block order: the result is bit-identical for every thread count, and race-free.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>
#include <vector>

#include "common.h"
#include "parallel.h"

ANVIL_PARAMS_CHECK(anvil_layernorm_params, ANVIL_LAYERNORM_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kParallelMin = 1 << 15;
// Row blocks of the backward's column sums: at most kMaxBlocks of at least kMinBlockRows rows each,
// so the partial buffers stay small (kMaxBlocks * cols doubles each) and still feed many threads.
constexpr int64_t kMaxBlocks = 64;
constexpr int64_t kMinBlockRows = 16;

struct RowStats {
  float mean, rstd;
};

// Row mean in fp64.
__attribute__((always_inline)) inline double row_mean(const float* x, int64_t cols) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < cols; j++) sum += x[j];
  return sum / static_cast<double>(cols);
}

// x (cols) -> y (cols); returns the row's mean and rstd. xhat is formed in fp64 from the fp64 mean:
// with |mean| >> std, x - fp32(mean) would be off by a rounding of the mean in every element.
ANVIL_MULTIVERSION
RowStats layernorm_row(const float* x, const float* weight, const float* bias, float* y, int64_t cols,
                       double eps) {
  const double mean = row_mean(x, cols);
  double squares = 0.0;
#pragma omp simd reduction(+ : squares)
  for (int64_t j = 0; j < cols; j++) {
    double d = static_cast<double>(x[j]) - mean;
    squares += d * d;
  }
  const double rstd = 1.0 / std::sqrt(squares / static_cast<double>(cols) + eps);
  if (bias) {
    for (int64_t j = 0; j < cols; j++) {
      y[j] = static_cast<float>((static_cast<double>(x[j]) - mean) * rstd) * weight[j] + bias[j];
    }
  } else {
    for (int64_t j = 0; j < cols; j++) {
      y[j] = static_cast<float>((static_cast<double>(x[j]) - mean) * rstd) * weight[j];
    }
  }
  return {static_cast<float>(mean), static_cast<float>(rstd)};
}

// dst[j] += src[j]: the accumulate step of the backward, on its own sweep.
ANVIL_MULTIVERSION
void add_row(float* dst, const float* src, int64_t cols) {
  for (int64_t j = 0; j < cols; j++) dst[j] += src[j];
}

// One row of the backward: dx (cols) written; dweight/dbias partials (cols, fp64) accumulated.
// The mean is recomputed in fp64 from x (the row is read anyway) rather than taken from the saved
// fp32 mean, for the reason above; rstd comes from the forward. dx first holds dxhat = dy * w, so the
// second sweep subtracts exactly the rounded products that were summed. With accumulate, the row goes
// through `scratch` (cols) and is then added to dx in a separate sweep: the same roundings as writing
// a temporary and adding it afterwards (no multiply-add contracted across the two).
ANVIL_MULTIVERSION
void layernorm_row_bwd(const float* x, const float* weight, const float* dy, float rstd, float* dx,
                       double* dweight, double* dbias, int64_t cols, float* scratch) {
  float* out = scratch ? scratch : dx;
  const double mean = row_mean(x, cols);
  double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;
#pragma omp simd reduction(+ : sum_dxhat, sum_dxhat_xhat)
  for (int64_t j = 0; j < cols; j++) {
    float xhat = static_cast<float>((static_cast<double>(x[j]) - mean) * rstd);
    float dxhat = dy[j] * weight[j];
    out[j] = dxhat;
    sum_dxhat += dxhat;
    sum_dxhat_xhat += static_cast<double>(dxhat) * xhat;
    dweight[j] += static_cast<double>(dy[j]) * xhat;
  }
  const float a = static_cast<float>(sum_dxhat / static_cast<double>(cols));
  const float b = static_cast<float>(sum_dxhat_xhat / static_cast<double>(cols));
  for (int64_t j = 0; j < cols; j++) {
    float xhat = static_cast<float>((static_cast<double>(x[j]) - mean) * rstd);
    out[j] = rstd * (out[j] - a - xhat * b);
  }
  if (scratch) add_row(dx, scratch, cols);
  if (dbias) {
    for (int64_t j = 0; j < cols; j++) dbias[j] += dy[j];
  }
}

// target[j] (+)= sum over blocks of partial[block][j], blocks in order; columns [begin, end); written
// (=) when overwrite.
ANVIL_MULTIVERSION
void add_block_sums(float* target, const double* partial, int64_t blocks, int64_t cols, int64_t begin,
                    int64_t end, bool overwrite) {
  constexpr int64_t kTile = 256;
  double sum[kTile];
  for (int64_t j0 = begin; j0 < end; j0 += kTile) {
    const int64_t width = std::min(kTile, end - j0);
    for (int64_t k = 0; k < width; k++) sum[k] = 0.0;
    for (int64_t b = 0; b < blocks; b++) {
      const double* row = partial + b * cols + j0;
      for (int64_t k = 0; k < width; k++) sum[k] += row[k];
    }
    for (int64_t k = 0; k < width; k++) {
      target[j0 + k] = overwrite ? static_cast<float>(sum[k]) : target[j0 + k] + static_cast<float>(sum[k]);
    }
  }
}

int check(const anvil_layernorm_params* p, const char* op) {
  if (p->rows < 0 || p->cols < 1) {
    return fail(ANVIL_E_INVALID, "%s: shape (%lld, %lld) needs rows >= 0 and cols >= 1", op,
                (long long)p->rows, (long long)p->cols);
  }
  if (!(p->eps >= 0.0)) return fail(ANVIL_E_INVALID, "%s: eps %g must be >= 0", op, p->eps);
  if (p->y_bf16) return fail(ANVIL_E_UNSUPPORTED, "%s: y_bf16 on the fp32-only CPU backend", op);
  return ANVIL_OK;
}

}  // namespace

extern "C" int anvil_cpu_layernorm_fwd(const anvil_layernorm_params* p) {
  if (int code = check(p, "layernorm_fwd")) return code;
  const float* x = ptr<const float>(p->x);
  const float* weight = ptr<const float>(p->weight);
  const float* bias = ptr<const float>(p->bias);
  float* y = ptr<float>(p->y);
  float* mean = ptr<float>(p->mean);
  float* rstd = ptr<float>(p->rstd);
  const int64_t rows = p->rows, cols = p->cols;
  parallel_range(rows, std::max<int64_t>(1, kParallelMin / cols), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      RowStats s = layernorm_row(x + r * cols, weight, bias, y + r * cols, cols, p->eps);
      if (mean) mean[r] = s.mean;
      if (rstd) rstd[r] = s.rstd;
    }
  });
  return ANVIL_OK;
}

extern "C" int anvil_cpu_layernorm_bwd(const anvil_layernorm_params* p) {
  if (int code = check(p, "layernorm_bwd")) return code;
  const float* x = ptr<const float>(p->x);
  const float* weight = ptr<const float>(p->weight);
  const float* rstd = ptr<const float>(p->rstd);
  const float* dy = ptr<const float>(p->dy);
  float* dx = ptr<float>(p->dx);
  float* dweight = ptr<float>(p->dweight);
  float* dbias = ptr<float>(p->dbias);
  const int64_t rows = p->rows, cols = p->cols;
  if (rows == 0) return ANVIL_OK;

  const int64_t block_rows = std::max(kMinBlockRows, (rows + kMaxBlocks - 1) / kMaxBlocks);
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
  std::vector<double> partial_weight, partial_bias;
  try {
    partial_weight.assign(static_cast<size_t>(blocks * cols), 0.0);
    if (dbias) partial_bias.assign(static_cast<size_t>(blocks * cols), 0.0);
  } catch (const std::bad_alloc&) {
    return fail(ANVIL_E_NOMEM, "layernorm_bwd: no memory for %lld x %lld partial sums",
                (long long)blocks, (long long)cols);
  }
  double* pw = partial_weight.data();
  double* pb = dbias ? partial_bias.data() : nullptr;
  const bool parallel = rows * cols > kParallelMin;

  // Each block's partial sums are its own, whichever thread computes it (parallel.h).
  const bool accumulate = p->accumulate_dx != 0;
  parallel_tasks(blocks, parallel ? max_threads() : 1, [&](int64_t b, int) {
    const int64_t end = std::min(rows, (b + 1) * block_rows);
    std::vector<float> row(accumulate ? cols : 0);
    for (int64_t r = b * block_rows; r < end; r++) {
      layernorm_row_bwd(x + r * cols, weight, dy + r * cols, rstd[r], dx + r * cols, pw + b * cols,
                        pb ? pb + b * cols : nullptr, cols, accumulate ? row.data() : nullptr);
    }
  });

  // Column ranges in whole cache lines (16 floats), so no two threads write the same line; only worth a
  // fan-out when the partial sums are large (GPT-2 widths), not at cpu-small's 128 columns.
  const int64_t lines = (cols + 15) / 16;
  parallel_range(lines, std::max<int64_t>(2, kParallelMin / (16 * blocks)), [&](int64_t l0, int64_t l1) {
    const int64_t begin = std::min(cols, l0 * 16), end = std::min(cols, l1 * 16);
    add_block_sums(dweight, pw, blocks, cols, begin, end, p->overwrite_params != 0);
    if (dbias) add_block_sums(dbias, pb, blocks, cols, begin, end, p->overwrite_params != 0);
  });
  return ANVIL_OK;
}
