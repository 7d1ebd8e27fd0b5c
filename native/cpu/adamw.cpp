// adamw.cpp: one AdamW step over a list of `count` fp32 tensors, in place (no backward).
//   For tensor k (sizes[k] elements; params/grads/m/v[k] addresses; decay[k] 0/1):
//     g = grad * grad_scale                      (grad_scale: the clipping scale)
//     m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//     p -= lr * wd * p                           (decoupled decay, only where decay[k] = 1)
//     p -= lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps)    (step is 1-based)
//   grads are read only. One fused pass per element: 16 bytes read, 12 written.
// The whole list is one parallel region: its elements are cut into equal contiguous ranges, one per
// thread, across tensor boundaries, so a list of many small tensors is balanced as well as one large.
// Elementwise, so the result does not depend on the thread count.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>
#include <vector>

#include "common.h"
#include "parallel.h"

ANVIL_PARAMS_CHECK(anvil_adamw_params, ANVIL_ADAMW_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kParallelMin = 1 << 15;

// The step's scalars, folded once in fp64 and rounded to fp32.
struct Step {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float grad_scale;
  float decay_factor;     // 1 - lr * wd
  float step_size;        // lr / (1 - beta1^step)
  float inv_sqrt_bias2;   // 1 / sqrt(1 - beta2^step)
  float eps;
};

// Elements [0, n) of one tensor (already offset to the range's start).
ANVIL_MULTIVERSION
void adamw_span(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                int64_t n, bool decay, Step s) {
  const float decay_factor = decay ? s.decay_factor : 1.0f;
  for (int64_t i = 0; i < n; i++) {
    float grad = g[i] * s.grad_scale;
    float mi = s.beta1 * m[i] + s.one_minus_beta1 * grad;
    float vi = s.beta2 * v[i] + s.one_minus_beta2 * grad * grad;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay_factor - s.step_size * mi / (std::sqrt(vi) * s.inv_sqrt_bias2 + s.eps);
  }
}

}  // namespace

extern "C" int anvil_cpu_adamw_fwd(const anvil_adamw_params* p) {
  if (p->count < 0) return fail(ANVIL_E_INVALID, "adamw: negative count %lld", (long long)p->count);
  if (p->step < 1) return fail(ANVIL_E_INVALID, "adamw: step %lld must be >= 1", (long long)p->step);
  const int64_t count = p->count;
  const int64_t* params = ptr<const int64_t>(p->params);
  const int64_t* grads = ptr<const int64_t>(p->grads);
  const int64_t* ms = ptr<const int64_t>(p->m);
  const int64_t* vs = ptr<const int64_t>(p->v);
  const int64_t* sizes = ptr<const int64_t>(p->sizes);
  const int64_t* decay = ptr<const int64_t>(p->decay);

  // starts[k]: first element of tensor k in the concatenation of the list.
  std::vector<int64_t> starts;
  try {
    starts.resize(static_cast<size_t>(count) + 1);
  } catch (const std::bad_alloc&) {
    return fail(ANVIL_E_NOMEM, "adamw: no memory for a list of %lld tensors", (long long)count);
  }
  starts[0] = 0;
  for (int64_t k = 0; k < count; k++) {
    if (sizes[k] < 0) {
      return fail(ANVIL_E_INVALID, "adamw: tensor %lld has negative size %lld", (long long)k,
                  (long long)sizes[k]);
    }
    starts[k + 1] = starts[k] + sizes[k];
  }
  const int64_t total = starts[count];

  const double step = static_cast<double>(p->step);
  const Step s{static_cast<float>(p->beta1),
               static_cast<float>(1.0 - p->beta1),
               static_cast<float>(p->beta2),
               static_cast<float>(1.0 - p->beta2),
               static_cast<float>(p->grad_scale),
               static_cast<float>(1.0 - p->lr * p->weight_decay),
               static_cast<float>(p->lr / (1.0 - std::pow(p->beta1, step))),
               static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(p->beta2, step))),
               static_cast<float>(p->eps)};

  const int64_t threads = total > kParallelMin ? max_threads() : 1;
  parallel_tasks(threads, static_cast<int>(threads), [&](int64_t t, int) {
    // Part t of the concatenation, cut at multiples of 16 elements.
    const int64_t chunks = (total + 15) / 16;
    const int64_t begin = std::min(total, chunks * t / threads * 16);
    const int64_t end = std::min(total, chunks * (t + 1) / threads * 16);
    int64_t k = std::upper_bound(starts.begin(), starts.end(), begin) - starts.begin() - 1;
    for (int64_t at = begin; at < end && k < count; k++) {
      const int64_t offset = at - starts[k];
      const int64_t n = std::min(end, starts[k + 1]) - at;
      if (n <= 0) continue;
      adamw_span(ptr<float>(params[k]) + offset, ptr<const float>(grads[k]) + offset,
                 ptr<float>(ms[k]) + offset, ptr<float>(vs[k]) + offset, n, decay[k] != 0, s);
      at += n;
    }
  });
  return ANVIL_OK;
}
