// layernorm.cu: LayerNorm over the last dim, fp32 or bf16 storage, fp32 statistics and math.
//   fwd: x (rows, cols) -> y (rows, cols) = (x - mean) * rstd * weight + bias; weight, bias (cols), bias
//        may be 0; mean, rstd (rows) fp32, written when non-zero (kept for bwd).
//   bwd: dx (rows, cols) written (=) = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight;
//        dweight (cols) fp32 += sum over rows of dy * xhat; dbias (cols) fp32 += sum over rows of dy.
// Rows are independent: one warp per row, three passes over the row (sum, centred sum of squares,
// write), so the variance is two-pass (no E[x^2] - E[x]^2 cancellation); the row stays in L1/L2.
// dweight/dbias reduce across rows in a fixed order (column partials per row split, then a sum of the
// splits), so results are deterministic; no atomics.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_layernorm_params, ANVIL_LAYERNORM_SLOTS);

namespace {

using namespace anvil;

constexpr int kWarps = 8;  // rows per block in the row kernels

// x (rows, cols) -> y (rows, cols); mean, rstd (rows)
template <typename T, int N>
__global__ void __launch_bounds__(kWarps * 32)
layernorm_fwd_kernel(const T* x, const T* weight, const T* bias, T* y, float* mean, float* rstd,
                     int64_t rows, int cols, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t)kWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const T* xr = x + row * cols;
  T* yr = y + row * cols;
  float sum = 0;
  for (int c = lane * N; c < cols; c += 32 * N) {
    float v[N];
    load_pack<T, N>(xr + c, v);
#pragma unroll
    for (int i = 0; i < N; ++i) sum += v[i];
  }
  const float m = warp_sum(sum) / cols;
  float sq = 0;
  for (int c = lane * N; c < cols; c += 32 * N) {
    float v[N];
    load_pack<T, N>(xr + c, v);
#pragma unroll
    for (int i = 0; i < N; ++i) sq += (v[i] - m) * (v[i] - m);
  }
  const float r = rsqrtf(warp_sum(sq) / cols + eps);
  for (int c = lane * N; c < cols; c += 32 * N) {
    float v[N], w[N], b[N];
    load_pack<T, N>(xr + c, v);
    load_pack<T, N>(weight + c, w);
    if (bias) load_pack<T, N>(bias + c, b);
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = (v[i] - m) * r * w[i] + (bias ? b[i] : 0.0f);
    store_pack<T, N>(yr + c, v);
  }
  if (lane == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = r;
  }
}

// dx (rows, cols) = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight
template <typename T, int N>
__global__ void __launch_bounds__(kWarps * 32)
layernorm_bwd_dx_kernel(const T* x, const T* weight, const float* mean, const float* rstd, const T* dy, T* dx,
                        int64_t rows, int cols) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t)kWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const T* xr = x + row * cols;
  const T* dyr = dy + row * cols;
  const float m = mean[row], r = rstd[row];
  float sum_g = 0, sum_gx = 0;
  for (int c = lane * N; c < cols; c += 32 * N) {
    float v[N], w[N], d[N];
    load_pack<T, N>(xr + c, v);
    load_pack<T, N>(weight + c, w);
    load_pack<T, N>(dyr + c, d);
#pragma unroll
    for (int i = 0; i < N; ++i) {
      float g = d[i] * w[i];
      sum_g += g;
      sum_gx += g * (v[i] - m) * r;
    }
  }
  const float mean_g = warp_sum(sum_g) / cols, mean_gx = warp_sum(sum_gx) / cols;
  T* dxr = dx + row * cols;
  for (int c = lane * N; c < cols; c += 32 * N) {
    float v[N], w[N], d[N];
    load_pack<T, N>(xr + c, v);
    load_pack<T, N>(weight + c, w);
    load_pack<T, N>(dyr + c, d);
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = r * (d[i] * w[i] - mean_g - (v[i] - m) * r * mean_gx);
    store_pack<T, N>(dxr + c, v);
  }
}

// Column partials over one split of the rows: partial_w[split][c] = sum dy * xhat, partial_b = sum dy.
// Block (32, 8): x is the column inside a 32-column tile, y walks the split's rows 8 apart.
template <typename T>
__global__ void __launch_bounds__(256)
layernorm_bwd_partials_kernel(const T* x, const float* mean, const float* rstd, const T* dy, float* partial_w,
                              float* partial_b, int64_t rows, int cols, int64_t rows_per_split) {
  __shared__ float sw[8][33], sb[8][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  const int64_t begin = blockIdx.y * rows_per_split;
  const int64_t end = begin + rows_per_split < rows ? begin + rows_per_split : rows;
  float acc_w = 0, acc_b = 0;
  if (c < cols) {
    for (int64_t r = begin + threadIdx.y; r < end; r += 8) {
      float d = load(dy, r * cols + c);
      acc_w += d * (load(x, r * cols + c) - mean[r]) * rstd[r];
      acc_b += d;
    }
  }
  sw[threadIdx.y][threadIdx.x] = acc_w;
  sb[threadIdx.y][threadIdx.x] = acc_b;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float w = 0, b = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      w += sw[i][threadIdx.x];
      b += sb[i][threadIdx.x];
    }
    partial_w[blockIdx.y * (int64_t)cols + c] = w;
    partial_b[blockIdx.y * (int64_t)cols + c] = b;
  }
}

// dweight (cols) += sum over splits of partial_w; dbias likewise when given.
__global__ void layernorm_bwd_sum_kernel(const float* partial_w, const float* partial_b, float* dweight,
                                         float* dbias, int cols, int splits) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float w = 0, b = 0;
  for (int s = 0; s < splits; ++s) {
    w += partial_w[(int64_t)s * cols + c];
    b += partial_b[(int64_t)s * cols + c];
  }
  dweight[c] += w;
  if (dbias) dbias[c] += b;
}

template <typename T>
int layernorm_fwd(const anvil_layernorm_params* p, cudaStream_t s) {
  if (p->rows <= 0 || p->cols <= 0) return ANVIL_OK;
  if (p->cols > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda layernorm: cols > 2^31");
  const unsigned blocks = static_cast<unsigned>((p->rows + kWarps - 1) / kWarps);
  const int cols = static_cast<int>(p->cols);
  if (rows_vectorizable<T>(p->cols, {p->x, p->weight, p->bias, p->y})) {
    layernorm_fwd_kernel<T, pack_of<T>()><<<blocks, kWarps * 32, 0, s>>>(
        dptr<const T>(p->x), dptr<const T>(p->weight), dptr<const T>(p->bias), dptr<T>(p->y),
        dptr<float>(p->mean), dptr<float>(p->rstd), p->rows, cols, (float)p->eps);
  } else {
    layernorm_fwd_kernel<T, 1><<<blocks, kWarps * 32, 0, s>>>(
        dptr<const T>(p->x), dptr<const T>(p->weight), dptr<const T>(p->bias), dptr<T>(p->y),
        dptr<float>(p->mean), dptr<float>(p->rstd), p->rows, cols, (float)p->eps);
  }
  ANVIL_LAUNCH_CHECK("layernorm_fwd_kernel");
  return ANVIL_OK;
}

template <typename T>
int layernorm_bwd(const anvil_layernorm_params* p, cudaStream_t s) {
  if (p->rows <= 0 || p->cols <= 0) return ANVIL_OK;
  if (p->cols > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda layernorm: cols > 2^31");
  const int cols = static_cast<int>(p->cols);
  if (p->dx) {
    const unsigned blocks = static_cast<unsigned>((p->rows + kWarps - 1) / kWarps);
    if (rows_vectorizable<T>(p->cols, {p->x, p->weight, p->dy, p->dx})) {
      layernorm_bwd_dx_kernel<T, pack_of<T>()><<<blocks, kWarps * 32, 0, s>>>(
          dptr<const T>(p->x), dptr<const T>(p->weight), dptr<const float>(p->mean), dptr<const float>(p->rstd),
          dptr<const T>(p->dy), dptr<T>(p->dx), p->rows, cols);
    } else {
      layernorm_bwd_dx_kernel<T, 1><<<blocks, kWarps * 32, 0, s>>>(
          dptr<const T>(p->x), dptr<const T>(p->weight), dptr<const float>(p->mean), dptr<const float>(p->rstd),
          dptr<const T>(p->dy), dptr<T>(p->dx), p->rows, cols);
    }
    ANVIL_LAUNCH_CHECK("layernorm_bwd_dx_kernel");
  }
  if (!p->dweight) return ANVIL_OK;
  const auto [per, splits] = row_splits(p->rows);  // a fixed summation order (common.cuh)
  Scratch scratch(s);
  const size_t half = round_up(sizeof(float) * splits * cols);
  ANVIL_CUDA_CHECK(scratch.allocate(2 * half));
  dim3 grid(static_cast<unsigned>((cols + 31) / 32), static_cast<unsigned>(splits));
  layernorm_bwd_partials_kernel<T><<<grid, dim3(32, 8), 0, s>>>(
      dptr<const T>(p->x), dptr<const float>(p->mean), dptr<const float>(p->rstd), dptr<const T>(p->dy),
      scratch.at<float>(0), scratch.at<float>(half), p->rows, cols, per);
  ANVIL_LAUNCH_CHECK("layernorm_bwd_partials_kernel");
  layernorm_bwd_sum_kernel<<<(cols + 255) / 256, 256, 0, s>>>(scratch.at<float>(0), scratch.at<float>(half),
                                                              dptr<float>(p->dweight), dptr<float>(p->dbias),
                                                              cols, static_cast<int>(splits));
  ANVIL_LAUNCH_CHECK("layernorm_bwd_sum_kernel");
  return ANVIL_OK;
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_layernorm_fwd(const anvil_layernorm_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "layernorm_fwd", layernorm_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_layernorm_bwd(const anvil_layernorm_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "layernorm_bwd", layernorm_bwd, p, as_stream(stream));
}

}  // extern "C"
