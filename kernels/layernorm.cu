// layernorm.cu: LayerNorm over the last dim, fp32 or bf16 storage, fp32 statistics and math.
//   fwd: x (rows, cols) -> y (rows, cols) = (x - mean) * rstd * weight + bias; weight, bias (cols), bias
//        may be 0; mean, rstd (rows) fp32, written when non-zero (kept for bwd).
//   bwd: dx (rows, cols) written (=), or added (+= when accumulate_dx) = rstd * (g - mean(g) - xhat *
//        mean(g * xhat)), g = dy * weight; dweight (cols) fp32 += (or = when overwrite_params) sum over
//        rows of dy * xhat; dbias (cols) fp32 likewise of dy.
//   y_bf16: y and dy bf16 while x, weight, bias, dx are fp32 (Y below): the output of a LayerNorm that
//        feeds a bf16 linear, rounded once from the same fp32 value (a cast after it would round the
//        same), and its gradient read as the linear wrote it: no cast pass either way.
// Rows are independent: one warp per row, three passes over the row (sum, centred sum of squares,
// write), so the variance is two-pass (no E[x^2] - E[x]^2 cancellation); the row stays in L1/L2.
// dweight/dbias reduce across rows in a fixed order (column partials per row split, then a sum of the
// splits), so results are deterministic; no atomics.
#include "common.cuh"

#include <type_traits>

ANVIL_PARAMS_CHECK(anvil_layernorm_params, ANVIL_LAYERNORM_SLOTS);

namespace {

using namespace anvil;

constexpr int kWarps = 8;  // rows per block in the row kernels

// x (rows, cols) -> y (rows, cols; storage Y: T, or bf16 under fp32 T); mean, rstd (rows)
template <typename T, typename Y, int N>
__global__ void __launch_bounds__(kWarps * 32)
layernorm_fwd_kernel(const T* x, const T* weight, const T* bias, Y* y, float* mean, float* rstd,
                     int64_t rows, int cols, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t)kWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const T* xr = x + row * cols;
  Y* yr = y + row * cols;
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
    store_pack<Y, N>(yr + c, v);
  }
  if (lane == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = r;
  }
}

// dx (rows, cols) [+]= rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight; dy's storage Y
template <typename T, typename Y, int N>
__global__ void __launch_bounds__(kWarps * 32)
layernorm_bwd_dx_kernel(const T* x, const T* weight, const float* mean, const float* rstd, const Y* dy, T* dx,
                        int64_t rows, int cols, bool accumulate) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t)kWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const T* xr = x + row * cols;
  const Y* dyr = dy + row * cols;
  const float m = mean[row], r = rstd[row];
  float sum_g = 0, sum_gx = 0;
  for (int c = lane * N; c < cols; c += 32 * N) {
    float v[N], w[N], d[N];
    load_pack<T, N>(xr + c, v);
    load_pack<T, N>(weight + c, w);
    load_pack<Y, N>(dyr + c, d);
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
    load_pack<Y, N>(dyr + c, d);
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = r * (d[i] * w[i] - mean_g - (v[i] - m) * r * mean_gx);
    if (accumulate) {
      float o[N];
      load_pack<T, N>(dxr + c, o);
#pragma unroll
      for (int i = 0; i < N; ++i) v[i] += o[i];
    }
    store_pack<T, N>(dxr + c, v);
  }
}

// Column partials over one split of the rows: partial_w[split][c] = sum dy * xhat, partial_b = sum dy.
// Block (32, 8): x is the column inside a 32-column tile, y walks the split's rows 8 apart.
template <typename T, typename Y>
__global__ void __launch_bounds__(256)
layernorm_bwd_partials_kernel(const T* x, const float* mean, const float* rstd, const Y* dy, float* partial_w,
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

// dweight (cols) += (or = when overwrite) sum over splits of partial_w; dbias likewise when given.
// Block (32, 8) per 32 columns: thread (x, y) adds splits y, y + 8, ... in order, then the 8 chains are
// added in order (a serial sum of all splits per thread took ~7.5 us at 128 splits; this ~2-3 us).
__global__ void __launch_bounds__(256)
layernorm_bwd_sum_kernel(const float* partial_w, const float* partial_b, float* dweight, float* dbias, int cols,
                         int splits, bool overwrite) {
  __shared__ float sw[8][33], sb[8][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  float w = 0, b = 0;
  if (c < cols) {
    for (int s = threadIdx.y; s < splits; s += 8) {
      w += partial_w[(int64_t)s * cols + c];
      if (dbias) b += partial_b[(int64_t)s * cols + c];
    }
  }
  sw[threadIdx.y][threadIdx.x] = w;
  sb[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y != 0 || c >= cols) return;
  w = 0;
  b = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    w += sw[i][threadIdx.x];
    b += sb[i][threadIdx.x];
  }
  dweight[c] = overwrite ? w : dweight[c] + w;
  if (dbias) dbias[c] = overwrite ? b : dbias[c] + b;
}

template <typename T, typename Y>
int layernorm_fwd_as(const anvil_layernorm_params* p, cudaStream_t s) {
  const unsigned blocks = static_cast<unsigned>((p->rows + kWarps - 1) / kWarps);
  const int cols = static_cast<int>(p->cols);
  // T's pack (4 fp32 / 8 bf16) sets N; a bf16 y under fp32 T then moves 8-byte packs, aligned with them.
  if (rows_vectorizable<T>(p->cols, {p->x, p->weight, p->bias, p->y})) {
    auto kernel = layernorm_fwd_kernel<T, Y, pack_of<T>()>;
    ANVIL_LAUNCH(kernel, blocks, kWarps * 32, 0, s)(
        dptr<const T>(p->x), dptr<const T>(p->weight), dptr<const T>(p->bias), dptr<Y>(p->y),
        dptr<float>(p->mean), dptr<float>(p->rstd), p->rows, cols, (float)p->eps);
  } else {
    auto kernel = layernorm_fwd_kernel<T, Y, 1>;
    ANVIL_LAUNCH(kernel, blocks, kWarps * 32, 0, s)(
        dptr<const T>(p->x), dptr<const T>(p->weight), dptr<const T>(p->bias), dptr<Y>(p->y),
        dptr<float>(p->mean), dptr<float>(p->rstd), p->rows, cols, (float)p->eps);
  }
  ANVIL_LAUNCH_CHECK("layernorm_fwd_kernel");
  return ANVIL_OK;
}

template <typename T, typename Y>
int layernorm_bwd_as(const anvil_layernorm_params* p, cudaStream_t s) {
  const int cols = static_cast<int>(p->cols);
  if (p->dx) {
    const unsigned blocks = static_cast<unsigned>((p->rows + kWarps - 1) / kWarps);
    if (rows_vectorizable<T>(p->cols, {p->x, p->weight, p->dy, p->dx})) {
      auto kernel = layernorm_bwd_dx_kernel<T, Y, pack_of<T>()>;
      ANVIL_LAUNCH(kernel, blocks, kWarps * 32, 0, s)(
          dptr<const T>(p->x), dptr<const T>(p->weight), dptr<const float>(p->mean), dptr<const float>(p->rstd),
          dptr<const Y>(p->dy), dptr<T>(p->dx), p->rows, cols, p->accumulate_dx != 0);
    } else {
      auto kernel = layernorm_bwd_dx_kernel<T, Y, 1>;
      ANVIL_LAUNCH(kernel, blocks, kWarps * 32, 0, s)(
          dptr<const T>(p->x), dptr<const T>(p->weight), dptr<const float>(p->mean), dptr<const float>(p->rstd),
          dptr<const Y>(p->dy), dptr<T>(p->dx), p->rows, cols, p->accumulate_dx != 0);
    }
    ANVIL_LAUNCH_CHECK("layernorm_bwd_dx_kernel");
  }
  if (!p->dweight) return ANVIL_OK;
  const auto [per, splits] = row_splits(p->rows);  // a fixed summation order (common.cuh)
  Scratch scratch(s);
  const size_t half = round_up(sizeof(float) * splits * cols);
  ANVIL_CUDA_CHECK(scratch.allocate(2 * half));
  dim3 grid(static_cast<unsigned>((cols + 31) / 32), static_cast<unsigned>(splits));
  auto partials = layernorm_bwd_partials_kernel<T, Y>;
  ANVIL_LAUNCH(partials, grid, dim3(32, 8), 0, s)(
      dptr<const T>(p->x), dptr<const float>(p->mean), dptr<const float>(p->rstd), dptr<const Y>(p->dy),
      scratch.at<float>(0), scratch.at<float>(half), p->rows, cols, per);
  ANVIL_LAUNCH_CHECK("layernorm_bwd_partials_kernel");
  ANVIL_LAUNCH(layernorm_bwd_sum_kernel, (cols + 31) / 32, dim3(32, 8), 0, s)(
      scratch.at<float>(0), scratch.at<float>(half), dptr<float>(p->dweight), dptr<float>(p->dbias), cols,
      static_cast<int>(splits), p->overwrite_params != 0);
  ANVIL_LAUNCH_CHECK("layernorm_bwd_sum_kernel");
  return ANVIL_OK;
}

int check(const anvil_layernorm_params* p, bool fp32, const char* op) {
  if (p->cols > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda layernorm: cols > 2^31");
  if (p->y_bf16 && !fp32) {
    char message[96];
    snprintf(message, sizeof(message), "cuda %s: y_bf16 needs fp32 x (dtype ANVIL_F32)", op);
    return anvil_set_error(ANVIL_E_INVALID, message);
  }
  return ANVIL_OK;
}

template <typename T>
int layernorm_fwd(const anvil_layernorm_params* p, cudaStream_t s) {
  if (p->rows <= 0 || p->cols <= 0) return ANVIL_OK;
  if (int rc = check(p, std::is_same_v<T, float>, "layernorm_fwd")) return rc;
  if constexpr (std::is_same_v<T, float>)
    if (p->y_bf16) return layernorm_fwd_as<float, bf16>(p, s);
  return layernorm_fwd_as<T, T>(p, s);
}

template <typename T>
int layernorm_bwd(const anvil_layernorm_params* p, cudaStream_t s) {
  if (p->rows <= 0 || p->cols <= 0) return ANVIL_OK;
  if (int rc = check(p, std::is_same_v<T, float>, "layernorm_bwd")) return rc;
  if constexpr (std::is_same_v<T, float>)
    if (p->y_bf16) return layernorm_bwd_as<float, bf16>(p, s);
  return layernorm_bwd_as<T, T>(p, s);
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
