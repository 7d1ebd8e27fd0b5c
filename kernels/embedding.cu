// embedding.cu: token embedding lookup and its scatter-add backward. Table fp32 or bf16; the table's
// gradient is fp32.
//   fwd: out (n, dim) = table (vocab, dim) [ids (n) int32]            written (=)
//   bwd: dtable (vocab, dim) fp32 [ids[i]] += dout (n, dim) [i]         accumulated (+=)
// An id outside [0, vocab) raises ANVIL_DEVERR_EMBEDDING_ID (reported by the next synchronize); its
// output row is zeros and its gradient is dropped.
// The backward is deterministic: ids are sorted stably (CUB radix sort on the bits vocab needs), then one
// block per run of equal ids sums that run's rows in their original order and adds the sum to the table
// row once. No atomics, so the result does not depend on scheduling.
#include <cub/device/device_radix_sort.cuh>

#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_embedding_params, ANVIL_EMBEDDING_SLOTS);

namespace {

using namespace anvil;

constexpr int kThreads = 256;

// out (n, dim) = table[ids]; one thread per N-element pack of an output row.
template <typename T, int N>
__global__ void embedding_fwd_kernel(const int* ids, const T* table, T* out, int64_t n, int64_t vocab,
                                     int64_t dim, unsigned* error) {
  const int64_t packs_per_row = dim / N, total = n * packs_per_row;
  for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < total; p += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = p / packs_per_row, c = (p - i * packs_per_row) * N;
    const int id = ids[i];
    Pack<T, N> v;
    if (id >= 0 && id < vocab) {
      v = *reinterpret_cast<const Pack<T, N>*>(table + id * dim + c);
    } else {
      if (c == 0) *(volatile unsigned*)error = ANVIL_DEVERR_EMBEDDING_ID;
#pragma unroll
      for (int k = 0; k < N; ++k) v.v[k] = from_float<T>(0.0f);
    }
    *reinterpret_cast<Pack<T, N>*>(out + i * dim + c) = v;
  }
}

// keys (n) = ids, or vocab (a run that is skipped) for a bad id; rows (n) = 0..n-1.
__global__ void embedding_keys_kernel(const int* ids, unsigned* keys, int* rows, int64_t n, int64_t vocab,
                                      unsigned* error) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int id = ids[i];
    const bool ok = id >= 0 && id < vocab;
    if (!ok) *(volatile unsigned*)error = ANVIL_DEVERR_EMBEDDING_ID;
    keys[i] = ok ? static_cast<unsigned>(id) : static_cast<unsigned>(vocab);
    rows[i] = static_cast<int>(i);
  }
}

// Block j owns the run of equal sorted keys that starts at j (other blocks leave at once):
// dtable[key] += sum of dout[rows[j..end)] in that order. N-element packs along dim.
template <typename T, int N>
__global__ void __launch_bounds__(128)
embedding_bwd_kernel(const unsigned* keys, const int* rows, const T* dout, float* dtable, int64_t n, int64_t vocab,
                     int64_t dim) {
  const int64_t j = blockIdx.x;
  const unsigned key = keys[j];
  if (key >= vocab || (j > 0 && keys[j - 1] == key)) return;
  int64_t end = j + 1;
  while (end < n && keys[end] == key) ++end;
  float* target = dtable + key * dim;
  for (int64_t c = threadIdx.x * N; c < dim; c += blockDim.x * N) {
    float acc[N] = {};
    for (int64_t k = j; k < end; ++k) {
      float v[N];
      load_pack<T, N>(dout + rows[k] * dim + c, v);
#pragma unroll
      for (int e = 0; e < N; ++e) acc[e] += v[e];
    }
    float t[N];
    load_pack<float, N>(target + c, t);
#pragma unroll
    for (int e = 0; e < N; ++e) t[e] += acc[e];
    store_pack<float, N>(target + c, t);
  }
}

template <typename T>
int embedding_fwd(const anvil_embedding_params* p, cudaStream_t s) {
  if (p->n <= 0 || p->dim <= 0) return ANVIL_OK;
  unsigned* error = device_error_word();
  if (!error) return ANVIL_E_CUDA;
  constexpr int N = pack_of<T>();
  const int* ids = dptr<const int>(p->ids);
  if (rows_vectorizable<T>(p->dim, {p->table, p->out})) {
    embedding_fwd_kernel<T, N><<<blocks_for(p->n * (p->dim / N), kThreads), kThreads, 0, s>>>(
        ids, dptr<const T>(p->table), dptr<T>(p->out), p->n, p->vocab, p->dim, error);
  } else {
    embedding_fwd_kernel<T, 1><<<blocks_for(p->n * p->dim, kThreads), kThreads, 0, s>>>(
        ids, dptr<const T>(p->table), dptr<T>(p->out), p->n, p->vocab, p->dim, error);
  }
  ANVIL_LAUNCH_CHECK("embedding_fwd_kernel");
  return ANVIL_OK;
}

template <typename T>
int embedding_bwd(const anvil_embedding_params* p, cudaStream_t s) {
  if (p->n <= 0 || p->dim <= 0) return ANVIL_OK;
  if (p->n > INT32_MAX || p->vocab >= INT32_MAX) {
    return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda embedding_bwd: more than 2^31 ids or vocabulary rows");
  }
  unsigned* error = device_error_word();
  if (!error) return ANVIL_E_CUDA;
  const int n = static_cast<int>(p->n);
  int bits = 1;
  while ((int64_t{1} << bits) <= p->vocab) ++bits;  // vocab itself (the bad-id key) must fit
  size_t sort_bytes = 0;
  ANVIL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, static_cast<const unsigned*>(nullptr),
                                                   static_cast<unsigned*>(nullptr), static_cast<const int*>(nullptr),
                                                   static_cast<int*>(nullptr), n, 0, bits, s));
  const size_t part = round_up(sizeof(int) * static_cast<size_t>(n));
  Scratch scratch(s);
  ANVIL_CUDA_CHECK(scratch.allocate(4 * part + sort_bytes));
  unsigned* keys_in = scratch.at<unsigned>(0);
  unsigned* keys = scratch.at<unsigned>(part);
  int* rows_in = scratch.at<int>(2 * part);
  int* rows = scratch.at<int>(3 * part);
  embedding_keys_kernel<<<blocks_for(n, kThreads), kThreads, 0, s>>>(dptr<const int>(p->ids), keys_in, rows_in,
                                                                     n, p->vocab, error);
  ANVIL_LAUNCH_CHECK("embedding_keys_kernel");
  ANVIL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(scratch.at<void>(4 * part), sort_bytes,
                                                   static_cast<const unsigned*>(keys_in), keys,
                                                   static_cast<const int*>(rows_in), rows, n, 0, bits, s));
  const bool vec = p->dim % 4 == 0 && (p->dout & (4 * sizeof(T) - 1)) == 0 && aligned16(p->dtable);
  if (vec) {
    embedding_bwd_kernel<T, 4><<<static_cast<unsigned>(n), 128, 0, s>>>(keys, rows, dptr<const T>(p->dout),
                                                                         dptr<float>(p->dtable), n, p->vocab, p->dim);
  } else {
    embedding_bwd_kernel<T, 1><<<static_cast<unsigned>(n), 128, 0, s>>>(keys, rows, dptr<const T>(p->dout),
                                                                         dptr<float>(p->dtable), n, p->vocab, p->dim);
  }
  ANVIL_LAUNCH_CHECK("embedding_bwd_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_embedding_fwd(const anvil_embedding_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "embedding_fwd", embedding_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_embedding_bwd(const anvil_embedding_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "embedding_bwd", embedding_bwd, p, as_stream(stream));
}

}  // extern "C"
