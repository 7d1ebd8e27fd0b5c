// rope.cpp: rotary position embedding (Llama), Hugging Face rotate_half convention, fwd and bwd.
//   fwd: x (batch, seq, heads * head_dim) -> out (same shape) written (=); out may be x (in place)
//        per head, for j < half = head_dim / 2, position pos = pos_offset + t:
//          out[j]        = x[j] c - x[j + half] s
//          out[j + half] = x[j + half] c + x[j] s,      c, s = cos, sin(pos * inv_freq[j])
//   bwd: the transpose, i.e. the rotation by -angle: x = dy -> out = dx (=), in place allowed.
//
// Angles are formed exactly as transformers' LlamaRotaryEmbedding forms them, in fp32:
//   inv_freq[j] = 1 / theta^((2j) / head_dim)  (each operation rounded to fp32), angle = fp32(pos * inv_freq[j])
// so positions in the thousands rotate by the same (slightly rounded) angles the pretrained weights saw.
// cos and sin of that fp32 angle are then taken in fp64 and rounded. The (seq, half) table is cached
// per thread and reused while (theta, head_dim, pos_offset, seq) stay the same, as they do across the
// layers of one step. Elementwise per (row, head, pair): results do not depend on the thread count.
#include <cmath>
#include <cstdint>
#include <new>
#include <vector>

#include "common.h"

ANVIL_PARAMS_CHECK(anvil_rope_params, ANVIL_ROPE_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kParallelMin = 1 << 14;

struct Table {
  double theta = -1;
  int64_t head_dim = -1, pos_offset = -1, seq = -1;
  std::vector<float> cos, sin;  // (seq, half)
};

// The cos/sin table of this call, cached per thread; nullptr when out of memory.
const Table* table_for(const anvil_rope_params* p) {
  thread_local Table table;
  if (table.theta == p->theta && table.head_dim == p->head_dim && table.pos_offset == p->pos_offset &&
      table.seq == p->seq) {
    return &table;
  }
  const int64_t half = p->head_dim / 2;
  try {
    table.cos.resize(static_cast<size_t>(p->seq * half));
    table.sin.resize(static_cast<size_t>(p->seq * half));
  } catch (const std::bad_alloc&) {
    table.seq = -1;
    return nullptr;
  }
  const float theta = static_cast<float>(p->theta);
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t j = 0; j < half; j++) {
    float exponent = static_cast<float>(2 * j) / static_cast<float>(p->head_dim);
    float power = static_cast<float>(std::pow(static_cast<double>(theta), static_cast<double>(exponent)));
    inv_freq[j] = 1.0f / power;
  }
  for (int64_t t = 0; t < p->seq; t++) {
    const float pos = static_cast<float>(p->pos_offset + t);
    for (int64_t j = 0; j < half; j++) {
      const double angle = static_cast<double>(pos * inv_freq[j]);
      table.cos[t * half + j] = static_cast<float>(std::cos(angle));
      table.sin[t * half + j] = static_cast<float>(std::sin(angle));
    }
  }
  table.theta = p->theta;
  table.head_dim = p->head_dim;
  table.pos_offset = p->pos_offset;
  table.seq = p->seq;
  return &table;
}

// One token row of heads * head_dim values; sign +1 rotates by +angle (fwd), -1 by -angle (bwd).
ANVIL_MULTIVERSION
void rotate_row(const float* x, float* out, const float* c, const float* s, int64_t heads, int64_t half,
                float sign) {
  for (int64_t h = 0; h < heads; h++) {
    const float* xh = x + h * 2 * half;
    float* oh = out + h * 2 * half;
    for (int64_t j = 0; j < half; j++) {
      const float x1 = xh[j], x2 = xh[j + half], sj = sign * s[j];
      oh[j] = x1 * c[j] - x2 * sj;
      oh[j + half] = x2 * c[j] + x1 * sj;
    }
  }
}

int rope(const anvil_rope_params* p, const char* op, float sign) {
  if (p->batch < 0 || p->seq < 0 || p->heads < 1 || p->head_dim < 2 || p->head_dim % 2 != 0) {
    return fail(ANVIL_E_INVALID, "%s: batch %lld, seq %lld, heads %lld, head_dim %lld (needs an even head_dim)", op,
                (long long)p->batch, (long long)p->seq, (long long)p->heads, (long long)p->head_dim);
  }
  if (p->pos_offset < 0 || !(p->theta > 0.0)) {
    return fail(ANVIL_E_INVALID, "%s: pos_offset %lld must be >= 0 and theta %g > 0", op, (long long)p->pos_offset,
                p->theta);
  }
  if (p->batch == 0 || p->seq == 0) return ANVIL_OK;
  const Table* table = table_for(p);
  if (!table) return fail(ANVIL_E_NOMEM, "%s: no memory for a %lld-position table", op, (long long)p->seq);
  const float* x = ptr<const float>(p->x);
  float* out = ptr<float>(p->out);
  const int64_t half = p->head_dim / 2, width = p->heads * p->head_dim, rows = p->batch * p->seq;
  const float* cos = table->cos.data();
  const float* sin = table->sin.data();
#pragma omp parallel for schedule(static) if (rows > 1 && rows * width > kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t t = r % p->seq;
    rotate_row(x + r * width, out + r * width, cos + t * half, sin + t * half, p->heads, half, sign);
  }
  return ANVIL_OK;
}

}  // namespace

extern "C" int anvil_cpu_rope_fwd(const anvil_rope_params* p) { return rope(p, "rope_fwd", 1.0f); }

extern "C" int anvil_cpu_rope_bwd(const anvil_rope_params* p) { return rope(p, "rope_bwd", -1.0f); }
