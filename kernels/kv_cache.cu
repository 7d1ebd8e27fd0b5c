// kv_cache.cu: the KV cache writes of a decode step at positions held in device memory (anvil.h,
// "Decoding with the cache lengths in device memory"), so a captured step serves every position.
//   append:  k_cache[b, lens[b] + t, :] = k_new[b, t, :] and v likewise, for b < batch, t < rows; one launch
//            for every row of a layer (the eager path made 2 products per batch row). A position outside
//            [0, capacity) raises ANVIL_DEVERR_KV_POSITION and the row is skipped.
//   advance: lens[b] += n, one thread per row.
// Memory-bound copies: 2 x batch x rows x width elements read and written (GPT-2 small at B8: 24 KB per
// layer, launch-bound). 16-byte packs when every row start is aligned, elements otherwise.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_kv_append_params, ANVIL_KV_APPEND_SLOTS);

namespace {

using namespace anvil;

constexpr int kThreads = 256;

// One thread per N-element pack of one (b, t) row of k or v: 2 * batch * rows * width / N threads.
template <typename T, int N>
__global__ void kv_append_kernel(const anvil_kv_append_params p, unsigned* error) {
  const int64_t packs = p.width / N, per_tensor = p.batch * p.rows * packs, total = 2 * per_tensor;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const bool value = i >= per_tensor;
    const int64_t r = value ? i - per_tensor : i;
    const int64_t row = r / packs, c = (r - row * packs) * N, b = row / p.rows, t = row - b * p.rows;
    const int64_t pos = static_cast<int64_t>(dptr<const int>(p.lens)[b]) + t;
    if (pos < 0 || pos >= p.capacity) {
      if (c == 0) *(volatile unsigned*)error = ANVIL_DEVERR_KV_POSITION;
      continue;
    }
    const T* src = dptr<const T>(value ? p.v_new : p.k_new) + b * p.new_batch_stride + t * p.new_row_stride + c;
    T* dst = dptr<T>(value ? p.v_cache : p.k_cache) + (b * p.capacity + pos) * p.width + c;
    *reinterpret_cast<Pack<T, N>*>(dst) = *reinterpret_cast<const Pack<T, N>*>(src);
  }
}

__global__ void kv_advance_kernel(int* lens, int64_t batch, int n) {
  const int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (b < batch) lens[b] += n;
}

template <typename T>
int kv_append(const anvil_kv_append_params* p, cudaStream_t s) {
  if (p->batch <= 0 || p->rows <= 0 || p->width <= 0) return ANVIL_OK;
  if (!p->lens || !p->k_new || !p->v_new || !p->k_cache || !p->v_cache)
    return anvil_set_error(ANVIL_E_INVALID, "cuda kv_append: every pointer is required");
  unsigned* error = device_error_word();
  if (!error) return ANVIL_E_CUDA;
  constexpr int N = pack_of<T>();
  const bool packed = rows_vectorizable<T>(p->width, {p->k_new, p->v_new, p->k_cache, p->v_cache}) &&
                      p->new_row_stride % N == 0 && p->new_batch_stride % N == 0;
  const int64_t rows = 2 * p->batch * p->rows;
  if (packed) {
    auto kernel = kv_append_kernel<T, N>;
    ANVIL_LAUNCH(kernel, blocks_for(rows * (p->width / N), kThreads), kThreads, 0, s)(*p, error);
  } else {
    auto kernel = kv_append_kernel<T, 1>;
    ANVIL_LAUNCH(kernel, blocks_for(rows * p->width, kThreads), kThreads, 0, s)(*p, error);
  }
  ANVIL_LAUNCH_CHECK("kv_append_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_kv_append(const anvil_kv_append_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "kv_append", kv_append, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_kv_advance(int64_t lens, int64_t batch, int64_t n, int64_t stream) {
  if (batch <= 0) return ANVIL_OK;
  if (!lens || n < INT32_MIN || n > INT32_MAX)
    return anvil_set_error(ANVIL_E_INVALID, "cuda kv_advance: lens is required and n must fit in int32");
  auto kernel = kv_advance_kernel;
  ANVIL_LAUNCH(kernel, blocks_for(batch, kThreads), kThreads, 0, as_stream(stream))(
      dptr<int>(lens), batch, static_cast<int>(n));
  ANVIL_LAUNCH_CHECK("kv_advance_kernel");
  return ANVIL_OK;
}

}  // extern "C"
