// kernels/dev/emu/cross_entropy_check.cpp: cross_entropy.cu under the CPU emulator: the backward with the
// upstream gradient read from device memory (anvil_cuda_cross_entropy_bwd_dgrad) must write bit for bit
// what the host-gradient backward writes, and both must match the CPU library's backward (fp32; bound
// 1e-6 |ref| + 1e-9); fp32 and bf16 storage (bf16: the two CUDA paths compared only), an ignored row,
// padding columns, a row stride that defeats the 16-byte packs.
// Built and run by kernels/dev/emu/run_emu.sh cross_entropy.
#include "../../cross_entropy.cu"

#include <random>
#include <string>
#include <vector>

#include "check_kit.h"

namespace {

std::mt19937 rng(5);

template <typename T>
void run(int64_t rows, int64_t vocab, int64_t stride, double normalizer, float upstream) {
  const bool bf16 = sizeof(T) == 2;
  const std::string label = std::string(bf16 ? "bf16" : "f32") + " rows " + std::to_string(rows) + " vocab " +
                            std::to_string(vocab) + " stride " + std::to_string(stride);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> host(rows * stride);
  for (auto& v : host) v = normal(rng);
  T *logits, *d_host, *d_dev;
  int* targets;
  float* dgrad;
  cudaMalloc(reinterpret_cast<void**>(&logits), host.size() * sizeof(T));
  cudaMalloc(reinterpret_cast<void**>(&d_host), host.size() * sizeof(T));
  cudaMalloc(reinterpret_cast<void**>(&d_dev), host.size() * sizeof(T));
  cudaMalloc(reinterpret_cast<void**>(&targets), rows * sizeof(int));
  cudaMalloc(reinterpret_cast<void**>(&dgrad), sizeof(float));
  for (size_t i = 0; i < host.size(); ++i) {
    logits[i] = static_cast<T>(host[i]);
    host[i] = static_cast<float>(logits[i]);
  }
  for (int64_t r = 0; r < rows; ++r) targets[r] = static_cast<int>((r * 37) % vocab);
  targets[rows / 2] = -100;
  *dgrad = upstream;
  anvil_cross_entropy_params p{reinterpret_cast<int64_t>(logits), reinterpret_cast<int64_t>(targets), 0, 0,
                               reinterpret_cast<int64_t>(d_host), rows, vocab, stride, -100, normalizer, upstream};
  const int64_t dtype = bf16 ? ANVIL_BF16 : ANVIL_F32;
  if (anvil_cuda_cross_entropy_bwd(&p, dtype, 0) != 0) fail(label + ": bwd " + anvil_last_error());
  p.dlogits = reinterpret_cast<int64_t>(d_dev);
  p.grad = 1.0;
  if (anvil_cuda_cross_entropy_bwd_dgrad(&p, reinterpret_cast<int64_t>(dgrad), dtype, 0) != 0)
    fail(label + ": bwd_dgrad " + anvil_last_error());
  ++checks;
  if (memcmp(d_host, d_dev, host.size() * sizeof(T)) != 0) fail(label + ": bwd_dgrad differs from bwd");
  if (!bf16) {
    std::vector<float> ref(host.size(), -7.0f);
    const anvil_cross_entropy_params c{reinterpret_cast<int64_t>(host.data()), reinterpret_cast<int64_t>(targets), 0, 0,
                                       reinterpret_cast<int64_t>(ref.data()), rows, vocab, stride, -100, normalizer,
                                       upstream};
    if (anvil_cpu_cross_entropy_bwd(&c) != 0) fail(label + ": cpu bwd " + anvil_last_error());
    ++checks;
    for (size_t i = 0; i < ref.size(); ++i) {
      const float got = reinterpret_cast<const float*>(d_dev)[i];
      if (!(std::fabs(got - ref[i]) <= 1e-6 * std::fabs(ref[i]) + 1e-9)) {
        fail(label + ": [" + std::to_string(i) + "] = " + std::to_string(got) + ", cpu " + std::to_string(ref[i]));
        break;
      }
    }
  }
  ++checks;
  if (anvil_cuda_cross_entropy_bwd_dgrad(&p, 0, dtype, 0) != ANVIL_E_INVALID) fail("a null dgrad was accepted");
  for (void* m : {static_cast<void*>(logits), static_cast<void*>(d_host), static_cast<void*>(d_dev),
                  static_cast<void*>(targets), static_cast<void*>(dgrad)})
    cudaFree(m);
}

}  // namespace

int main() {
  printf("cross_entropy bwd with a device upstream gradient (anvil_cuda_cross_entropy_bwd_dgrad)\n");
  run<float>(5, 1000, 1008, 9.0, 0.75f);
  run<float>(3, 97, 101, 3.0, -2.5f);
  run<__nv_bfloat16>(4, 1000, 1008, 7.0, 1.25f);
  printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
