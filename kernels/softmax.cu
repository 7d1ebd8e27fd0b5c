// softmax.cu: softmax over the last dim, fp32 or bf16 storage, fp32 math.
//   fwd: y (rows, cols) = softmax(scale * x (rows, cols))
//   bwd: dx (rows, cols) written (=) = scale * y * (dy - sum(dy * y))
// Rows of up to 1024 columns get one warp each (8 rows per block); longer rows one block of 256
// threads. The forward keeps an online (max, sum of exp) pair per thread in one pass, merges the pairs,
// then writes; so x is read twice, y written once.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_softmax_params, ANVIL_SOFTMAX_SLOTS);

namespace {

using namespace anvil;

constexpr int kThreads = 256;
constexpr int kWarpRowMaxCols = 1024;

// Threads of one row: a warp (kWarpRow) or the whole block.
template <bool kWarpRow>
struct RowTeam {
  __device__ static int64_t row() {
    return kWarpRow ? blockIdx.x * (int64_t)(kThreads / 32) + (threadIdx.x >> 5) : (int64_t)blockIdx.x;
  }
  __device__ static int rank() { return kWarpRow ? (threadIdx.x & 31) : threadIdx.x; }
  __device__ static int size() { return kWarpRow ? 32 : kThreads; }
};

__device__ __forceinline__ void online(MaxSum& a, float v) {
  if (v == -INFINITY) return;
  if (v > a.m) {
    a.s = a.s * __expf(a.m - v) + 1.0f;
    a.m = v;
  } else {
    a.s += __expf(v - a.m);
  }
}

// y (rows, cols) = softmax(scale * x)
template <typename T, int N, bool kWarpRow>
__global__ void __launch_bounds__(kThreads)
softmax_fwd_kernel(const T* x, T* y, int64_t rows, int64_t cols, float scale) {
  using Team = RowTeam<kWarpRow>;
  __shared__ MaxSum shared[32];
  const int64_t row = Team::row();
  if (row >= rows) return;  // whole warps or whole blocks leave together
  const T* xr = x + row * cols;
  MaxSum a{-INFINITY, 0.0f};
  for (int64_t c = Team::rank() * N; c < cols; c += Team::size() * N) {
    float v[N];
    load_pack<T, N>(xr + c, v);
#pragma unroll
    for (int i = 0; i < N; ++i) online(a, scale * v[i]);
  }
  a = kWarpRow ? warp_merge(a) : block_merge(a, shared);
  const float inv = 1.0f / a.s;
  T* yr = y + row * cols;
  for (int64_t c = Team::rank() * N; c < cols; c += Team::size() * N) {
    float v[N];
    load_pack<T, N>(xr + c, v);
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = __expf(scale * v[i] - a.m) * inv;
    store_pack<T, N>(yr + c, v);
  }
}

// dx (rows, cols) = scale * y * (dy - sum(dy * y))
template <typename T, int N, bool kWarpRow>
__global__ void __launch_bounds__(kThreads)
softmax_bwd_kernel(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols, float scale) {
  using Team = RowTeam<kWarpRow>;
  __shared__ float shared[32];
  const int64_t row = Team::row();
  if (row >= rows) return;
  const T* yr = y + row * cols;
  const T* dyr = dy + row * cols;
  float dot = 0;
  for (int64_t c = Team::rank() * N; c < cols; c += Team::size() * N) {
    float a[N], b[N];
    load_pack<T, N>(yr + c, a);
    load_pack<T, N>(dyr + c, b);
#pragma unroll
    for (int i = 0; i < N; ++i) dot += a[i] * b[i];
  }
  dot = kWarpRow ? warp_sum(dot) : block_sum(dot, shared);
  T* dxr = dx + row * cols;
  for (int64_t c = Team::rank() * N; c < cols; c += Team::size() * N) {
    float a[N], b[N];
    load_pack<T, N>(yr + c, a);
    load_pack<T, N>(dyr + c, b);
#pragma unroll
    for (int i = 0; i < N; ++i) a[i] = scale * a[i] * (b[i] - dot);
    store_pack<T, N>(dxr + c, a);
  }
}

unsigned grid_rows(int64_t rows, bool warp_row) {
  return static_cast<unsigned>(warp_row ? (rows + kThreads / 32 - 1) / (kThreads / 32) : rows);
}

template <typename T>
int softmax_fwd(const anvil_softmax_params* p, cudaStream_t s) {
  if (p->rows <= 0 || p->cols <= 0) return ANVIL_OK;
  if (p->rows > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda softmax: rows > 2^31");
  constexpr int N = pack_of<T>();
  const bool vec = rows_vectorizable<T>(p->cols, {p->x, p->y});
  const bool warp_row = p->cols <= kWarpRowMaxCols;
  const dim3 grid(grid_rows(p->rows, warp_row));
  const T* x = dptr<const T>(p->x);
  T* y = dptr<T>(p->y);
  const float scale = (float)p->scale;
  if (warp_row && vec) softmax_fwd_kernel<T, N, true><<<grid, kThreads, 0, s>>>(x, y, p->rows, p->cols, scale);
  else if (warp_row) softmax_fwd_kernel<T, 1, true><<<grid, kThreads, 0, s>>>(x, y, p->rows, p->cols, scale);
  else if (vec) softmax_fwd_kernel<T, N, false><<<grid, kThreads, 0, s>>>(x, y, p->rows, p->cols, scale);
  else softmax_fwd_kernel<T, 1, false><<<grid, kThreads, 0, s>>>(x, y, p->rows, p->cols, scale);
  ANVIL_LAUNCH_CHECK("softmax_fwd_kernel");
  return ANVIL_OK;
}

template <typename T>
int softmax_bwd(const anvil_softmax_params* p, cudaStream_t s) {
  if (p->rows <= 0 || p->cols <= 0) return ANVIL_OK;
  if (p->rows > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda softmax: rows > 2^31");
  constexpr int N = pack_of<T>();
  const bool vec = rows_vectorizable<T>(p->cols, {p->y, p->dy, p->dx});
  const bool warp_row = p->cols <= kWarpRowMaxCols;
  const dim3 grid(grid_rows(p->rows, warp_row));
  const T* y = dptr<const T>(p->y);
  const T* dy = dptr<const T>(p->dy);
  T* dx = dptr<T>(p->dx);
  const float scale = (float)p->scale;
  if (warp_row && vec) softmax_bwd_kernel<T, N, true><<<grid, kThreads, 0, s>>>(y, dy, dx, p->rows, p->cols, scale);
  else if (warp_row) softmax_bwd_kernel<T, 1, true><<<grid, kThreads, 0, s>>>(y, dy, dx, p->rows, p->cols, scale);
  else if (vec) softmax_bwd_kernel<T, N, false><<<grid, kThreads, 0, s>>>(y, dy, dx, p->rows, p->cols, scale);
  else softmax_bwd_kernel<T, 1, false><<<grid, kThreads, 0, s>>>(y, dy, dx, p->rows, p->cols, scale);
  ANVIL_LAUNCH_CHECK("softmax_bwd_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_softmax_fwd(const anvil_softmax_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "softmax_fwd", softmax_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_softmax_bwd(const anvil_softmax_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "softmax_bwd", softmax_bwd, p, as_stream(stream));
}

}  // extern "C"
