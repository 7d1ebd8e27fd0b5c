// kernels/dev/emu/decode_check.cpp: the decode kernels that read the cache lengths from device memory, under
// the CPU emulator, through the C ABI:
//   anvil_cuda_attention_decode_fwd (bf16 D64/D128: the split-KV flash decode kernels with per-row key counts;
//     fp32 and D32: decode_simt_kernel) against anvil_cpu_attention_fwd of each row over its first
//     min(cap, lens[b] + add) keys (the old path), on the same bf16-rounded inputs; capacities 1, 65, 300
//     (several splits, rows ending in the first split), lengths 0, 1, cap/2, cap-1, add 0 and 1, a row
//     that sees no key (out 0, lse -inf); packed q (row stride 3C);
//   anvil_cuda_kv_append (16-byte packs and element by element, fp32 and bf16, T 1 and 2) against the
//     host's expectation with untouched rows; a position past the capacity raises the device error bit
//     and writes nothing; anvil_cuda_kv_advance.
// Built and run by kernels/dev/emu/run_emu.sh decode.
#include "../../attention.cu"
#include "../../kv_cache.cu"

#include <random>
#include <string>
#include <vector>

#include "check_kit.h"

namespace {

std::mt19937 rng(11);

float round_bf16(float v) { return __bfloat162float(__float2bfloat16(v)); }

std::vector<float> randoms(size_t n, bool bf16) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& e : v) e = bf16 ? round_bf16(normal(rng)) : normal(rng);
  return v;
}

// Emulated device copy of host values in fp32 or bf16.
void* upload(const std::vector<float>& v, bool bf16) {
  void* d = nullptr;
  cudaMalloc(&d, v.size() * (bf16 ? 2 : 4));
  for (size_t i = 0; i < v.size(); ++i) {
    if (bf16) static_cast<__nv_bfloat16*>(d)[i] = __float2bfloat16(v[i]);
    else static_cast<float*>(d)[i] = v[i];
  }
  return d;
}

float at(const void* d, size_t i, bool bf16) {
  return bf16 ? __bfloat162float(static_cast<const __nv_bfloat16*>(d)[i]) : static_cast<const float*>(d)[i];
}

int64_t addr(const void* p) { return reinterpret_cast<int64_t>(p); }

void attention_case(bool bf16, int64_t heads, int64_t dim, int64_t cap, int add) {
  const int64_t b = 4, c = heads * dim;
  const int lens[4] = {0, 1, static_cast<int>(cap / 2), static_cast<int>(cap - 1)};
  const std::vector<float> qkv = randoms(b * 3 * c, bf16), k = randoms(b * cap * c, bf16), v = randoms(b * cap * c, bf16);
  void *dq = upload(qkv, bf16), *dk = upload(k, bf16), *dv = upload(v, bf16);
  void* dout = upload(std::vector<float>(b * c, NAN), bf16);
  float* dlse = static_cast<float*>(upload(std::vector<float>(b * heads, NAN), false));
  int* dlens = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&dlens), sizeof(lens));
  for (int i = 0; i < 4; ++i) dlens[i] = lens[i];
  anvil_attention_params p{};
  p.q = addr(dq);
  p.k = addr(dk);
  p.v = addr(dv);
  p.out = addr(dout);
  p.lse = addr(dlse);
  p.batch = b;
  p.heads = heads;
  p.q_len = 1;
  p.k_len = cap;
  p.head_dim = dim;
  p.q_row_stride = 3 * c;
  p.k_row_stride = p.v_row_stride = p.o_row_stride = c;
  p.q_batch_stride = 3 * c;
  p.k_batch_stride = p.v_batch_stride = cap * c;
  p.o_batch_stride = c;
  p.causal = 1;
  p.scale = 1.0 / std::sqrt(static_cast<double>(dim));
  const std::string where = std::string(bf16 ? "bf16" : "fp32") + " H" + std::to_string(heads) + " D" +
                            std::to_string(dim) + " cap " + std::to_string(cap) + " add " + std::to_string(add);
  if (anvil_cuda_attention_decode_fwd(&p, addr(dlens), add, bf16 ? ANVIL_BF16 : ANVIL_F32, 0) != 0) {
    fail("attention_decode_fwd " + where + ": " + anvil_last_error());
  } else {
    for (int64_t r = 0; r < b; ++r) {
      const int64_t n = std::max<int64_t>(0, std::min<int64_t>(cap, lens[r] + add));
      std::vector<float> ref(c, 0.0f), lse(heads, -INFINITY);
      if (n > 0) {  // the old path: the CPU library over the row's first n keys
        anvil_attention_params pc = p;
        pc.batch = 1;
        pc.k_len = n;
        pc.q = addr(qkv.data() + r * 3 * c);
        pc.k = addr(k.data() + r * cap * c);
        pc.v = addr(v.data() + r * cap * c);
        pc.out = addr(ref.data());
        pc.lse = addr(lse.data());
        pc.k_batch_stride = pc.v_batch_stride = n * c;
        if (anvil_cpu_attention_fwd(&pc) != 0) fail("cpu attention_fwd " + where);
      }
      for (int64_t i = 0; i < c; ++i) {
        ++checks;
        const float got = at(dout, r * c + i, bf16), want = ref[i];
        const float bound = bf16 ? 1e-2f + 1e-2f * std::fabs(want) : 1e-5f + 1e-4f * std::fabs(want);
        if (!(std::fabs(got - want) <= bound)) {
          fail("out " + where + " row " + std::to_string(r) + " col " + std::to_string(i) + ": " + std::to_string(got) +
               " vs " + std::to_string(want));
          break;
        }
      }
      for (int64_t h = 0; h < heads; ++h) {
        ++checks;
        const float got = dlse[r * heads + h], want = lse[h];
        if (std::isinf(want) ? !(std::isinf(got) && got < 0) : !(std::fabs(got - want) <= 1e-3f + 1e-4f * std::fabs(want)))
          fail("lse " + where + " row " + std::to_string(r) + ": " + std::to_string(got) + " vs " + std::to_string(want));
      }
    }
  }
  for (void* d : {dq, dk, dv, dout, static_cast<void*>(dlse), static_cast<void*>(dlens)}) cudaFree(d);
}

void append_case(bool bf16, int64_t t, int64_t width) {
  const int64_t b = 3, cap = 9, ws = 3 * width;
  int lens[3] = {0, 4, static_cast<int>(cap - t)};
  const std::vector<float> src = randoms(b * t * ws, bf16), k0 = randoms(b * cap * width, bf16), v0 = randoms(b * cap * width, bf16);
  void *ds = upload(src, bf16), *dk = upload(k0, bf16), *dv = upload(v0, bf16);
  int* dlens = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&dlens), sizeof(lens));
  for (int i = 0; i < 3; ++i) dlens[i] = lens[i];
  std::vector<float> ke = k0, ve = v0;
  for (int64_t r = 0; r < b; ++r)
    for (int64_t i = 0; i < t; ++i)
      for (int64_t x = 0; x < width; ++x) {
        ke[(r * cap + lens[r] + i) * width + x] = src[(r * t + i) * ws + width + x];
        ve[(r * cap + lens[r] + i) * width + x] = src[(r * t + i) * ws + 2 * width + x];
      }
  const int64_t e = bf16 ? 2 : 4;
  anvil_kv_append_params p{addr(ds) + width * e, addr(ds) + 2 * width * e, addr(dk), addr(dv), addr(dlens), b, t, width, cap,
                           ws, t * ws};
  const std::string where = std::string(bf16 ? "bf16" : "fp32") + " T" + std::to_string(t) + " W" + std::to_string(width);
  if (anvil_cuda_kv_append(&p, bf16 ? ANVIL_BF16 : ANVIL_F32, 0) != 0) fail("kv_append " + where + ": " + anvil_last_error());
  for (size_t i = 0; i < ke.size(); ++i) {
    ++checks;
    if (at(dk, i, bf16) != ke[i] || at(dv, i, bf16) != ve[i]) {
      fail("kv_append " + where + " element " + std::to_string(i));
      break;
    }
  }
  ++checks;
  if (anvil::emulated_error_word != 0) fail("kv_append " + where + " raised the error bit");
  // a row past the capacity: that row skipped, the bit raised (AddressSanitizer would catch a write past the
  // cache, which row 2's last position is)
  dlens[2] = static_cast<int>(cap - t + 1);
  if (anvil_cuda_kv_append(&p, bf16 ? ANVIL_BF16 : ANVIL_F32, 0) != 0) fail("kv_append (overflow) " + where);
  ++checks;
  if (anvil::emulated_error_word != ANVIL_DEVERR_KV_POSITION) fail("kv_append " + where + ": no error bit for a position past the capacity");
  anvil::emulated_error_word = 0;
  if (anvil_cuda_kv_advance(addr(dlens), b, 5, 0) != 0) fail("kv_advance " + where);
  ++checks;
  if (dlens[0] != lens[0] + 5 || dlens[1] != lens[1] + 5) fail("kv_advance " + where);
  for (void* d : {ds, dk, dv, static_cast<void*>(dlens)}) cudaFree(d);
}

}  // namespace

int main() {
  for (int add : {0, 1}) {
    for (int64_t cap : {1, 65, 300}) {
      attention_case(true, 2, 64, cap, add);
      attention_case(true, 2, 128, cap, add);
      attention_case(false, 2, 64, cap, add);
      attention_case(true, 3, 32, cap, add);
    }
    printf("  attention_decode add %d: %d failures so far\n", add, failures);
  }
  for (bool bf16 : {false, true})
    for (int64_t t : {1, 2}) {
      append_case(bf16, t, 16);
      append_case(bf16, t, 5);
    }
  printf("decode: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
