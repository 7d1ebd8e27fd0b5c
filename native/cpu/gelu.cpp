// gelu.cpp: GELU over n contiguous fp32 values, forward and backward.
//   fwd: y (n) = gelu(x (n))
//   bwd: dx (n) = dy * gelu'(x)   written (=), or added (+=) when accumulate
//   approximate=1, tanh form (GPT-2): gelu(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
//   approximate=0, erf form (BERT):   gelu(x) = x Phi(x), Phi the standard normal CDF
//
// Both forms are written so that their negative tails keep relative accuracy, where the textbook
// 0.5 x (1 + tanh) and 0.5 x (1 + erf) cancel to nothing:
//   tanh form: 0.5 (1 + tanh(u)) = sigmoid(2u) = 1 / (1 + exp(-2u)).
//   erf form:  Phi(-|x|) = 0.5 exp(-x^2/2) g(|x|/sqrt2) with g(z) = exp(z^2) erfc(z), which is smooth:
//     g(z) = (1 + P(q)) / (1 + 2z), q = (z-2)/(z+2) in [-1, 1), P of degree 10 fitted by weighted
//     least squares to 30-digit erfc on 2000 Chebyshev nodes for z in [0, 14] (the substitution is
//     N. Juffa's); 2.5 ulp in fp32. exp(-x^2/2) takes x^2 exactly as a float pair.
// Relative error stays within a few fp32 ulp wherever the result is not denormal. Elementwise, so the
// result does not depend on the thread count.
#include <cstdint>

#include "common.h"
#include "parallel.h"
#include "vmath.h"

ANVIL_PARAMS_CHECK(anvil_gelu_params, ANVIL_GELU_SLOTS);

using namespace anvil;

namespace {

// ~30 flops per element: worth threads sooner than a plain copy.
constexpr int64_t kParallelMin = 1 << 14;

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;
// Beyond these |x| the functions are x (or -0) and their derivatives 1 (or 0) in fp32: GELU there is
// below 1e-45 in magnitude. Selecting them exactly also gives gelu(+-inf) = +inf / -0, gelu'(+-inf) =
// 1 / 0, where the formulas would compute inf * 0.
constexpr float kTanhEdge = 20.0f;
constexpr float kErfEdge = 14.0f;

struct Tanh {
  float s;            // sigmoid(2u) = 0.5 (1 + tanh(u))
  float one_minus_s;  // without cancellation
  float du;           // du/dx
};

__attribute__((always_inline)) inline Tanh tanh_terms(float x) {
  float x2 = x * x;
  float u = kSqrt2OverPi * (x + kCubic * x2 * x);
  float e = exp_f32(-2.0f * u);
  float s = 1.0f / (1.0f + e);
  // 1 - s = e s: exact-ish while e is finite; 1 - s itself is exact enough once s < 0.5.
  return {s, select_f32(s < 0.5f, 1.0f - s, e * s), kSqrt2OverPi * (1.0f + 3.0f * kCubic * x2)};
}

struct Normal {
  float cdf;  // Phi(x)
  float pdf;  // phi(x)
};

__attribute__((always_inline)) inline Normal normal_terms(float x) {
  // |x|, at most kErfEdge (beyond, exp(-x^2/2) is 0 in fp32). NaN passes.
  float xa = __builtin_bit_cast(float, __builtin_bit_cast(uint32_t, x) & 0x7FFFFFFFu);
  xa = select_f32(xa > kErfEdge, kErfEdge, xa);
  // x^2 = s + t exactly (Dekker: a 12-bit high half squares without rounding).
  float s = xa * xa;
  float hi = __builtin_bit_cast(float, __builtin_bit_cast(uint32_t, xa) & 0xFFFFF000u);
  float lo = xa - hi;
  float t = ((hi * hi - s) + 2.0f * hi * lo) + lo * lo;
  float gauss = exp_f32(-0.5f * s) * (1.0f - 0.5f * t);  // exp(-x^2/2)
  float z = xa * kInvSqrt2;
  float q = (z - 2.0f) / (z + 2.0f);
  float p = 6.195368769e-05f;
  p = p * q + -2.960446000e-04f;
  p = p * q + -1.255364157e-03f;
  p = p * q + 1.207052963e-03f;
  p = p * q + 8.619337343e-03f;
  p = p * q + -8.023397066e-03f;
  p = p * q + -5.419775844e-02f;
  p = p * q + 1.640506536e-01f;
  p = p * q + -1.660321057e-01f;
  p = p * q + -9.276381135e-02f;
  p = p * q + 2.769784033e-01f;
  float g = (1.0f + p) / (1.0f + 2.0f * z);  // exp(z^2) erfc(z)
  float tail = 0.5f * gauss * g;             // Phi(-|x|)
  return {select_f32(x < 0.0f, tail, 1.0f - tail), gauss * kInvSqrt2Pi};
}

// y, or dy/dx, outside [-edge, edge]; NaN falls through to the formula.
__attribute__((always_inline)) inline float edges(float x, float edge, float below, float above,
                                                  float inside) {
  return select_f32(x < -edge, below, select_f32(x > edge, above, inside));
}

ANVIL_MULTIVERSION
void gelu_tanh_fwd(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = edges(x[i], kTanhEdge, -0.0f, x[i], x[i] * tanh_terms(x[i]).s);
}

ANVIL_MULTIVERSION
void gelu_erf_fwd(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = edges(x[i], kErfEdge, -0.0f, x[i], x[i] * normal_terms(x[i]).cdf);
}

// d/dx x sigmoid(2u) = s + x s (1 - s) 2 du.
template <bool kAccumulate>
ANVIL_MULTIVERSION void gelu_tanh_bwd(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    Tanh k = tanh_terms(x[i]);
    float slope = edges(x[i], kTanhEdge, 0.0f, 1.0f, k.s + x[i] * k.s * k.one_minus_s * 2.0f * k.du);
    float grad = dy[i] * slope;
    dx[i] = kAccumulate ? dx[i] + grad : grad;
  }
}

// d/dx x Phi(x) = Phi(x) + x phi(x).
template <bool kAccumulate>
ANVIL_MULTIVERSION void gelu_erf_bwd(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    Normal k = normal_terms(x[i]);
    float slope = edges(x[i], kErfEdge, 0.0f, 1.0f, k.cdf + x[i] * k.pdf);
    float grad = dy[i] * slope;
    dx[i] = kAccumulate ? dx[i] + grad : grad;
  }
}

}  // namespace

extern "C" int anvil_cpu_gelu_fwd(const anvil_gelu_params* p) {
  if (p->n < 0) return fail(ANVIL_E_INVALID, "gelu_fwd: negative n %lld", (long long)p->n);
  const float* x = ptr<const float>(p->x);
  float* y = ptr<float>(p->y);
  const bool tanh = p->approximate != 0;
  parallel_range(p->n, kParallelMin, [&](int64_t b, int64_t e) {
    tanh ? gelu_tanh_fwd(x + b, y + b, e - b) : gelu_erf_fwd(x + b, y + b, e - b);
  });
  return ANVIL_OK;
}

extern "C" int anvil_cpu_gelu_bwd(const anvil_gelu_params* p) {
  if (p->n < 0) return fail(ANVIL_E_INVALID, "gelu_bwd: negative n %lld", (long long)p->n);
  const float* x = ptr<const float>(p->x);
  const float* dy = ptr<const float>(p->dy);
  float* dx = ptr<float>(p->dx);
  const bool tanh = p->approximate != 0, acc = p->accumulate != 0;
  parallel_range(p->n, kParallelMin, [&](int64_t b, int64_t e) {
    const int64_t n = e - b;
    if (tanh) {
      acc ? gelu_tanh_bwd<true>(x + b, dy + b, dx + b, n) : gelu_tanh_bwd<false>(x + b, dy + b, dx + b, n);
    } else {
      acc ? gelu_erf_bwd<true>(x + b, dy + b, dx + b, n) : gelu_erf_bwd<false>(x + b, dy + b, dx + b, n);
    }
  });
  return ANVIL_OK;
}
