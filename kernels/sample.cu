// sample.cu: the next token of each row, chosen on the device (anvil.h, "sample"), so decoding copies
// rows int32 ids to the host instead of rows x vocab logits.
//   logits (rows, ld) fp32/bf16, the first vocab columns scored -> out (rows) int32
//   top_k == 1 or temperature == 0: argmax, the lowest index among equal maxima (NaN never wins; a row
//     of NaN gives 0);
//   top_k == 0: softmax(logits / temperature) over the whole vocabulary, sampled by inverse CDF in index
//     order; 1 < top_k <= ANVIL_SAMPLE_MAX_TOP_K: the same over the top_k largest, in descending order.
//   The uniform of row r is a counter-based hash of (seed, offset + r): same seed and offset, same ids.
// One block of 256 threads per row. Argmax is one pass; top-k is k passes of a block argmax that skips
// what earlier passes chose (ordered by (value desc, index asc), so ties are neither lost nor repeated):
// k x vocab reads from L2 (a 50304-wide fp32 row is 200 KB), fine for decoding's few rows and k <= 50,
// and the place to improve (radix select) if it ever shows in a decode profile. The full-vocabulary
// sampler: each thread owns a contiguous range, the block sums exp per range, thread 0 walks the range
// sums and then the one range, in a fixed order (deterministic).
#include <cmath>

#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_sample_params, ANVIL_SAMPLE_SLOTS);

namespace {

using namespace anvil;

constexpr int kThreads = 256;

struct Best {
  float v;
  int i;
};

// a before b in (value desc, index asc); NaN values are never before anything
__device__ __forceinline__ bool before(Best a, Best b) { return a.v > b.v || (a.v == b.v && a.i < b.i); }

__device__ __forceinline__ Best block_best(Best b, float* sv, int* si) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    Best o{__shfl_xor_sync(0xffffffffu, b.v, offset), __shfl_xor_sync(0xffffffffu, b.i, offset)};
    if (before(o, b)) b = o;
  }
  __syncthreads();
  if (lane == 0) {
    sv[warp] = b.v;
    si[warp] = b.i;
  }
  __syncthreads();
  b = lane < warps ? Best{sv[lane], si[lane]} : Best{-INFINITY, INT32_MAX};
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    Best o{__shfl_xor_sync(0xffffffffu, b.v, offset), __shfl_xor_sync(0xffffffffu, b.i, offset)};
    if (before(o, b)) b = o;
  }
  return b;
}

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// logits (rows, ld) -> out (rows); one block per row
template <typename T>
__global__ void __launch_bounds__(kThreads) sample_kernel(const T* logits, int64_t ld, int vocab, int top_k,
                                                          float inv_temperature, uint64_t seed, uint64_t offset,
                                                          int* out) {
  __shared__ float sv[32];
  __shared__ int si[32];
  __shared__ float top_v[ANVIL_SAMPLE_MAX_TOP_K];
  __shared__ int top_i[ANVIL_SAMPLE_MAX_TOP_K];
  __shared__ float range_sum[kThreads];
  const int64_t row = blockIdx.x;
  const T* x = logits + row * ld;
  const float u = static_cast<float>(mix64(seed ^ mix64(offset + row)) >> 40) * 0x1p-24f;  // [0, 1)
  if (top_k != 0) {
    // top_k passes of a block argmax, each after the previous pick in (value desc, index asc) order
    __shared__ int picked;
    Best prev{INFINITY, -1};
    for (int r = 0; r < top_k; ++r) {
      Best b{-INFINITY, INT32_MAX};
      for (int i = threadIdx.x; i < vocab; i += kThreads) {
        const Best c{load(x, i), i};
        const bool after = c.v < prev.v || (c.v == prev.v && c.i > prev.i);
        if (after && before(c, b)) b = c;
      }
      b = block_best(b, sv, si);  // the same in every thread, so the breaks below are uniform
      if (b.i == INT32_MAX) {     // nothing left: vocab < top_k, or NaN everywhere
        if (r > 0) break;
        b = Best{0.0f, 0};
      }
      if (threadIdx.x == 0) {
        top_v[r] = b.v;
        top_i[r] = b.i;
        picked = r + 1;
      }
      prev = b;
    }
    __syncthreads();
    if (threadIdx.x != 0) return;
    int chosen = top_i[0];
    if (picked > 1 && top_v[0] > -INFINITY) {
      float total = 0.0f;
      for (int j = 0; j < picked; ++j) total += __expf((top_v[j] - top_v[0]) * inv_temperature);
      const float target = u * total;
      float run = 0.0f;
      for (int j = 0; j < picked; ++j) {
        const float w = __expf((top_v[j] - top_v[0]) * inv_temperature);
        if (w > 0.0f) chosen = top_i[j];
        run += w;
        if (run > target) break;
      }
    }
    out[row] = chosen;
    return;
  }
  // the whole vocabulary: the maximum, sums of exp over each thread's contiguous range, then thread 0
  // finds the range holding u * total and walks it
  Best best{-INFINITY, INT32_MAX};
  for (int i = threadIdx.x; i < vocab; i += kThreads) {
    const Best c{load(x, i), i};
    if (before(c, best)) best = c;
  }
  best = block_best(best, sv, si);
  if (best.i == INT32_MAX || best.v == -INFINITY) {  // NaN or -inf everywhere: the argmax rule
    if (threadIdx.x == 0) out[row] = best.i == INT32_MAX ? 0 : best.i;
    return;
  }
  const float m = best.v;
  const int per = (vocab + kThreads - 1) / kThreads;
  const int lo = min(static_cast<int>(threadIdx.x) * per, vocab), hi = min(lo + per, vocab);
  float s = 0.0f;
  for (int i = lo; i < hi; ++i) s += __expf((load(x, i) - m) * inv_temperature);
  range_sum[threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.x != 0) return;
  float total = 0.0f;
  for (int t = 0; t < kThreads; ++t) total += range_sum[t];
  const float target = u * total;
  float run = 0.0f;
  int t = 0;
  while (t + 1 < kThreads && run + range_sum[t] <= target) run += range_sum[t++];
  // rounding may leave the walk short of the target at the range's end: then its last positive weight
  int chosen = -1;
  for (int i = t * per; i < min(t * per + per, vocab); ++i) {
    const float w = __expf((load(x, i) - m) * inv_temperature);
    if (w > 0.0f) chosen = i;
    run += w;
    if (run > target) break;
  }
  out[row] = chosen < 0 ? best.i : chosen;
}

template <typename T>
int launch(const anvil_sample_params* p, cudaStream_t s) {
  const bool greedy = p->top_k == 1 || p->temperature == 0.0;
  const float inv_temperature = greedy ? 1.0f : static_cast<float>(1.0 / p->temperature);
  ANVIL_LAUNCH(sample_kernel<T>, static_cast<unsigned>(p->rows), kThreads, 0, s)(
      dptr<const T>(p->logits), p->ld, static_cast<int>(p->vocab), greedy ? 1 : static_cast<int>(p->top_k),
      inv_temperature, static_cast<uint64_t>(p->seed), static_cast<uint64_t>(p->offset), dptr<int>(p->out));
  ANVIL_LAUNCH_CHECK("sample_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_sample_fwd(const anvil_sample_params* p, int64_t dtype, int64_t stream) {
  if (p->rows < 0 || p->rows > INT32_MAX || p->vocab < 1 || p->vocab > INT32_MAX || p->ld < p->vocab)
    return anvil_set_error(ANVIL_E_INVALID, "cuda sample: rows, vocab or ld out of range");
  if (p->top_k < 0 || p->top_k > ANVIL_SAMPLE_MAX_TOP_K)
    return anvil_set_error(ANVIL_E_INVALID, "cuda sample: top_k must be in [0, ANVIL_SAMPLE_MAX_TOP_K]");
  if (!(p->temperature >= 0.0) || !std::isfinite(p->temperature))
    return anvil_set_error(ANVIL_E_INVALID, "cuda sample: temperature must be finite and >= 0");
  if (p->rows == 0) return ANVIL_OK;
  if (p->logits == 0 || p->out == 0) return anvil_set_error(ANVIL_E_INVALID, "cuda sample: null logits or out");
  ANVIL_DISPATCH_FLOAT(dtype, "sample", launch, p, as_stream(stream));
}

}  // extern "C"
