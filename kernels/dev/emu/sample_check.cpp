// kernels/dev/emu/sample_check.cpp: anvil_cuda_sample_fwd (sample.cu) under the CPU emulator.
//   argmax: against a plain scan (first maximum), fp32 and bf16, ties, -inf and NaN entries, vocab 1..1000,
//     ld > vocab (padding columns hold the largest values and must be ignored);
//   top-k: every id drawn is among the row's k largest; k = 1 equals argmax; top_k > vocab still works;
//   distributions: 768 draws from one row (different offsets) over a vocabulary of 6, for the whole
//     vocabulary and for top-3, against softmax(logits / T) within 5 standard deviations per id, and no
//     draw outside the top 3; the same (seed, offset) gives the same ids.
// Built and run by kernels/dev/emu/run_emu.sh sample.
#include "../../sample.cu"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace {

int failures = 0, checks = 0;
std::mt19937 rng(3);

void fail(const std::string& what) {
  ++failures;
  printf("  FAIL %s\n", what.c_str());
}

// rows x ld logits on the emulated device, fp32 or bf16 (rounded values kept in host for the reference)
struct Logits {
  std::vector<float> host;
  void* dev = nullptr;
  bool bf16;
  Logits(const std::vector<float>& values, bool bf16_) : host(values), bf16(bf16_) {
    cudaMalloc(&dev, values.size() * (bf16 ? 2 : 4));
    for (size_t i = 0; i < values.size(); ++i) {
      if (bf16) {
        static_cast<__nv_bfloat16*>(dev)[i] = __float2bfloat16(values[i]);
        host[i] = __bfloat162float(static_cast<__nv_bfloat16*>(dev)[i]);
      } else {
        static_cast<float*>(dev)[i] = values[i];
      }
    }
  }
  ~Logits() { cudaFree(dev); }
};

std::vector<int> sample(const Logits& l, int64_t rows, int64_t vocab, int64_t ld, int64_t top_k, double temperature,
                        int64_t seed, int64_t offset) {
  int* out = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&out), std::max<int64_t>(rows, 1) * 4);
  for (int64_t r = 0; r < rows; ++r) out[r] = -7;
  const anvil_sample_params p{reinterpret_cast<int64_t>(l.dev), reinterpret_cast<int64_t>(out), rows, vocab, ld, top_k,
                              temperature, seed, offset};
  if (anvil_cuda_sample_fwd(&p, l.bf16 ? ANVIL_BF16 : ANVIL_F32, 0) != 0) fail(std::string("sample: ") + anvil_last_error());
  std::vector<int> ids(out, out + rows);
  cudaFree(out);
  return ids;
}

void argmax_cases(bool bf16) {
  for (int64_t vocab : {1, 7, 300, 1000}) {
    const int64_t rows = 5, ld = vocab + 3;
    std::normal_distribution<float> normal(0.0f, 2.0f);
    std::vector<float> v(rows * ld);
    for (auto& e : v) e = normal(rng);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = vocab; c < ld; ++c) v[r * ld + c] = 1e30f;  // padding columns: never scored
    if (vocab > 5) {
      v[1 * ld + 2] = v[1 * ld + vocab - 1] = 50.0f;  // a tie: the lower index wins
      v[2 * ld + 0] = NAN;                             // NaN never wins
      v[3 * ld + 3] = INFINITY;
    }
    for (int64_t c = 0; c < vocab; ++c) v[4 * ld + c] = -INFINITY;  // all -inf: index 0
    Logits l(v, bf16);
    for (int64_t top_k : {1, 0}) {
      const std::vector<int> ids = sample(l, rows, vocab, ld, top_k, top_k == 0 ? 0.0 : 1.0, 1, 0);
      for (int64_t r = 0; r < rows; ++r) {
        int want = 0;
        for (int64_t c = 1; c < vocab; ++c)
          if (l.host[r * ld + c] > l.host[r * ld + want] || std::isnan(l.host[r * ld + want])) want = static_cast<int>(c);
        ++checks;
        if (ids[r] != want)
          fail(std::string(bf16 ? "bf16" : "f32") + " argmax vocab " + std::to_string(vocab) + " row " + std::to_string(r) +
               ": " + std::to_string(ids[r]) + ", expected " + std::to_string(want));
      }
    }
  }
}

void top_k_cases() {
  for (int64_t vocab : {7, 300, 1000}) {
    for (int64_t k : {2, 5, 50}) {
      const int64_t rows = 6;
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> v(rows * vocab);
      for (auto& e : v) e = normal(rng);
      Logits l(v, false);
      const std::vector<int> ids = sample(l, rows, vocab, vocab, k, 1.5, 11, 100);
      const std::vector<int> again = sample(l, rows, vocab, vocab, k, 1.5, 11, 100);
      ++checks;
      if (ids != again) fail("top-k draws differ for the same seed and offset");
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<float> row(v.begin() + r * vocab, v.begin() + (r + 1) * vocab);
        std::vector<float> sorted = row;
        std::sort(sorted.begin(), sorted.end(), std::greater<float>());
        const float kth = sorted[std::min<int64_t>(k, vocab) - 1];
        ++checks;
        if (ids[r] < 0 || ids[r] >= vocab || row[ids[r]] < kth)
          fail("top-" + std::to_string(k) + " vocab " + std::to_string(vocab) + " drew id " + std::to_string(ids[r]) +
               " outside the top k");
      }
    }
  }
}

void distribution(int64_t top_k) {
  const std::vector<float> row = {1.0f, 0.2f, -0.5f, 0.9f, 2.0f, -3.0f};
  const int64_t vocab = 6, draws = 768;
  const double temperature = 0.8;
  std::vector<float> v;
  for (int64_t d = 0; d < draws; ++d) v.insert(v.end(), row.begin(), row.end());
  Logits l(v, false);
  const std::vector<int> ids = sample(l, draws, vocab, vocab, top_k, temperature, 1234, 0);
  std::vector<int> order = {0, 1, 2, 3, 4, 5};
  std::sort(order.begin(), order.end(), [&](int a, int b) { return row[a] > row[b]; });
  std::vector<double> p(vocab, 0.0);
  const int64_t kept = top_k == 0 ? vocab : top_k;
  double z = 0;
  for (int64_t j = 0; j < kept; ++j) z += std::exp(row[order[j]] / temperature);
  for (int64_t j = 0; j < kept; ++j) p[order[j]] = std::exp(row[order[j]] / temperature) / z;
  std::vector<int> counts(vocab, 0);
  for (int id : ids) {
    if (id < 0 || id >= vocab) {
      fail("distribution: id " + std::to_string(id) + " out of range");
      return;
    }
    ++counts[id];
  }
  for (int64_t c = 0; c < vocab; ++c) {
    const double expect = p[c] * draws, sigma = std::sqrt(draws * p[c] * (1 - p[c]));
    ++checks;
    if (std::fabs(counts[c] - expect) > 5 * sigma + (p[c] == 0 ? 0 : 1))
      fail("distribution top_k " + std::to_string(top_k) + ": id " + std::to_string(c) + " drawn " +
           std::to_string(counts[c]) + " times, expected " + std::to_string(expect) + " +- " + std::to_string(sigma));
  }
}

}  // namespace

int main() {
  printf("anvil_cuda_sample_fwd: argmax, top-k, distributions\n");
  argmax_cases(false);
  argmax_cases(true);
  top_k_cases();
  distribution(0);
  distribution(3);
  ++checks;
  const anvil_sample_params bad{0, 0, 1, 10, 10, ANVIL_SAMPLE_MAX_TOP_K + 1, 1.0, 0, 0};
  if (anvil_cuda_sample_fwd(&bad, ANVIL_F32, 0) != ANVIL_E_INVALID) fail("top_k above the maximum was accepted");
  printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
