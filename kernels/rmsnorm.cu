// rmsnorm.cu: RMS normalization over the last dim (Llama), fp32 or bf16 storage, fp32 statistics and math.
//   fwd: x (rows, cols) -> y (rows, cols) = xhat * weight, xhat = x * rstd, rstd = rsqrt(mean(x^2) + eps);
//        weight (cols) dtype; rstd (rows) fp32, written when non-zero (kept for bwd).
//   bwd: dx (rows, cols) written (=) when non-zero = rstd * (g - xhat * mean(g * xhat)), g = dy * weight;
//        dweight (cols) fp32 += sum over rows of dy * xhat.
// One warp per row, as layernorm.cu; the backward takes rstd from the forward. dweight reduces across
// rows in a fixed order (column partials per split of rows, then a sum of the splits): deterministic,
// no atomics.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_rmsnorm_params, ANVIL_RMSNORM_SLOTS);

namespace {

using namespace anvil;

constexpr int kWarps = 8;  // rows per block in the row kernels

// x (rows, cols) -> y (rows, cols); rstd (rows)
template <typename T, int N>
__global__ void __launch_bounds__(kWarps * 32)
rmsnorm_fwd_kernel(const T* x, const T* weight, T* y, float* rstd, int64_t rows, int cols, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t)kWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const T* xr = x + row * cols;
  T* yr = y + row * cols;
  float sq = 0;
  for (int c = lane * N; c < cols; c += 32 * N) {
    float v[N];
    load_pack<T, N>(xr + c, v);
#pragma unroll
    for (int i = 0; i < N; ++i) sq += v[i] * v[i];
  }
  const float r = rsqrtf(warp_sum(sq) / cols + eps);
  for (int c = lane * N; c < cols; c += 32 * N) {
    float v[N], w[N];
    load_pack<T, N>(xr + c, v);
    load_pack<T, N>(weight + c, w);
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = (v[i] * r) * w[i];
    store_pack<T, N>(yr + c, v);
  }
  if (lane == 0 && rstd) rstd[row] = r;
}

// dx (rows, cols) = rstd * (g - xhat * mean(g * xhat)), g = dy * weight
template <typename T, int N>
__global__ void __launch_bounds__(kWarps * 32)
rmsnorm_bwd_dx_kernel(const T* x, const T* weight, const float* rstd, const T* dy, T* dx, int64_t rows, int cols) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t)kWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const T* xr = x + row * cols;
  const T* dyr = dy + row * cols;
  const float r = rstd[row];
  float sum_gx = 0;
  for (int c = lane * N; c < cols; c += 32 * N) {
    float v[N], w[N], d[N];
    load_pack<T, N>(xr + c, v);
    load_pack<T, N>(weight + c, w);
    load_pack<T, N>(dyr + c, d);
#pragma unroll
    for (int i = 0; i < N; ++i) sum_gx += d[i] * w[i] * v[i] * r;
  }
  const float mean_gx = warp_sum(sum_gx) / cols;
  T* dxr = dx + row * cols;
  for (int c = lane * N; c < cols; c += 32 * N) {
    float v[N], w[N], d[N];
    load_pack<T, N>(xr + c, v);
    load_pack<T, N>(weight + c, w);
    load_pack<T, N>(dyr + c, d);
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = r * (d[i] * w[i] - v[i] * r * mean_gx);
    store_pack<T, N>(dxr + c, v);
  }
}

// Column partials over one split of the rows: partial[split][c] = sum dy * xhat.
// Block (32, 8): x is the column inside a 32-column tile, y walks the split's rows 8 apart.
template <typename T>
__global__ void __launch_bounds__(256)
rmsnorm_bwd_partials_kernel(const T* x, const float* rstd, const T* dy, float* partial, int64_t rows, int cols,
                            int64_t rows_per_split) {
  __shared__ float sw[8][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  const int64_t begin = blockIdx.y * rows_per_split;
  const int64_t end = begin + rows_per_split < rows ? begin + rows_per_split : rows;
  float acc = 0;
  if (c < cols) {
    for (int64_t r = begin + threadIdx.y; r < end; r += 8) acc += load(dy, r * cols + c) * load(x, r * cols + c) * rstd[r];
  }
  sw[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float w = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) w += sw[i][threadIdx.x];
    partial[blockIdx.y * (int64_t)cols + c] = w;
  }
}

// dweight (cols) += sum over splits of partial.
__global__ void rmsnorm_bwd_sum_kernel(const float* partial, float* dweight, int cols, int splits) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float w = 0;
  for (int s = 0; s < splits; ++s) w += partial[(int64_t)s * cols + c];
  dweight[c] += w;
}

template <typename T>
int rmsnorm_fwd(const anvil_rmsnorm_params* p, cudaStream_t s) {
  if (p->rows <= 0 || p->cols <= 0) return ANVIL_OK;
  if (p->cols > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda rmsnorm: cols > 2^31");
  const unsigned blocks = static_cast<unsigned>((p->rows + kWarps - 1) / kWarps);
  const int cols = static_cast<int>(p->cols);
  if (rows_vectorizable<T>(p->cols, {p->x, p->weight, p->y})) {
    rmsnorm_fwd_kernel<T, pack_of<T>()><<<blocks, kWarps * 32, 0, s>>>(
        dptr<const T>(p->x), dptr<const T>(p->weight), dptr<T>(p->y), dptr<float>(p->rstd), p->rows, cols,
        (float)p->eps);
  } else {
    rmsnorm_fwd_kernel<T, 1><<<blocks, kWarps * 32, 0, s>>>(
        dptr<const T>(p->x), dptr<const T>(p->weight), dptr<T>(p->y), dptr<float>(p->rstd), p->rows, cols,
        (float)p->eps);
  }
  ANVIL_LAUNCH_CHECK("rmsnorm_fwd_kernel");
  return ANVIL_OK;
}

template <typename T>
int rmsnorm_bwd(const anvil_rmsnorm_params* p, cudaStream_t s) {
  if (p->rows <= 0 || p->cols <= 0) return ANVIL_OK;
  if (p->cols > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda rmsnorm: cols > 2^31");
  if (!p->rstd) return anvil_set_error(ANVIL_E_INVALID, "cuda rmsnorm_bwd: needs rstd from the forward");
  const int cols = static_cast<int>(p->cols);
  if (p->dx) {
    const unsigned blocks = static_cast<unsigned>((p->rows + kWarps - 1) / kWarps);
    if (rows_vectorizable<T>(p->cols, {p->x, p->weight, p->dy, p->dx})) {
      rmsnorm_bwd_dx_kernel<T, pack_of<T>()><<<blocks, kWarps * 32, 0, s>>>(
          dptr<const T>(p->x), dptr<const T>(p->weight), dptr<const float>(p->rstd), dptr<const T>(p->dy),
          dptr<T>(p->dx), p->rows, cols);
    } else {
      rmsnorm_bwd_dx_kernel<T, 1><<<blocks, kWarps * 32, 0, s>>>(
          dptr<const T>(p->x), dptr<const T>(p->weight), dptr<const float>(p->rstd), dptr<const T>(p->dy),
          dptr<T>(p->dx), p->rows, cols);
    }
    ANVIL_LAUNCH_CHECK("rmsnorm_bwd_dx_kernel");
  }
  if (!p->dweight) return ANVIL_OK;
  const auto [per, splits] = row_splits(p->rows);  // a fixed summation order (common.cuh)
  Scratch scratch(s);
  ANVIL_CUDA_CHECK(scratch.allocate(round_up(sizeof(float) * splits * cols)));
  dim3 grid(static_cast<unsigned>((cols + 31) / 32), static_cast<unsigned>(splits));
  rmsnorm_bwd_partials_kernel<T><<<grid, dim3(32, 8), 0, s>>>(
      dptr<const T>(p->x), dptr<const float>(p->rstd), dptr<const T>(p->dy), scratch.at<float>(0), p->rows, cols, per);
  ANVIL_LAUNCH_CHECK("rmsnorm_bwd_partials_kernel");
  rmsnorm_bwd_sum_kernel<<<(cols + 255) / 256, 256, 0, s>>>(scratch.at<float>(0), dptr<float>(p->dweight), cols,
                                                            static_cast<int>(splits));
  ANVIL_LAUNCH_CHECK("rmsnorm_bwd_sum_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_rmsnorm_fwd(const anvil_rmsnorm_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "rmsnorm_fwd", rmsnorm_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_rmsnorm_bwd(const anvil_rmsnorm_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "rmsnorm_bwd", rmsnorm_bwd, p, as_stream(stream));
}

}  // extern "C"
