// vmath.h: a branch-free fp32 exp that GCC auto-vectorizes inside ANVIL_MULTIVERSION loops. libm's
// expf is a scalar call that blocks vectorization (libmvec would need -ffast-math and one more runtime
// dependency), so the kernels that exponentiate (gelu, softmax, cross_entropy) use this instead.
//
//   exp_f32(x): Cephes range reduction + degree-6 polynomial, within 1 ulp of exp for x in
//     [-86.5, 88.72]; 0 below (the true value is < 3e-38, so probabilities flush to 0 rather than to
//     denormals), +inf above; NaN propagates.
#pragma once

#include <cstdint>

namespace anvil {

// Branch-free select and clamp. A plain `c ? a : b` whose arm is computed, or whose arm is a constant
// that later math folds, becomes a branch under GCC's default -ftrapping-math (PRE splits the paths),
// and the loop then vectorizes only for AVX-512 (masked ops). Mask arithmetic on the bits cannot be
// split, so loops built from these vectorize in every ANVIL_MULTIVERSION clone.
__attribute__((always_inline)) inline float select_f32(bool c, float a, float b) {
  uint32_t mask = -static_cast<uint32_t>(c);
  uint32_t bits = (__builtin_bit_cast(uint32_t, a) & mask) | (__builtin_bit_cast(uint32_t, b) & ~mask);
  return __builtin_bit_cast(float, bits);
}

// x limited to [lo, hi]; NaN stays NaN.
__attribute__((always_inline)) inline float clamp_f32(float x, float lo, float hi) {
  return select_f32(x < lo, lo, select_f32(x > hi, hi, x));
}

__attribute__((always_inline)) inline float exp_f32(float x) {
  constexpr float kLo = -86.5f;  // keeps the 2^(n-1) exponent field >= 1 (n >= -125)
  constexpr float kHi = 88.72283935546875f;
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  float xc = clamp_f32(x, kLo, kHi);
  // n = round(x / ln2), r = x - n ln2 (ln2 split into an exact high part and a low correction).
  float t = xc * 1.44269504088896341f + kMagic;
  float n = t - kMagic;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as 2 * 2^(n-1): n = 128 (x near ln(FLT_MAX)) has no exponent field of its own, and p * 2 goes
  // first so that no intermediate is denormal (denormals cost ~100 cycles each on x86).
  uint32_t ni = __builtin_bit_cast(uint32_t, t) - __builtin_bit_cast(uint32_t, kMagic);
  float scale = __builtin_bit_cast(float, (ni + 126u) << 23);
  // Out of range, the result is scaled to 0 or inf rather than replaced.
  float range = select_f32(x < kLo, 0.0f, select_f32(x > kHi, __builtin_inff(), 1.0f));
  return p * 2.0f * scale * range;
}

}  // namespace anvil
