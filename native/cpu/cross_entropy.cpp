// cross_entropy.cpp: fused log-softmax + negative log-likelihood, forward and backward.
//   logits (rows, row_stride): the first `vocab` columns of each row are real, the rest is padding
//   (50257 -> 50304) and is never read. targets (rows) int32.
//   fwd: losses (rows) written when not 0: lse(row) - logit[target], 0 where target == ignore_index;
//        loss (1 float) written: sum(losses) / normalizer.
//   bwd: dlogits (rows, row_stride) written (=): (softmax - onehot(target)) * grad / normalizer on the
//        real columns, 0 on padding columns and on ignored rows.
//   normalizer: the non-ignored token count of the whole accumulation window (DESIGN.md), > 0.
// Every target is checked before anything is written; one outside [0, vocab) that is not
// ignore_index is ANVIL_E_INVALID. Row maxima, sums and losses are fp64; rows are independent and the
// scalar loss sums them in row order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <vector>

#include "common.h"
#include "parallel.h"
#include "vmath.h"

ANVIL_PARAMS_CHECK(anvil_cross_entropy_params, ANVIL_CROSS_ENTROPY_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kParallelMin = 1 << 15;

struct RowNorm {
  float max;   // max logit
  double sum;  // sum of exp(logit - max)
};

ANVIL_MULTIVERSION
RowNorm row_norm(const float* logits, int64_t vocab) {
  float max = -std::numeric_limits<float>::infinity();
  // NaN is skipped here, and reaches the sum through the exp below.
#pragma omp simd reduction(max : max)
  for (int64_t j = 0; j < vocab; j++) max = logits[j] > max ? logits[j] : max;
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < vocab; j++) sum += exp_f32(logits[j] - max);
  return {max, sum};
}

// d[j] = exp(logit[j] - max) * scale for the real columns, 0 for the padding.
ANVIL_MULTIVERSION
void row_grad(const float* logits, float* d, int64_t vocab, int64_t row_stride, float max, float scale) {
  for (int64_t j = 0; j < vocab; j++) d[j] = exp_f32(logits[j] - max) * scale;
  for (int64_t j = vocab; j < row_stride; j++) d[j] = 0.0f;
}

// -log softmax(row)[target] in fp64.
double row_loss(const float* logits, int64_t vocab, int64_t target) {
  RowNorm n = row_norm(logits, vocab);
  return std::log(n.sum) + static_cast<double>(n.max) - static_cast<double>(logits[target]);
}

int check(const anvil_cross_entropy_params* p, const char* op) {
  if (p->rows < 0 || p->vocab < 1 || p->row_stride < p->vocab) {
    return fail(ANVIL_E_INVALID, "%s: rows %lld, vocab %lld, row_stride %lld: need rows >= 0 and "
                "1 <= vocab <= row_stride", op, (long long)p->rows, (long long)p->vocab,
                (long long)p->row_stride);
  }
  if (!(p->normalizer > 0.0) || !std::isfinite(p->normalizer)) {
    return fail(ANVIL_E_INVALID, "%s: normalizer %g must be finite and > 0", op, p->normalizer);
  }
  const int32_t* targets = ptr<const int32_t>(p->targets);
  for (int64_t r = 0; r < p->rows; r++) {
    const int64_t t = targets[r];
    if (t != p->ignore_index && (t < 0 || t >= p->vocab)) {
      return fail(ANVIL_E_INVALID, "%s: target %lld at row %lld outside [0, vocab) = [0, %lld) and not "
                  "ignore_index %lld", op, (long long)t, (long long)r, (long long)p->vocab,
                  (long long)p->ignore_index);
    }
  }
  return ANVIL_OK;
}

}  // namespace

extern "C" int anvil_cpu_cross_entropy_fwd(const anvil_cross_entropy_params* p) {
  if (int code = check(p, "cross_entropy_fwd")) return code;
  const float* logits = ptr<const float>(p->logits);
  const int32_t* targets = ptr<const int32_t>(p->targets);
  float* losses = ptr<float>(p->losses);
  const int64_t rows = p->rows, vocab = p->vocab, stride = p->row_stride;
  std::vector<double> row_losses;
  try {
    row_losses.resize(static_cast<size_t>(rows));
  } catch (const std::bad_alloc&) {
    return fail(ANVIL_E_NOMEM, "cross_entropy_fwd: no memory for %lld row losses", (long long)rows);
  }
  double* out = row_losses.data();
  parallel_range(rows, std::max<int64_t>(1, kParallelMin / vocab), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++)
      out[r] = targets[r] == p->ignore_index ? 0.0 : row_loss(logits + r * stride, vocab, targets[r]);
  });
  double total = 0.0;
  for (int64_t r = 0; r < rows; r++) total += out[r];
  if (losses) {
    for (int64_t r = 0; r < rows; r++) losses[r] = static_cast<float>(out[r]);
  }
  *ptr<float>(p->loss) = static_cast<float>(total / p->normalizer);
  return ANVIL_OK;
}

extern "C" int anvil_cpu_cross_entropy_bwd(const anvil_cross_entropy_params* p) {
  if (int code = check(p, "cross_entropy_bwd")) return code;
  const float* logits = ptr<const float>(p->logits);
  const int32_t* targets = ptr<const int32_t>(p->targets);
  float* dlogits = ptr<float>(p->dlogits);
  const int64_t rows = p->rows, vocab = p->vocab, stride = p->row_stride;
  const double g = p->grad / p->normalizer;
  parallel_range(rows, std::max<int64_t>(1, kParallelMin / vocab), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      const float* row = logits + r * stride;
      float* d = dlogits + r * stride;
      const int64_t t = targets[r];
      if (t == p->ignore_index) {
        std::fill(d, d + stride, 0.0f);
        continue;
      }
      RowNorm n = row_norm(row, vocab);
      row_grad(row, d, vocab, stride, n.max, static_cast<float>(g / n.sum));
      // The target column in fp64: p_t - 1 cancels when the model is confident.
      const double p_t = std::exp(static_cast<double>(row[t]) - n.max) / n.sum;
      d[t] = static_cast<float>((p_t - 1.0) * g);
    }
  });
  return ANVIL_OK;
}
