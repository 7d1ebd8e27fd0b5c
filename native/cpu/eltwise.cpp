// eltwise.cpp: add, mul, scale (forward and backward) and in-place axpy over n contiguous fp32 values.
//   ADD   out = a + b      da = dout, db = dout
//   MUL   out = a * b      da = dout * b, db = dout * a
//   SCALE out = alpha * a  da = alpha * dout
//   AXPY  out += alpha * a (no backward)
// Backward writes (=) or accumulates (+=) by the accumulate flag. Memory-bound: one pass per output.
#include "common.h"
#include "parallel.h"

ANVIL_PARAMS_CHECK(anvil_eltwise_params, ANVIL_ELTWISE_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kParallelMin = 1 << 15;

// dst = s * x (+ dst when accumulate); s * x * y when y is given. One thread's range.
ANVIL_MULTIVERSION
void scaled_span(float* dst, const float* x, const float* y, float s, int64_t n, bool accumulate) {
  for (int64_t i = 0; i < n; i++) {
    float v = s * x[i] * (y ? y[i] : 1.0f);
    dst[i] = accumulate ? dst[i] + v : v;
  }
}

ANVIL_MULTIVERSION
void add_span(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void scaled_product(float* dst, const float* x, const float* y, float s, int64_t n, bool accumulate) {
  parallel_range(n, kParallelMin, [&](int64_t b, int64_t e) {
    scaled_span(dst + b, x + b, y ? y + b : nullptr, s, e - b, accumulate);
  });
}

void add(float* out, const float* a, const float* b, int64_t n) {
  parallel_range(n, kParallelMin, [&](int64_t lo, int64_t hi) { add_span(out + lo, a + lo, b + lo, hi - lo); });
}

}  // namespace

extern "C" int anvil_cpu_eltwise_fwd(const anvil_eltwise_params* p) {
  if (p->b_bf16) return fail(ANVIL_E_UNSUPPORTED, "eltwise_fwd: a bf16 operand on the fp32-only CPU backend");
  float* out = ptr<float>(p->out);
  const float* a = ptr<const float>(p->a);
  const float* b = ptr<const float>(p->b);
  const float alpha = static_cast<float>(p->alpha);
  switch (p->op) {
    case ANVIL_ADD: add(out, a, b, p->n); return ANVIL_OK;
    case ANVIL_MUL: scaled_product(out, a, b, 1.0f, p->n, false); return ANVIL_OK;
    case ANVIL_SCALE: scaled_product(out, a, nullptr, alpha, p->n, false); return ANVIL_OK;
    case ANVIL_AXPY: scaled_product(out, a, nullptr, alpha, p->n, true); return ANVIL_OK;
    default: return fail(ANVIL_E_INVALID, "eltwise_fwd: unknown op %lld", (long long)p->op);
  }
}

extern "C" int anvil_cpu_eltwise_bwd(const anvil_eltwise_params* p) {
  const float* dout = ptr<const float>(p->dout);
  float* da = ptr<float>(p->da);
  float* db = ptr<float>(p->db);
  const bool acc = p->accumulate != 0;
  switch (p->op) {
    case ANVIL_ADD:
      if (da) scaled_product(da, dout, nullptr, 1.0f, p->n, acc);
      if (db) scaled_product(db, dout, nullptr, 1.0f, p->n, acc);
      return ANVIL_OK;
    case ANVIL_MUL:
      if (da) scaled_product(da, dout, ptr<const float>(p->b), 1.0f, p->n, acc);
      if (db) scaled_product(db, dout, ptr<const float>(p->a), 1.0f, p->n, acc);
      return ANVIL_OK;
    case ANVIL_SCALE:
      if (da) scaled_product(da, dout, nullptr, static_cast<float>(p->alpha), p->n, acc);
      return ANVIL_OK;
    default: return fail(ANVIL_E_INVALID, "eltwise_bwd: op %lld has no backward", (long long)p->op);
  }
}
