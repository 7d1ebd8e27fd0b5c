// repeat_kv.cpp: grouped-query attention's sharing of key/value heads (Hugging Face's repeat_kv).
//   fwd: x (rows, kv_heads * head_dim) -> out (rows, kv_heads * groups * head_dim) written (=);
//        out head h is x head h / groups (each kv head serves `groups` consecutive query heads)
//   bwd: dout (rows, kv_heads * groups * head_dim) -> dx (rows, kv_heads * head_dim) written (=), or
//        added (+=) when accumulate: dx head g = sum of dout heads g * groups .. g * groups + groups - 1
//
// A copy rather than a new attention entry point: anvil_attention_params stays as it is, and the
// extra traffic (groups x the k/v width) is small next to attention itself. The group sum is in fixed
// head order per element, so the result does not depend on the thread count.
#include <cstdint>
#include <cstring>

#include "common.h"

ANVIL_PARAMS_CHECK(anvil_repeat_kv_params, ANVIL_REPEAT_KV_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kParallelMin = 1 << 15;

int check(const anvil_repeat_kv_params* p, const char* op) {
  if (p->rows < 0 || p->kv_heads < 1 || p->groups < 1 || p->head_dim < 1) {
    return fail(ANVIL_E_INVALID, "%s: rows %lld, kv_heads %lld, groups %lld, head_dim %lld", op, (long long)p->rows,
                (long long)p->kv_heads, (long long)p->groups, (long long)p->head_dim);
  }
  return ANVIL_OK;
}

template <bool kAccumulate>
ANVIL_MULTIVERSION void group_sums(const float* dout, float* dx, int64_t rows, int64_t kv_heads, int64_t groups,
                                   int64_t head_dim) {
  const int64_t in_width = kv_heads * head_dim, out_width = in_width * groups;
#pragma omp parallel for schedule(static) if (rows > 1 && rows * out_width > kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t g = 0; g < kv_heads; g++) {
      float* d = dx + r * in_width + g * head_dim;
      const float* src = dout + r * out_width + g * groups * head_dim;
      for (int64_t j = 0; j < head_dim; j++) {
        float sum = src[j];
        for (int64_t k = 1; k < groups; k++) sum += src[k * head_dim + j];
        d[j] = kAccumulate ? d[j] + sum : sum;
      }
    }
  }
}

}  // namespace

extern "C" int anvil_cpu_repeat_kv_fwd(const anvil_repeat_kv_params* p) {
  if (int code = check(p, "repeat_kv_fwd")) return code;
  const float* x = ptr<const float>(p->x);
  float* out = ptr<float>(p->out);
  const int64_t rows = p->rows, in_width = p->kv_heads * p->head_dim, out_width = in_width * p->groups;
  const size_t head_bytes = static_cast<size_t>(p->head_dim) * sizeof(float);
#pragma omp parallel for schedule(static) if (rows > 1 && rows * out_width > kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t h = 0; h < p->kv_heads * p->groups; h++) {
      std::memcpy(out + r * out_width + h * p->head_dim, x + r * in_width + (h / p->groups) * p->head_dim, head_bytes);
    }
  }
  return ANVIL_OK;
}

extern "C" int anvil_cpu_repeat_kv_bwd(const anvil_repeat_kv_params* p) {
  if (int code = check(p, "repeat_kv_bwd")) return code;
  const float* dout = ptr<const float>(p->dout);
  float* dx = ptr<float>(p->dx);
  if (p->accumulate) {
    group_sums<true>(dout, dx, p->rows, p->kv_heads, p->groups, p->head_dim);
  } else {
    group_sums<false>(dout, dx, p->rows, p->kv_heads, p->groups, p->head_dim);
  }
  return ANVIL_OK;
}
