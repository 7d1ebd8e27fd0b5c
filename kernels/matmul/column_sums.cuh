// column_sums.cuh: the bias gradient of a linear, dbias (n, fp32) [+]= column sums of dc (rows, n), fp32
// or bf16, deterministic (no atomics; the summation order depends on rows and n only, never on the device).
//   pass 1 (column_partials_kernel): row_splits(rows) splits (common.cuh: 64 rows each, at most 1024),
//     one block row per split; a block is 32 x 8 threads over 32 * N columns, thread (x, y) sums N
//     adjacent columns (one 16-byte pack: 8 bf16 / 4 fp32) over the split's rows y, y + 8, ...; the 8 row
//     phases are then added in order through shared memory: partials[split][col].
//   pass 2 (column_sum_kernel): a block of 32 x 8 threads per 32 columns; thread (x, y) adds splits
//     y, y + 8, ... in order, then the 8 are added in order: dbias[col] = sum (=), or dbias[col] + sum (+=).
// Why: the first version read one scalar per thread (64 bytes per warp row of bf16) and summed the splits
// with one thread per column over 128 splits in series, ~23 us per (8192, 768) bf16 gradient against a
// ~4 us floor (12.6 MB at ~3.7 TB/s): 16-byte loads fill the sectors, and 8-way split sums cut the serial
// chain of pass 2 from 128 dependent adds to 16 plus 8.
#pragma once

#include "../common.cuh"

namespace anvil {
namespace colsum {

constexpr int kRowPhases = 8;  // threadIdx.y: rows y, y + 8, ... of a split

// partials (splits, n) = per-split column sums of dc (rows, n); N columns per thread (N == 1: scalar).
template <typename T, int N>
__global__ void __launch_bounds__(32 * kRowPhases)
column_partials_kernel(const T* dc, float* partials, int64_t rows, int64_t n, int64_t rows_per_split) {
  __shared__ float sums[kRowPhases][32 * N + 1];
  const int64_t col0 = (blockIdx.x * 32 + threadIdx.x) * (int64_t)N;
  const int64_t begin = blockIdx.y * rows_per_split;
  const int64_t end = begin + rows_per_split < rows ? begin + rows_per_split : rows;
  float acc[N];
#pragma unroll
  for (int i = 0; i < N; ++i) acc[i] = 0;
  if (col0 < n) {
#pragma unroll 4
    for (int64_t r = begin + threadIdx.y; r < end; r += kRowPhases) {
      float v[N];
      if (N > 1) {
        load_pack<T, N>(dc + r * n + col0, v);
      } else {
        v[0] = load(dc, r * n + col0);
      }
#pragma unroll
      for (int i = 0; i < N; ++i) acc[i] += v[i];
    }
  }
#pragma unroll
  for (int i = 0; i < N; ++i) sums[threadIdx.y][threadIdx.x * N + i] = acc[i];
  __syncthreads();
  // 256 threads add the 8 row phases of the block's 32 * N columns, each column in order 0..7.
  for (int c = threadIdx.y * 32 + threadIdx.x; c < 32 * N; c += 32 * kRowPhases) {
    const int64_t col = blockIdx.x * 32 * (int64_t)N + c;
    if (col >= n) continue;
    float s = 0;
#pragma unroll
    for (int y = 0; y < kRowPhases; ++y) s += sums[y][c];
    partials[blockIdx.y * n + col] = s;
  }
}

// dbias (n) = [dbias +] the sum over splits of partials (splits, n), in a fixed order.
__global__ void __launch_bounds__(32 * kRowPhases)
column_sum_kernel(const float* partials, float* dbias, int64_t n, int64_t splits, bool accumulate) {
  __shared__ float sums[kRowPhases][33];
  const int64_t col = blockIdx.x * 32 + (int64_t)threadIdx.x;
  float s = 0;
  if (col < n)
    for (int64_t i = threadIdx.y; i < splits; i += kRowPhases) s += partials[i * n + col];
  sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && col < n) {
    float t = 0;
#pragma unroll
    for (int y = 0; y < kRowPhases; ++y) t += sums[y][threadIdx.x];
    dbias[col] = accumulate ? dbias[col] + t : t;
  }
}

// dbias (n, fp32) = [dbias +] column sums of dc (rows, n; contiguous, dtype T), queued on s.
template <typename T>
int column_sums(int64_t dc, int64_t dbias, int64_t rows, int64_t n, bool accumulate, cudaStream_t s) {
  if (rows <= 0 || n <= 0) return ANVIL_OK;
  const auto [per, splits] = row_splits(rows);
  constexpr int N = pack_of<T>();
  const bool vec = rows_vectorizable<T>(n, {dc});
  const int64_t tiles = vec ? (n + 32 * N - 1) / (32 * N) : (n + 31) / 32;
  if (tiles > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda matmul: n too large for dbias");
  Scratch scratch(s);
  ANVIL_CUDA_CHECK(scratch.allocate(sizeof(float) * splits * n));
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(splits)), block(32, kRowPhases);
  if (vec) {
    auto kernel = column_partials_kernel<T, N>;
    ANVIL_LAUNCH(kernel, grid, block, 0, s)(dptr<const T>(dc), scratch.at<float>(0), rows, n, per);
  } else {
    auto kernel = column_partials_kernel<T, 1>;
    ANVIL_LAUNCH(kernel, grid, block, 0, s)(dptr<const T>(dc), scratch.at<float>(0), rows, n, per);
  }
  ANVIL_LAUNCH_CHECK("column_partials_kernel");
  const unsigned sum_blocks = static_cast<unsigned>((n + 31) / 32);
  ANVIL_LAUNCH(column_sum_kernel, sum_blocks, block, 0, s)(scratch.at<float>(0), dptr<float>(dbias), n, splits,
                                                           accumulate);
  ANVIL_LAUNCH_CHECK("column_sum_kernel");
  return ANVIL_OK;
}

}  // namespace colsum
}  // namespace anvil
