// swiglu.cpp: the SiLU-gated product of Llama's MLP over n contiguous fp32 values, fwd and bwd.
//   fwd: out (n) = silu(a) * b,  silu(a) = a sigmoid(a)       (a = gate_proj(x), b = up_proj(x))
//   bwd: da (n) = dout * b * silu'(a),  silu'(a) = s (1 + a (1 - s)),  s = sigmoid(a)
//        db (n) = dout * silu(a)
//        written (=), or added (+=) when accumulate; da or db may be 0 (not wanted).
//
// sigmoid(a) = 1 / (1 + exp(-a)) with the vectorizable exp of vmath.h; 1 - s is taken as e s
// (e = exp(-a)) where s > 1/2, so it keeps its relative accuracy for large a instead of cancelling.
// Elementwise, so the result does not depend on the thread count.
#include <cstdint>

#include "common.h"
#include "vmath.h"

ANVIL_PARAMS_CHECK(anvil_swiglu_params, ANVIL_SWIGLU_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kParallelMin = 1 << 14;

struct Sigmoid {
  float s;            // sigmoid(a)
  float one_minus_s;  // 1 - sigmoid(a), without cancellation
};

__attribute__((always_inline)) inline Sigmoid sigmoid(float a) {
  float e = exp_f32(-a);
  float s = 1.0f / (1.0f + e);
  return {s, select_f32(s < 0.5f, 1.0f - s, e * s)};
}

ANVIL_MULTIVERSION
void swiglu_fwd(const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) out[i] = a[i] * sigmoid(a[i]).s * b[i];
}

template <bool kAccumulate>
ANVIL_MULTIVERSION void swiglu_bwd(const float* a, const float* b, const float* dout, float* da, float* db,
                                   int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) {
    Sigmoid k = sigmoid(a[i]);
    if (da) {
      float g = dout[i] * b[i] * (k.s * (1.0f + a[i] * k.one_minus_s));
      da[i] = kAccumulate ? da[i] + g : g;
    }
    if (db) {
      float g = dout[i] * (a[i] * k.s);
      db[i] = kAccumulate ? db[i] + g : g;
    }
  }
}

}  // namespace

extern "C" int anvil_cpu_swiglu_fwd(const anvil_swiglu_params* p) {
  if (p->n < 0) return fail(ANVIL_E_INVALID, "swiglu_fwd: negative n %lld", (long long)p->n);
  swiglu_fwd(ptr<const float>(p->a), ptr<const float>(p->b), ptr<float>(p->out), p->n);
  return ANVIL_OK;
}

extern "C" int anvil_cpu_swiglu_bwd(const anvil_swiglu_params* p) {
  if (p->n < 0) return fail(ANVIL_E_INVALID, "swiglu_bwd: negative n %lld", (long long)p->n);
  const float* a = ptr<const float>(p->a);
  const float* b = ptr<const float>(p->b);
  const float* dout = ptr<const float>(p->dout);
  float* da = ptr<float>(p->da);
  float* db = ptr<float>(p->db);
  if (p->accumulate) {
    swiglu_bwd<true>(a, b, dout, da, db, p->n);
  } else {
    swiglu_bwd<false>(a, b, dout, da, db, p->n);
  }
  return ANVIL_OK;
}
