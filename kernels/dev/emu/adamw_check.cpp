// kernels/dev/emu/adamw_check.cpp: the fused AdamW of adamw.cu (anvil_cuda_adamw_table, _schedule,
// _multi_fwd) under the CPU emulator, against the CPU library's anvil_cpu_adamw_fwd (the reference the
// Java tests trust) with the clip scale computed here in fp64 from the gradients.
// Cases: tensor sizes 1, 7, 63, 4096, 4097, 9001 (several chunks, partial packs), one tensor 4-byte
// misaligned (scalar path), an empty one, a frozen one (must stay bit-identical, moments too), weight
// decay on some, bf16 copies on some; clip 0 (no norm), a clip that does not bite, one that does;
// grad_scale 0.5; three steps with a changing lr; and a step before any schedule (must change nothing
// and raise the device error bit); with the norm computed, a NaN gradient (the step is skipped and counted).
// Bound per element: 1e-6 |ref| + 1e-7 (the same fp32 formula; only the clip scale's rounding differs);
// the copy must equal the updated fp32 param rounded to bf16 exactly; the norm within 1e-12 relative.
//
// Built and run by kernels/dev/emu/run_emu.sh adamw (links libanvil_cpu from a CMake build folder).
#include "../../adamw.cu"

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "check_kit.h"

namespace {

std::mt19937 rng(7);

struct Case {
  int64_t n;
  bool decay, copy, frozen, misaligned;
};

// One tensor: the emulated device side (param, grad, m, v, copy) and the CPU reference's param, m, v.
struct Slot {
  Case c;
  float *p = nullptr, *g = nullptr, *m = nullptr, *v = nullptr;
  __nv_bfloat16* copy = nullptr;
  std::vector<float> rp, rm, rv;
  void* blocks[5] = {};
};

float* device_floats(Slot& s, int which, int64_t n, bool misaligned) {
  cudaMalloc(&s.blocks[which], (n + 1) * sizeof(float));
  float* base = static_cast<float*>(s.blocks[which]);
  return misaligned ? base + 1 : base;
}

void compare(const std::string& what, const float* got, const std::vector<float>& ref) {
  ++checks;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double bound = 1e-6 * std::fabs(ref[i]) + 1e-7;
    if (!(std::fabs(got[i] - ref[i]) <= bound)) {
      char message[256];
      snprintf(message, sizeof(message), "%s [%zu] = %.9g, expected %.9g", what.c_str(), i, got[i], ref[i]);
      fail(message);
      return;
    }
  }
}

void run(double clip, double grad_scale) {
  const std::vector<Case> cases = {{1, true, true, false, false},     {7, false, true, false, false},
                                   {63, true, false, false, false},   {4096, true, true, false, false},
                                   {4097, false, true, false, false}, {0, true, true, false, false},
                                   {9001, true, true, false, false},  {777, true, true, false, true},
                                   {300, true, true, true, false}};
  const double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, wd = 0.1;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<Slot> slots(cases.size());
  std::vector<anvil_adamw_tensor> entries;
  for (size_t k = 0; k < cases.size(); ++k) {
    Slot& s = slots[k];
    s.c = cases[k];
    const int64_t n = s.c.n;
    s.p = device_floats(s, 0, n, s.c.misaligned);
    s.g = device_floats(s, 1, n, s.c.misaligned);
    s.m = device_floats(s, 2, n, s.c.misaligned);
    s.v = device_floats(s, 3, n, s.c.misaligned);
    if (s.c.copy) {
      cudaMalloc(&s.blocks[4], (n + 1) * sizeof(__nv_bfloat16));
      s.copy = static_cast<__nv_bfloat16*>(s.blocks[4]);
      for (int64_t i = 0; i < n; ++i) s.copy[i] = __float2bfloat16(-99.0f);
    }
    for (int64_t i = 0; i < n; ++i) {
      s.p[i] = normal(rng);
      s.m[i] = 0.1f * normal(rng);
      s.v[i] = 0.01f * std::fabs(normal(rng));
    }
    s.rp.assign(s.p, s.p + n);
    s.rm.assign(s.m, s.m + n);
    s.rv.assign(s.v, s.v + n);
    entries.push_back({reinterpret_cast<int64_t>(s.p), reinterpret_cast<int64_t>(s.g), reinterpret_cast<int64_t>(s.m),
                       reinterpret_cast<int64_t>(s.v), reinterpret_cast<int64_t>(s.copy), n,
                       (s.c.decay ? ANVIL_ADAMW_DECAY : 0) | (s.c.frozen ? ANVIL_ADAMW_FROZEN : 0), -1});
  }
  void* table = nullptr;
  void* state = nullptr;
  cudaMalloc(&table, entries.size() * sizeof(anvil_adamw_tensor));
  cudaMalloc(&state, ANVIL_ADAMW_STATE_BYTES);
  memset(state, 0, ANVIL_ADAMW_STATE_BYTES);
  int64_t blocks = 0;
  if (anvil_cuda_adamw_table(entries.data(), static_cast<int64_t>(entries.size()), reinterpret_cast<int64_t>(table),
                             &blocks) != 0) {
    fail(std::string("adamw_table: ") + anvil_last_error());
    return;
  }
  int64_t expected_blocks = 0;
  for (const Case& c : cases)
    if (!c.frozen) expected_blocks += (c.n + ANVIL_ADAMW_CHUNK - 1) / ANVIL_ADAMW_CHUNK;
  ++checks;
  if (blocks != expected_blocks) fail("table blocks " + std::to_string(blocks) + ", expected " + std::to_string(expected_blocks));
  void* workspace = nullptr;
  cudaMalloc(&workspace, (blocks + 1) * sizeof(double));
  const anvil_adamw_multi_params params{reinterpret_cast<int64_t>(table), static_cast<int64_t>(entries.size()), blocks,
                                        reinterpret_cast<int64_t>(state), reinterpret_cast<int64_t>(workspace),
                                        beta1, beta2, eps, wd, clip, grad_scale};
  const std::string label = "clip " + std::to_string(clip) + " grad_scale " + std::to_string(grad_scale);

  // A step before any schedule: nothing changes, the error bit is raised.
  anvil::emulated_error_word = 0;
  if (anvil_cuda_adamw_multi_fwd(&params, 0) != 0) fail(std::string("multi_fwd: ") + anvil_last_error());
  ++checks;
  if (anvil::emulated_error_word != ANVIL_DEVERR_ADAMW_SCHEDULE) fail(label + ": no error bit for a step before the schedule");
  for (Slot& s : slots) compare(label + " unscheduled param n=" + std::to_string(s.c.n), s.p, s.rp);

  for (int step = 1; step <= 3; ++step) {
    const double lr = 1e-3 * step;
    for (Slot& s : slots)
      for (int64_t i = 0; i < s.c.n; ++i) s.g[i] = normal(rng) * (s.c.n == 7 ? 40.0f : 1.0f);
    // The reference: the norm of grad_scale * grads over the trainable tensors, in fp64.
    double sumsq = 0;
    for (Slot& s : slots)
      if (!s.c.frozen)
        for (int64_t i = 0; i < s.c.n; ++i) sumsq += static_cast<double>(s.g[i]) * s.g[i];
    const double norm = std::sqrt(sumsq) * std::fabs(grad_scale);
    const double scale = clip > 0 && norm > clip ? clip / (norm + 1e-6) : 1.0;
    std::vector<int64_t> ps, gs, ms, vs, sizes, decay;
    for (Slot& s : slots) {
      if (s.c.frozen || s.c.n == 0) continue;
      ps.push_back(reinterpret_cast<int64_t>(s.rp.data()));
      gs.push_back(reinterpret_cast<int64_t>(s.g));
      ms.push_back(reinterpret_cast<int64_t>(s.rm.data()));
      vs.push_back(reinterpret_cast<int64_t>(s.rv.data()));
      sizes.push_back(s.c.n);
      decay.push_back(s.c.decay);
    }
    const anvil_adamw_params ref{reinterpret_cast<int64_t>(ps.data()), reinterpret_cast<int64_t>(gs.data()),
                                 reinterpret_cast<int64_t>(ms.data()), reinterpret_cast<int64_t>(vs.data()),
                                 reinterpret_cast<int64_t>(sizes.data()), reinterpret_cast<int64_t>(decay.data()),
                                 static_cast<int64_t>(ps.size()), step, lr, beta1, beta2, eps, wd, grad_scale * scale};
    if (anvil_cpu_adamw_fwd(&ref) != 0) fail(std::string("cpu adamw: ") + anvil_last_error());

    anvil::emulated_error_word = 0;
    if (anvil_cuda_adamw_schedule(reinterpret_cast<int64_t>(state), lr, step, 0) != 0 ||
        anvil_cuda_adamw_multi_fwd(&params, 0) != 0) {
      fail(std::string("schedule/multi_fwd: ") + anvil_last_error());
      continue;
    }
    const std::string at = label + " step " + std::to_string(step);
    ++checks;
    if (anvil::emulated_error_word != 0) fail(at + ": error bit raised");
    const double* st = static_cast<const double*>(state);
    ++checks;
    if (clip > 0 ? std::fabs(st[2] - norm) > 1e-12 * norm : st[2] != -1.0)
      fail(at + ": state norm " + std::to_string(st[2]) + ", expected " + std::to_string(clip > 0 ? norm : -1.0));
    ++checks;
    if (std::fabs(st[3] - scale) > 1e-12) fail(at + ": state scale " + std::to_string(st[3]) + ", expected " + std::to_string(scale));
    for (Slot& s : slots) {
      const std::string t = at + " n=" + std::to_string(s.c.n);
      compare(t + " param", s.p, s.rp);
      compare(t + " m", s.m, s.rm);
      compare(t + " v", s.v, s.rv);
      if (s.copy) {
        ++checks;
        for (int64_t i = 0; i < s.c.n; ++i) {
          const __nv_bfloat16 want = s.c.frozen ? __float2bfloat16(-99.0f) : __float2bfloat16(s.p[i]);
          if (__bfloat162float(s.copy[i]) != __bfloat162float(want)) {
            fail(t + " copy [" + std::to_string(i) + "] is not the updated param in bf16");
            break;
          }
        }
      }
    }
  }
  // A non-finite gradient with the norm computed: the step is skipped (params, moments, copies unchanged)
  // and counted at byte 72 of the state, with no error bit.
  if (clip > 0) {
    std::vector<std::vector<float>> before(slots.size());
    for (size_t k = 0; k < slots.size(); ++k) {
      Slot& s = slots[k];
      before[k].assign(s.p, s.p + s.c.n);
      s.rm.assign(s.m, s.m + s.c.n);
      s.rv.assign(s.v, s.v + s.c.n);
      if (s.c.n > 3 && !s.c.frozen) s.g[3] = std::numeric_limits<float>::quiet_NaN();
    }
    anvil::emulated_error_word = 0;
    if (anvil_cuda_adamw_schedule(reinterpret_cast<int64_t>(state), 5e-3, 4, 0) != 0 ||
        anvil_cuda_adamw_multi_fwd(&params, 0) != 0)
      fail(std::string("schedule/multi_fwd (NaN): ") + anvil_last_error());
    const double* st = static_cast<const double*>(state);
    ++checks;
    if (st[9] != 1.0) fail(label + ": a NaN gradient counted " + std::to_string(st[9]) + " skips, expected 1");
    ++checks;
    if (anvil::emulated_error_word != 0) fail(label + ": a NaN gradient raised the error bit");
    for (size_t k = 0; k < slots.size(); ++k) {
      Slot& s = slots[k];
      const std::string t = label + " NaN step n=" + std::to_string(s.c.n);
      compare(t + " param", s.p, before[k]);
      compare(t + " m", s.m, s.rm);
      compare(t + " v", s.v, s.rv);
    }
  }
  for (Slot& s : slots)
    for (void* b : s.blocks) cudaFree(b);
  cudaFree(table);
  cudaFree(state);
  cudaFree(workspace);
}

}  // namespace

int main() {
  printf("fused adamw (anvil_cuda_adamw_multi_fwd) against anvil_cpu_adamw_fwd\n");
  run(0.0, 1.0);     // no clipping: the norm is not computed
  run(1e9, 1.0);     // a clip that never bites: scale 1, norm reported
  run(1.0, 0.5);     // clipping on every step, with a grad scale
  // Refusals: a table entry with a null moment, a negative clip.
  anvil_adamw_tensor bad{0, 0, 0, 0, 0, 5, 0, 0};
  void* table = nullptr;
  cudaMalloc(&table, sizeof(bad));
  int64_t blocks = 0;
  ++checks;
  if (anvil_cuda_adamw_table(&bad, 1, reinterpret_cast<int64_t>(table), &blocks) != ANVIL_E_INVALID)
    fail("a table entry with null pointers was accepted");
  const anvil_adamw_multi_params negative{reinterpret_cast<int64_t>(table), 1, 0, reinterpret_cast<int64_t>(table), 0,
                                          0.9, 0.95, 1e-8, 0.1, -1.0, 1.0};
  ++checks;
  if (anvil_cuda_adamw_multi_fwd(&negative, 0) != ANVIL_E_INVALID) fail("a negative clip was accepted");
  cudaFree(table);
  printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
