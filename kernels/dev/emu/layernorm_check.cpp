// kernels/dev/emu/layernorm_check.cpp: layernorm.cu under the CPU emulator, for the bf16 step's paths:
//   - y_bf16 forward: y (bf16) is the fp32 kernel's y rounded to nearest even, bit for bit, and mean/rstd
//     equal the fp32 kernel's;
//   - y_bf16 backward (dy bf16): dx, dweight, dbias equal the fp32 kernel's from dy widened, bit for bit;
//   - accumulate_dx: dx equals old + the written dx (fp32 adds), bit for bit; overwrite_params: dweight and
//     dbias equal the += result from zero; the scalar path (cols not a multiple of 4, or a shifted view);
//   - the fp32 kernels against anvil_cpu_layernorm_fwd/bwd (fp64 statistics there) within 1e-4 relative.
// Built and run by kernels/dev/emu/run_emu.sh layernorm.
#include <cmath>
// The device's rsqrtf (an approximation there; both paths compared here share it).
inline float rsqrtf(float v) { return 1.0f / std::sqrt(v); }
#include "../../layernorm.cu"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check_kit.h"

namespace {

template <typename T>
T* device(size_t n) {
  T* p;
  cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T));
  return p;
}

int64_t addr(const void* p) { return reinterpret_cast<int64_t>(p); }

bool same(const float* a, const float* b, int64_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

void run(int64_t rows, int64_t cols, int offset, std::mt19937& rng) {
  const std::string label = "(" + std::to_string(rows) + ", " + std::to_string(cols) + ") offset " + std::to_string(offset);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = rows * cols;
  float *x = device<float>(n + offset), *w = device<float>(cols), *b = device<float>(cols);
  float *y32 = device<float>(n), *mean = device<float>(rows), *rstd = device<float>(rows);
  float *mean16 = device<float>(rows), *rstd16 = device<float>(rows);
  uint16_t *y16 = device<uint16_t>(n + offset), *dy16 = device<uint16_t>(n + offset);
  float *dy32 = device<float>(n), *dx32 = device<float>(n), *dx16 = device<float>(n + offset);
  float *dw32 = device<float>(cols), *db32 = device<float>(cols), *dw16 = device<float>(cols), *db16 = device<float>(cols);
  for (int64_t i = 0; i < n + offset; ++i) x[i] = 3.0f + 2.0f * normal(rng);
  for (int64_t i = 0; i < cols; ++i) {
    w[i] = normal(rng);
    b[i] = normal(rng);
  }
  for (int64_t i = 0; i < n + offset; ++i) dy16[i] = rne(normal(rng));
  for (int64_t i = 0; i < n; ++i) dy32[i] = widen(dy16[offset + i]);
  const float* xs = x + offset;

  // Forward: fp32 y, then bf16 y (on the shifted view when offset > 0).
  anvil_layernorm_params f{};
  f.x = addr(xs); f.weight = addr(w); f.bias = addr(b); f.y = addr(y32); f.mean = addr(mean); f.rstd = addr(rstd);
  f.rows = rows; f.cols = cols; f.eps = 1e-5;
  if (anvil_cuda_layernorm_fwd(&f, ANVIL_F32, 0) != 0) fail(label + ": fwd fp32 " + anvil_last_error());
  anvil_layernorm_params g = f;
  g.y = addr(y16 + offset); g.mean = addr(mean16); g.rstd = addr(rstd16); g.y_bf16 = 1;
  if (anvil_cuda_layernorm_fwd(&g, ANVIL_F32, 0) != 0) fail(label + ": fwd y_bf16 " + anvil_last_error());
  for (int64_t i = 0; i < n; ++i) {
    ++checks;
    if (y16[offset + i] != rne(y32[i])) {
      fail(label + ": y_bf16 at " + std::to_string(i));
      break;
    }
  }
  ++checks;
  if (!same(mean, mean16, rows) || !same(rstd, rstd16, rows)) fail(label + ": y_bf16 statistics differ");

  // The fp32 forward against the CPU library.
  std::vector<float> ycpu(n), mcpu(rows), rcpu(rows);
  anvil_layernorm_params c = f;
  c.y = addr(ycpu.data()); c.mean = addr(mcpu.data()); c.rstd = addr(rcpu.data());
  if (anvil_cpu_layernorm_fwd(&c) != 0) fail(label + ": cpu fwd " + anvil_last_error());
  for (int64_t i = 0; i < n; ++i) {
    ++checks;
    if (!(std::fabs(ycpu[i] - y32[i]) <= 1e-4f * (1.0f + std::fabs(ycpu[i])))) {
      fail(label + ": fp32 y vs cpu at " + std::to_string(i));
      break;
    }
  }

  // Backward: fp32 dy written, dweight/dbias += from 0.5; then bf16 dy the same way: equal bits.
  for (int64_t i = 0; i < cols; ++i) dw32[i] = db32[i] = dw16[i] = db16[i] = 0.5f;
  anvil_layernorm_params bw{};
  bw.x = addr(xs); bw.weight = addr(w); bw.mean = addr(mean); bw.rstd = addr(rstd); bw.dy = addr(dy32);
  bw.dx = addr(dx32); bw.dweight = addr(dw32); bw.dbias = addr(db32); bw.rows = rows; bw.cols = cols;
  if (anvil_cuda_layernorm_bwd(&bw, ANVIL_F32, 0) != 0) fail(label + ": bwd fp32 " + anvil_last_error());
  anvil_layernorm_params bb = bw;
  bb.dy = addr(dy16 + offset); bb.dx = addr(dx16 + offset); bb.dweight = addr(dw16); bb.dbias = addr(db16);
  bb.y_bf16 = 1;
  if (anvil_cuda_layernorm_bwd(&bb, ANVIL_F32, 0) != 0) fail(label + ": bwd y_bf16 " + anvil_last_error());
  ++checks;
  if (!same(dx32, dx16 + offset, n)) fail(label + ": bf16 dy: dx differs from the fp32 path");
  ++checks;
  if (!same(dw32, dw16, cols) || !same(db32, db16, cols)) fail(label + ": bf16 dy: dweight/dbias differ");

  // The CPU library's backward, same inputs (its statistics in fp64): close.
  std::vector<float> dxc(n), dwc(cols, 0.5f), dbc(cols, 0.5f);
  anvil_layernorm_params cb = bw;
  cb.rstd = addr(rcpu.data()); cb.mean = addr(mcpu.data()); cb.dx = addr(dxc.data()); cb.dweight = addr(dwc.data());
  cb.dbias = addr(dbc.data());
  if (anvil_cpu_layernorm_bwd(&cb) != 0) fail(label + ": cpu bwd " + anvil_last_error());
  for (int64_t i = 0; i < n; ++i) {
    ++checks;
    if (!(std::fabs(dxc[i] - dx32[i]) <= 1e-3f * (1.0f + std::fabs(dxc[i])))) {
      fail(label + ": fp32 dx vs cpu at " + std::to_string(i));
      break;
    }
  }

  // accumulate_dx (+ overwrite_params): dx = old + written dx; dweight, dbias = the sums alone.
  std::vector<float> old(n);
  for (int64_t i = 0; i < n; ++i) old[i] = dx16[offset + i] = normal(rng);
  for (int64_t i = 0; i < cols; ++i) dw16[i] = db16[i] = 123.0f;
  bb.accumulate_dx = 1;
  bb.overwrite_params = 1;
  if (anvil_cuda_layernorm_bwd(&bb, ANVIL_F32, 0) != 0) fail(label + ": bwd += " + anvil_last_error());
  for (int64_t i = 0; i < n; ++i) {
    ++checks;
    const float want = old[i] + dx32[i];
    if (memcmp(&want, &dx16[offset + i], 4) != 0) {
      fail(label + ": accumulate_dx at " + std::to_string(i));
      break;
    }
  }
  // dw32 = 0.5 + s, and (0.5 + s) - 0.5 need not be s: the overwrite is compared with a run from zero.
  std::vector<float> dwz(cols, 0.0f), dbz(cols, 0.0f);
  anvil_layernorm_params bz = bw;
  bz.dx = 0; bz.dweight = addr(dwz.data()); bz.dbias = addr(dbz.data());
  if (anvil_cuda_layernorm_bwd(&bz, ANVIL_F32, 0) != 0) fail(label + ": bwd from zero " + anvil_last_error());
  ++checks;
  if (!same(dwz.data(), dw16, cols) || !same(dbz.data(), db16, cols)) fail(label + ": overwrite_params differs from 0 +=");

  for (void* p : {(void*)x, (void*)w, (void*)b, (void*)y32, (void*)mean, (void*)rstd, (void*)mean16, (void*)rstd16,
                  (void*)y16, (void*)dy16, (void*)dy32, (void*)dx32, (void*)dx16, (void*)dw32, (void*)db32,
                  (void*)dw16, (void*)db16})
    cudaFree(p);
}

}  // namespace

int main() {
  std::mt19937 rng(5);
  for (int64_t rows : {1, 9})
    for (int64_t cols : {7, 64, 768})
      for (int offset : {0, 1}) run(rows, cols, offset, rng);
  anvil_layernorm_params bad{};
  bad.rows = 1; bad.cols = 8; bad.y_bf16 = 1;
  ++checks;
  if (anvil_cuda_layernorm_fwd(&bad, ANVIL_BF16, 0) == 0) fail("y_bf16 with a bf16 call was accepted");
  printf("layernorm: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
