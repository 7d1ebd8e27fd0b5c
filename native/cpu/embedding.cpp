// embedding.cpp: table lookup, forward (gather) and backward (scatter-add).
//   fwd: ids (n) int32, table (vocab, dim) -> out (n, dim) written: out[i] = table[ids[i]]
//   bwd: ids (n), dout (n, dim) -> dtable (vocab, dim) accumulated (+=): dtable[ids[i]] += dout[i]
// Every id is checked against [0, vocab) before anything is written; the first bad one is reported.
// The scatter-add splits the dim columns among threads (in blocks of 16 floats), and each thread walks
// all tokens in order: no two threads touch the same value, and every value receives its additions in
// token order, so the result is race-free and identical for every thread count.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common.h"
#include "parallel.h"

ANVIL_PARAMS_CHECK(anvil_embedding_params, ANVIL_EMBEDDING_SLOTS);

using namespace anvil;

namespace {

constexpr int64_t kParallelMin = 1 << 15;

int check(const anvil_embedding_params* p, const char* op) {
  if (p->n < 0 || p->vocab < 0 || p->dim < 0) {
    return fail(ANVIL_E_INVALID, "%s: negative size (n %lld, vocab %lld, dim %lld)", op,
                (long long)p->n, (long long)p->vocab, (long long)p->dim);
  }
  const int32_t* ids = ptr<const int32_t>(p->ids);
  for (int64_t i = 0; i < p->n; i++) {
    if (ids[i] < 0 || ids[i] >= p->vocab) {
      return fail(ANVIL_E_INVALID, "%s: token id %d at position %lld outside [0, vocab) = [0, %lld)",
                  op, ids[i], (long long)i, (long long)p->vocab);
    }
  }
  return ANVIL_OK;
}

// dtable[ids[i]][begin, end) += dout[i][begin, end) for every token i, in token order.
ANVIL_MULTIVERSION
void scatter_add_columns(const int32_t* ids, const float* dout, float* dtable, int64_t n, int64_t dim,
                         int64_t begin, int64_t end) {
  const int64_t width = end - begin;
  for (int64_t i = 0; i < n; i++) {
    float* dst = dtable + static_cast<int64_t>(ids[i]) * dim + begin;
    const float* src = dout + i * dim + begin;
    for (int64_t j = 0; j < width; j++) dst[j] += src[j];
  }
}

}  // namespace

extern "C" int anvil_cpu_embedding_fwd(const anvil_embedding_params* p) {
  if (int code = check(p, "embedding_fwd")) return code;
  const int32_t* ids = ptr<const int32_t>(p->ids);
  const float* table = ptr<const float>(p->table);
  float* out = ptr<float>(p->out);
  const int64_t n = p->n, dim = p->dim;
  parallel_range(n, std::max<int64_t>(1, kParallelMin / dim), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++)
      std::memcpy(out + i * dim, table + static_cast<int64_t>(ids[i]) * dim, sizeof(float) * dim);
  });
  return ANVIL_OK;
}

extern "C" int anvil_cpu_embedding_bwd(const anvil_embedding_params* p) {
  if (int code = check(p, "embedding_bwd")) return code;
  const int32_t* ids = ptr<const int32_t>(p->ids);
  const float* dout = ptr<const float>(p->dout);
  float* dtable = ptr<float>(p->dtable);
  const int64_t n = p->n, dim = p->dim;
  // Column ranges in whole cache lines: no two threads write the same line.
  const int64_t lines = (dim + 15) / 16;
  const int64_t grain = n * dim > kParallelMin && dim >= 32 ? 1 : lines;
  parallel_range(lines, grain, [&](int64_t l0, int64_t l1) {
    const int64_t begin = std::min(dim, l0 * 16), end = std::min(dim, l1 * 16);
    if (begin < end) scatter_add_columns(ids, dout, dtable, n, dim, begin, end);
  });
  return ANVIL_OK;
}
