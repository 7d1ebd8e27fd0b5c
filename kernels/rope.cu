// rope.cu: rotary position embedding (Llama), Hugging Face rotate_half convention, fp32 or bf16 storage.
//   fwd: x (batch, seq, heads * head_dim) -> out (same shape) written (=); out may be x (in place)
//        per head, j < half = head_dim / 2, position pos = pos_offset + t:
//          out[j] = x[j] c - x[j + half] s,  out[j + half] = x[j + half] c + x[j] s
//   bwd: the rotation by -angle: x = dy -> out = dx (=).
// Two kernels: a (seq, half) table of cos/sin, then the rotation of every (row, head, pair). The table
// forms angles exactly as native/cpu/rope.cpp does (fp32 inv_freq and fp32 angle, as transformers),
// but in double arithmetic rounded at the same points, since --use_fast_math would otherwise swap in
// approximate fp32 division, powf and sinf (the last is poor for angles in the thousands); cos and sin
// are then fp64. The table is scratch, freed on the stream after the rotation.
#include "common.cuh"

ANVIL_PARAMS_CHECK(anvil_rope_params, ANVIL_ROPE_SLOTS);

namespace {

using namespace anvil;

// table (seq, half) of (cos, sin)
__global__ void rope_table_kernel(float2* table, int64_t seq, int half, int head_dim, int64_t pos_offset,
                                  float theta) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= seq * half) return;
  const int64_t t = i / half;
  const int j = static_cast<int>(i % half);
  const float exponent = static_cast<float>(static_cast<double>(2 * j) / head_dim);
  const float power = static_cast<float>(pow(static_cast<double>(theta), static_cast<double>(exponent)));
  const float inv_freq = static_cast<float>(1.0 / static_cast<double>(power));
  const float pos = static_cast<float>(pos_offset + t);
  const double angle = static_cast<float>(static_cast<double>(pos) * inv_freq);
  double s, c;
  sincos(angle, &s, &c);
  table[i] = make_float2(static_cast<float>(c), static_cast<float>(s));
}

// One thread per (row, head, pair j): x, out (rows, heads * 2 * half); sign +1 fwd, -1 bwd.
template <typename T>
__global__ void rope_apply_kernel(const T* x, T* out, const float2* table, int64_t rows, int64_t seq, int heads,
                                  int half, float sign) {
  const int64_t pairs = rows * heads * half, stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < pairs; i += stride) {
    const int j = static_cast<int>(i % half);
    const int64_t rh = i / half;  // row * heads + head
    const int64_t row = rh / heads;
    const float2 cs = table[(row % seq) * half + j];
    const int64_t base = rh * 2 * half;
    const float x1 = load(x, base + j), x2 = load(x, base + j + half), s = sign * cs.y;
    store(out, base + j, x1 * cs.x - x2 * s);
    store(out, base + j + half, x2 * cs.x + x1 * s);
  }
}

constexpr int kThreads = 256;

template <typename T>
int rope(const anvil_rope_params* p, cudaStream_t s, float sign) {
  if (p->heads < 1 || p->head_dim < 2 || p->head_dim % 2 != 0 || p->pos_offset < 0 || !(p->theta > 0.0)) {
    return anvil_set_error(ANVIL_E_INVALID, "cuda rope: needs heads >= 1, an even head_dim, pos_offset >= 0, theta > 0");
  }
  if (p->batch <= 0 || p->seq <= 0) return ANVIL_OK;
  if (p->head_dim > INT32_MAX || p->heads > INT32_MAX) return anvil_set_error(ANVIL_E_UNSUPPORTED, "cuda rope: too wide");
  const int half = static_cast<int>(p->head_dim / 2);
  Scratch scratch(s);
  ANVIL_CUDA_CHECK(scratch.allocate(sizeof(float2) * p->seq * half));
  float2* table = scratch.at<float2>(0);
  rope_table_kernel<<<blocks_for(p->seq * half, kThreads, INT32_MAX), kThreads, 0, s>>>(
      table, p->seq, half, static_cast<int>(p->head_dim), p->pos_offset, static_cast<float>(p->theta));
  ANVIL_LAUNCH_CHECK("rope_table_kernel");
  const int64_t rows = p->batch * p->seq;
  rope_apply_kernel<T><<<blocks_for(rows * p->heads * half, kThreads), kThreads, 0, s>>>(
      dptr<const T>(p->x), dptr<T>(p->out), table, rows, p->seq, static_cast<int>(p->heads), half, sign);
  ANVIL_LAUNCH_CHECK("rope_apply_kernel");
  return ANVIL_OK;
}

template <typename T>
int rope_fwd(const anvil_rope_params* p, cudaStream_t s) {
  return rope<T>(p, s, 1.0f);
}

template <typename T>
int rope_bwd(const anvil_rope_params* p, cudaStream_t s) {
  return rope<T>(p, s, -1.0f);
}

}  // namespace

extern "C" {

ANVIL_API int anvil_cuda_rope_fwd(const anvil_rope_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "rope_fwd", rope_fwd, p, as_stream(stream));
}

ANVIL_API int anvil_cuda_rope_bwd(const anvil_rope_params* p, int64_t dtype, int64_t stream) {
  ANVIL_DISPATCH_FLOAT(dtype, "rope_bwd", rope_bwd, p, as_stream(stream));
}

}  // extern "C"
