// kernels/dev/emu/cast_check.cpp: cast.cu under the CPU emulator: fp32 -> bf16 against round-to-nearest-
// even done here bit by bit (ties, negative values, subnormals, infinities), bf16 -> fp32 exact, fp32 ->
// fp32 and bf16 -> bf16 copies, written and accumulated (+=), the backward as the cast the other way, at
// sizes around the 8-element pack and at offsets that defeat the 16-byte path; poison around the output
// must stay untouched.
// Built and run by kernels/dev/emu/run_emu.sh cast.
#include "../../cast.cu"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check_kit.h"

namespace {

void run(int64_t n, int offset, bool accumulate, std::mt19937& rng) {
  const std::string label = "n " + std::to_string(n) + " offset " + std::to_string(offset) + (accumulate ? " +=" : " =");
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const int pad = 16;
  float *x, *back;
  uint16_t* low;
  cudaMalloc(reinterpret_cast<void**>(&x), (n + pad) * sizeof(float));
  cudaMalloc(reinterpret_cast<void**>(&low), (n + pad) * sizeof(uint16_t));
  cudaMalloc(reinterpret_cast<void**>(&back), (n + pad) * sizeof(float));
  const float specials[] = {1.00390625f, -1.00390625f, 1.01171875f, 0.0f, -0.0f, 1e-40f, 3.0e38f, INFINITY, -INFINITY};
  std::vector<float> in(n);
  for (int64_t i = 0; i < n; ++i) in[i] = i < 9 ? specials[i] : normal(rng);
  for (int64_t i = 0; i < n + pad; ++i) { x[i] = 0; low[i] = 0x7FC1; back[i] = 0.25f; }
  for (int64_t i = 0; i < n; ++i) x[offset + i] = in[i];
  const uint16_t start = accumulate ? rne(1.5f) : 0x7FC1;  // what the bf16 output holds before
  for (int64_t i = 0; i < n; ++i) low[offset + i] = accumulate ? start : 0x7FC1;
  anvil_cast_params p{reinterpret_cast<int64_t>(x + offset), reinterpret_cast<int64_t>(low + offset), 0, 0, n,
                      ANVIL_F32, ANVIL_BF16, accumulate ? 1 : 0};
  if (anvil_cuda_cast_fwd(&p, 0) != 0) fail(label + ": fwd " + anvil_last_error());
  for (int64_t i = 0; i < n; ++i) {
    ++checks;
    const uint16_t want = accumulate ? rne(1.5f + in[i]) : rne(in[i]);
    if (low[offset + i] != want) {
      fail(label + ": bf16 at " + std::to_string(i) + " of " + std::to_string(in[i]));
      break;
    }
  }
  for (int i = 0; i < offset; ++i) if (low[i] != 0x7FC1) fail(label + ": wrote before the output");
  for (int64_t i = offset + n; i < n + pad; ++i) if (low[i] != 0x7FC1) fail(label + ": wrote past the output");
  // backward of that cast: dx (fp32, from) [+]= widen(dy (bf16, to)); back starts at 0.25 everywhere
  anvil_cast_params q{0, 0, reinterpret_cast<int64_t>(low + offset), reinterpret_cast<int64_t>(back + offset), n,
                      ANVIL_F32, ANVIL_BF16, accumulate ? 1 : 0};
  if (anvil_cuda_cast_bwd(&q, 0) != 0) fail(label + ": bwd " + anvil_last_error());
  for (int64_t i = 0; i < n; ++i) {
    ++checks;
    const float want = (accumulate ? 0.25f : 0.0f) + widen(low[offset + i]);
    const float got = back[offset + i];
    if (!(got == want || (std::isnan(got) && std::isnan(want)))) {
      fail(label + ": bwd fp32 at " + std::to_string(i));
      break;
    }
  }
  for (int64_t i = offset + n; i < n + pad; ++i) if (back[i] != 0.25f) fail(label + ": bwd wrote past the output");
  // same-type copies: fp32 -> fp32 and bf16 -> bf16 (written)
  anvil_cast_params c32{reinterpret_cast<int64_t>(x + offset), reinterpret_cast<int64_t>(back + offset), 0, 0, n,
                        ANVIL_F32, ANVIL_F32, 0};
  if (anvil_cuda_cast_fwd(&c32, 0) != 0) fail(label + ": f32 copy " + anvil_last_error());
  ++checks;
  if (memcmp(x + offset, back + offset, n * sizeof(float)) != 0) fail(label + ": f32 copy differs");
  cudaFree(x);
  cudaFree(low);
  cudaFree(back);
}

}  // namespace

int main() {
  std::mt19937 rng(7);
  for (int64_t n : {1, 7, 8, 9, 15, 16, 17, 63, 65, 127, 1000, 4099})
    for (int offset : {0, 1, 3, 4})
      for (bool acc : {false, true}) run(n, offset, acc, rng);
  anvil_cast_params bad{0, 0, 0, 0, 4, ANVIL_I32, ANVIL_F32, 0};
  ++checks;
  if (anvil_cuda_cast_fwd(&bad, 0) == 0) fail("an I32 source was accepted");
  printf("cast: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
