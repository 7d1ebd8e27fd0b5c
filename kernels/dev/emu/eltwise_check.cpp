// kernels/dev/emu/eltwise_check.cpp: eltwise.cu under the CPU emulator, for the bf16 step's residual add:
// ADD with b_bf16 (out fp32 = a fp32 + float(b bf16)) bit for bit against a + widen(b) done here, on the
// 16-byte path and, at odd offsets, the scalar one, at sizes around the 4-element pack; nothing outside
// out written; the plain fp32 and bf16 ADD unchanged (a + b, rounded once for bf16); b_bf16 refused for a
// bf16 call and for other ops. Built and run by kernels/dev/emu/run_emu.sh eltwise.
#include "../../eltwise.cu"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check_kit.h"

namespace {

void run(int64_t n, int offset, std::mt19937& rng) {
  const std::string label = "n " + std::to_string(n) + " offset " + std::to_string(offset);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const int pad = 8;
  float *a, *out;
  uint16_t *b, *b16, *out16;
  cudaMalloc(reinterpret_cast<void**>(&a), (n + pad) * sizeof(float));
  cudaMalloc(reinterpret_cast<void**>(&out), (n + pad) * sizeof(float));
  cudaMalloc(reinterpret_cast<void**>(&b), (n + pad) * sizeof(uint16_t));
  cudaMalloc(reinterpret_cast<void**>(&b16), (n + pad) * sizeof(uint16_t));
  cudaMalloc(reinterpret_cast<void**>(&out16), (n + pad) * sizeof(uint16_t));
  for (int64_t i = 0; i < n + pad; ++i) {
    a[i] = normal(rng);
    b[i] = rne(normal(rng));
    b16[i] = rne(normal(rng));
    out[i] = -5.0f;
    out16[i] = 0x7FC1;
  }
  const auto at = [](const void* p, int off, int size) { return reinterpret_cast<int64_t>(p) + off * size; };
  anvil_eltwise_params p{};
  p.op = ANVIL_ADD;
  p.a = at(a, offset, 4);
  p.b = at(b, offset, 2);
  p.out = at(out, offset, 4);
  p.n = n;
  p.alpha = 1.0;
  p.b_bf16 = 1;
  if (anvil_cuda_eltwise_fwd(&p, ANVIL_F32, 0) != 0) fail(label + ": widened add " + anvil_last_error());
  for (int64_t i = 0; i < n; ++i) {
    ++checks;
    const float want = a[offset + i] + widen(b[offset + i]);
    if (memcmp(&want, &out[offset + i], 4) != 0) {
      fail(label + ": widened add at " + std::to_string(i));
      break;
    }
  }
  for (int64_t i = 0; i < n + pad; ++i) {
    if (i >= offset && i < offset + n) continue;
    ++checks;
    if (out[i] != -5.0f) fail(label + ": widened add wrote outside out at " + std::to_string(i));
  }
  // The plain ADD, fp32 then bf16 (b16 + b), as before the change.
  p.b_bf16 = 0;
  p.b = at(a, offset, 4);
  if (anvil_cuda_eltwise_fwd(&p, ANVIL_F32, 0) != 0) fail(label + ": fp32 add " + anvil_last_error());
  for (int64_t i = 0; i < n; ++i) {
    ++checks;
    if (out[offset + i] != a[offset + i] + a[offset + i]) {
      fail(label + ": fp32 add at " + std::to_string(i));
      break;
    }
  }
  p.a = at(b16, offset, 2);
  p.b = at(b, offset, 2);
  p.out = at(out16, offset, 2);
  if (anvil_cuda_eltwise_fwd(&p, ANVIL_BF16, 0) != 0) fail(label + ": bf16 add " + anvil_last_error());
  for (int64_t i = 0; i < n; ++i) {
    ++checks;
    if (out16[offset + i] != rne(widen(b16[offset + i]) + widen(b[offset + i]))) {
      fail(label + ": bf16 add at " + std::to_string(i));
      break;
    }
  }
  p.b_bf16 = 1;
  ++checks;
  if (anvil_cuda_eltwise_fwd(&p, ANVIL_BF16, 0) == 0) fail(label + ": b_bf16 with a bf16 call was accepted");
  p.op = ANVIL_MUL;
  ++checks;
  if (anvil_cuda_eltwise_fwd(&p, ANVIL_F32, 0) == 0) fail(label + ": b_bf16 with MUL was accepted");
  cudaFree(a);
  cudaFree(out);
  cudaFree(b);
  cudaFree(b16);
  cudaFree(out16);
}

}  // namespace

int main() {
  std::mt19937 rng(3);
  for (int64_t n : {1, 3, 4, 5, 8, 9, 33, 1000})
    for (int offset : {0, 1, 4}) run(n, offset, rng);
  printf("eltwise: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
