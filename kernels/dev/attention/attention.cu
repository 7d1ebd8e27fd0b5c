// kernels/dev/attention/attention.cu: the attention playground (llm.c dev/cuda style). Numbered versions
// of bf16 multi-head attention, forward and backward, each validated against an fp64 CPU reference on
// the same bf16 inputs, then timed with CUDA events (median), printing TFLOP/s (decode: GB/s).
//   1  the SIMT stand-in (attention/simt.cuh): one warp per query or key row, fp32 math, no reuse
//   2  FlashAttention-2 with mma.sync (attention/flash_fwd.cuh, flash_bwd.cuh); q_len = 1 takes the
//      split-KV decode kernels (attention/decode.cuh), as the product does
//   3  sm_90a in the FA3 style: forward (attention/flash_fwd_sm90.cuh: TMA, mbarriers, wgmma, a producer
//      warpgroup and two consumers) and backward (attention/flash_bwd_sm90.cuh: deterministic dK/dV and dQ
//      kernels with wgmma); decode (and the backward of q_len = 1) as version 2. cc 9.0 (and the emulator).
//   4  version 3 with D = 128's P V as two m64n64k16 per k-step (a cross-check of the N = 128 descriptor)
//   5  version 3 pipelined (forward: S of block j with P V of block j - 1; backward likewise) with ping-pong
//      consumers (named barriers); decode with 4x the splits (kDecodeFillV5)
// Tensors are (B, T, H*D) token rows (q, k, v, out, dout and the gradients), key mask (B, Tk) int32.
// Error bound per element (fp64 reference): every product term is rounded to bf16 at most once by a
// correct kernel (P before P V, dS before dS K), so |err| <= 2^-7 * sum |terms| + 2^-8 |value| (4x the
// half-ulp, for the output rounding and slack); a wrong index or mask is off by orders of magnitude.
//
//   attention                 validate every version, then time every version
//   attention --check | --bench | --quick | --shapes NAME,... | --version N[,M...] | --csv FILE
// Exit status 1 when any check fails. Built by the CMake target attention_dev (not the default build) or by
// kernels/dev/run_attention.sh with nvcc directly.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "attention/decode.cuh"
#include "attention/flash_bwd.cuh"
#include "attention/flash_bwd_sm90.cuh"
#include "attention/flash_fwd.cuh"
#include "attention/flash_fwd_sm90.cuh"
#include "attention/simt.cuh"

#define CHECK(call)                                                                               \
  do {                                                                                            \
    cudaError_t e_ = (call);                                                                      \
    if (e_ != cudaSuccess) {                                                                      \
      fprintf(stderr, "%s failed at %s:%d: %s\n", #call, __FILE__, __LINE__, cudaGetErrorString(e_)); \
      exit(2);                                                                                    \
    }                                                                                             \
  } while (0)

namespace {

using anvil::bf16;

uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float from_bf16(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

template <typename F>
void parallel_for(int64_t n, F f) {
  const int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int64_t i = t; i < n; i += threads) f(i);
    });
  for (auto& th : pool) th.join();
}

struct Case {
  int64_t b, h, tq, tk, d;
  bool causal, masked;
  int64_t width() const { return h * d; }
};

// Host tensors of one case (bf16 bits), device copies, and the fp64 reference of the checked heads.
struct Data {
  Case c;
  std::vector<uint16_t> q, k, v, dout, out_in;  // out_in: the reference output rounded (bwd input)
  std::vector<float> lse_in;                     // the reference lse (bwd input)
  std::vector<int> mask;
  bf16 *d_q = nullptr, *d_k = nullptr, *d_v = nullptr, *d_dq = nullptr, *d_dk = nullptr, *d_dv = nullptr;
  bf16 *d_out = nullptr, *d_dout = nullptr, *d_out_in = nullptr;
  float *d_lse = nullptr, *d_lse_in = nullptr, *scratch = nullptr;
  int* d_mask = nullptr;
  size_t scratch_bytes = 0;
  // reference over the checked heads, indexed [head slot][row][d]
  std::vector<int64_t> heads;  // b * H + h of each checked head
  std::vector<std::vector<double>> out, out_tol, lse, dq_ref, dq_tol, dk_ref, dk_tol, dv_ref, dv_tol;
};

// Version 5's decode: more splits (the card filled ~16 times instead of 4: more loads in flight).
constexpr int kDecodeFillV5 = 16;

int64_t at(const Case& c, int64_t b, int64_t t, int64_t h, int64_t len, int64_t d) {
  return (b * len + t) * c.width() + h * c.d + d;
}

bool visible(const Data& x, int64_t b, int64_t i, int64_t j) {
  const Case& c = x.c;
  if (c.masked && x.mask[b * c.tk + j] == 0) return false;
  return !c.causal || j <= i + (c.tk - c.tq);
}

// Forward of one head in fp64: out, lse, and the bound's magnitude sums.
void reference_fwd(Data& x, int slot) {
  const Case& c = x.c;
  const int64_t b = x.heads[slot] / c.h, h = x.heads[slot] % c.h, tq = c.tq, tk = c.tk, dd = c.d;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dd));
  auto Q = [&](int64_t i, int64_t d) { return (double)from_bf16(x.q[at(c, b, i, h, tq, d)]); };
  auto K = [&](int64_t j, int64_t d) { return (double)from_bf16(x.k[at(c, b, j, h, tk, d)]); };
  auto V = [&](int64_t j, int64_t d) { return (double)from_bf16(x.v[at(c, b, j, h, tk, d)]); };
  auto& out = x.out[slot];
  auto& out_tol = x.out_tol[slot];
  auto& lse = x.lse[slot];
  out.assign(tq * dd, 0.0);
  out_tol.assign(tq * dd, 0.0);
  lse.assign(tq, -INFINITY);
  parallel_for(tq, [&](int64_t i) {
    double mx = -INFINITY;
    std::vector<double> s(tk, -INFINITY);
    for (int64_t j = 0; j < tk; ++j) {
      if (!visible(x, b, i, j)) continue;
      double acc = 0;
      for (int64_t d = 0; d < dd; ++d) acc += Q(i, d) * K(j, d);
      s[j] = acc * scale;
      mx = std::max(mx, s[j]);
    }
    if (mx == -INFINITY) return;
    double sum = 0;
    for (int64_t j = 0; j < tk; ++j) sum += s[j] == -INFINITY ? 0.0 : std::exp(s[j] - mx);
    lse[i] = mx + std::log(sum);
    std::vector<double> o(dd, 0.0), mag(dd, 0.0);
    for (int64_t j = 0; j < tk; ++j) {
      if (s[j] == -INFINITY) continue;
      const double pj = std::exp(s[j] - lse[i]);
      for (int64_t d = 0; d < dd; ++d) {
        o[d] += pj * V(j, d);
        mag[d] += pj * std::fabs(V(j, d));
      }
    }
    for (int64_t d = 0; d < dd; ++d) {
      out[i * dd + d] = o[d];
      out_tol[i * dd + d] = std::ldexp(mag[d], -7) + std::ldexp(std::fabs(o[d]), -8) + 1e-6;
    }
  });
}

// Backward of one head in fp64 from the bwd inputs (the rounded output out_in and the fp32 lse_in the
// kernels are given): dq, dk, dv and their bounds' magnitude sums.
void reference_bwd(Data& x, int slot) {
  const Case& c = x.c;
  const int64_t b = x.heads[slot] / c.h, h = x.heads[slot] % c.h, tq = c.tq, tk = c.tk, dd = c.d;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dd));
  auto Q = [&](int64_t i, int64_t d) { return (double)from_bf16(x.q[at(c, b, i, h, tq, d)]); };
  auto K = [&](int64_t j, int64_t d) { return (double)from_bf16(x.k[at(c, b, j, h, tk, d)]); };
  auto V = [&](int64_t j, int64_t d) { return (double)from_bf16(x.v[at(c, b, j, h, tk, d)]); };
  auto G = [&](int64_t i, int64_t d) { return (double)from_bf16(x.dout[at(c, b, i, h, tq, d)]); };
  auto O = [&](int64_t i, int64_t d) { return (double)from_bf16(x.out_in[at(c, b, i, h, tq, d)]); };
  // ds_err: a bound on the fp32 rounding of dS_ij = P_ij (dP_ij - delta_i) in the kernels. dP and delta
  // are D-term fp32 sums that cancel (exactly, when a row sees one key: O = V_j), so the kernels' dS is a
  // few fp32 ulps of |dP| + |delta| where the fp64 reference has 0: 2^-16 covers D = 128 terms at 2^-24.
  std::vector<double> p(tq * tk, 0.0), ds(tq * tk, 0.0), ds_err(tq * tk, 0.0);
  parallel_for(tq, [&](int64_t i) {
    const double l = x.lse_in[(b * c.h + h) * tq + i];
    if (l == -INFINITY) return;  // a query that saw no key: zero gradients
    double delta = 0, delta_mag = 0;
    for (int64_t d = 0; d < dd; ++d) {
      delta += G(i, d) * O(i, d);
      delta_mag += std::fabs(G(i, d) * O(i, d));
    }
    for (int64_t j = 0; j < tk; ++j) {
      if (!visible(x, b, i, j)) continue;
      double sij = 0, dp = 0, dp_mag = 0;
      for (int64_t d = 0; d < dd; ++d) {
        sij += Q(i, d) * K(j, d);
        dp += G(i, d) * V(j, d);
        dp_mag += std::fabs(G(i, d) * V(j, d));
      }
      const double pij = std::exp(sij * scale - l);
      p[i * tk + j] = pij;
      ds[i * tk + j] = pij * (dp - delta);
      ds_err[i * tk + j] = pij * std::ldexp(dp_mag + delta_mag, -16);
    }
  });
  // ref_r = factor * sum_o w(r, o) operand(o); by_query: w(r, o) = w[r][o], else w[o][r]
  // err: per weight, the bound on its own rounding in the kernels (ds_err for dS; none for P)
  auto grad = [&](std::vector<double>& ref, std::vector<double>& tol, int64_t rows, bool by_query,
                  const std::vector<double>& w, const std::vector<double>* err, double factor, auto operand) {
    ref.assign(rows * dd, 0.0);
    tol.assign(rows * dd, 0.0);
    parallel_for(rows, [&](int64_t r) {
      const int64_t others = by_query ? tk : tq;
      std::vector<double> acc(dd, 0.0), mag(dd, 0.0), werr(dd, 0.0);
      for (int64_t o = 0; o < others; ++o) {
        const int64_t at_w = by_query ? r * tk + o : o * tk + r;
        const double wv = w[at_w], ev = err ? (*err)[at_w] : 0.0;
        if (wv == 0.0 && ev == 0.0) continue;
        for (int64_t d = 0; d < dd; ++d) {
          const double y = operand(o, d);
          acc[d] += wv * y;
          mag[d] += std::fabs(wv * y);
          werr[d] += std::fabs(ev * y);
        }
      }
      for (int64_t d = 0; d < dd; ++d) {
        ref[r * dd + d] = factor * acc[d];
        tol[r * dd + d] = std::ldexp(std::fabs(factor) * mag[d], -7) + std::ldexp(std::fabs(factor * acc[d]), -8) +
                          std::fabs(factor) * werr[d] + 1e-6;
      }
    });
  };
  grad(x.dq_ref[slot], x.dq_tol[slot], tq, true, ds, &ds_err, scale, K);   // dq_i = scale sum_j dS_ij k_j
  grad(x.dk_ref[slot], x.dk_tol[slot], tk, false, ds, &ds_err, scale, Q);  // dk_j = scale sum_i dS_ij q_i
  grad(x.dv_ref[slot], x.dv_tol[slot], tk, false, p, nullptr, 1.0, G);     // dv_j = sum_i P_ij dO_i
}

template <typename T>
T* upload(const std::vector<T>& h) {
  T* d;
  CHECK(cudaMalloc(&d, std::max<size_t>(h.size(), 8) * sizeof(T)));
  CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

bf16* upload_bf16(const std::vector<uint16_t>& h) { return reinterpret_cast<bf16*>(upload(h)); }

bf16* alloc_bf16(size_t n) {
  bf16* d;
  CHECK(cudaMalloc(&d, std::max<size_t>(n, 8) * 2));
  return d;
}

void poison(void* p, size_t bytes) { CHECK(cudaMemset(p, 0xff, bytes)); }  // bf16 0xffff / fp32 NaN

Data make_data(const Case& c, bool all_heads, std::mt19937& rng) {
  Data x;
  x.c = c;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto fill = [&](std::vector<uint16_t>& v, int64_t n) {  // chunks of 1M with their own seeded generators
    v.resize(n);
    const uint32_t seed = rng();
    parallel_for((n + (1 << 20) - 1) >> 20, [&](int64_t chunk) {
      std::mt19937 local(seed + static_cast<uint32_t>(chunk));
      std::normal_distribution<float> nd(0.0f, 1.0f);
      for (int64_t i = chunk << 20; i < std::min(n, (chunk + 1) << 20); ++i) v[i] = to_bf16(nd(local));
    });
  };
  fill(x.q, c.b * c.tq * c.width());
  fill(x.k, c.b * c.tk * c.width());
  fill(x.v, c.b * c.tk * c.width());
  fill(x.dout, c.b * c.tq * c.width());
  x.mask.assign(c.b * c.tk, 1);
  if (c.masked)  // batch 0 (when there are several): every key masked; the rest every third key
    for (int64_t b = 0; b < c.b; ++b)
      for (int64_t j = 0; j < c.tk; ++j) x.mask[b * c.tk + j] = (c.b > 1 && b == 0) || j % 3 == 1 ? 0 : 1;
  if (all_heads)
    for (int64_t i = 0; i < c.b * c.h; ++i) x.heads.push_back(i);
  else
    x.heads = {0, c.b * c.h - 1};
  if (x.heads.size() == 2 && x.heads[0] == x.heads[1]) x.heads.pop_back();
  const size_t n = x.heads.size();
  for (auto* v : {&x.out, &x.out_tol, &x.lse, &x.dq_ref, &x.dq_tol, &x.dk_ref, &x.dk_tol, &x.dv_ref, &x.dv_tol})
    v->resize(n);
  // bwd inputs: the reference output (rounded) and lse of the checked heads, random elsewhere
  x.out_in.resize(x.dout.size());
  x.lse_in.assign(c.b * c.h * c.tq, 0.0f);
  for (auto& e : x.out_in) e = to_bf16(0.1f * normal(rng));
  for (size_t s = 0; s < n; ++s) {
    reference_fwd(x, static_cast<int>(s));
    const int64_t b = x.heads[s] / c.h, h = x.heads[s] % c.h;
    for (int64_t i = 0; i < c.tq; ++i) {
      x.lse_in[(b * c.h + h) * c.tq + i] = static_cast<float>(x.lse[s][i]);
      for (int64_t d = 0; d < c.d; ++d)
        x.out_in[at(c, b, i, h, c.tq, d)] = to_bf16(static_cast<float>(x.out[s][i * c.d + d]));
    }
    reference_bwd(x, static_cast<int>(s));
  }
  return x;
}

void device_alloc(Data& x) {
  const Case& c = x.c;
  const size_t nq = c.b * c.tq * c.width(), nk = c.b * c.tk * c.width();
  x.d_q = upload_bf16(x.q);
  x.d_k = upload_bf16(x.k);
  x.d_v = upload_bf16(x.v);
  x.d_dout = upload_bf16(x.dout);
  x.d_out_in = upload_bf16(x.out_in);
  x.d_lse_in = upload(x.lse_in);
  x.d_mask = upload(x.mask);
  x.d_out = alloc_bf16(nq);
  x.d_dq = alloc_bf16(nq);
  x.d_dk = alloc_bf16(nk);
  x.d_dv = alloc_bf16(nk);
  CHECK(cudaMalloc(&x.d_lse, std::max<size_t>(c.b * c.h * c.tq, 8) * 4));
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  anvil_attention_params p{};
  p.batch = c.b;
  p.heads = c.h;
  p.q_len = c.tq;
  p.k_len = c.tk;
  x.scratch_bytes = std::max({anvil::flash::bwd_scratch_bytes(p),
                              c.d == 64 ? anvil::flash::decode_scratch_bytes<64>(p, sms, kDecodeFillV5)
                                        : anvil::flash::decode_scratch_bytes<128>(p, sms, kDecodeFillV5),
                              sizeof(float) * c.b * c.h * c.tq, size_t(256)});
  CHECK(cudaMalloc(&x.scratch, x.scratch_bytes));
}

void device_free(Data& x) {
  for (void* p : {(void*)x.d_q, (void*)x.d_k, (void*)x.d_v, (void*)x.d_dout, (void*)x.d_out_in, (void*)x.d_lse_in,
                  (void*)x.d_mask, (void*)x.d_out, (void*)x.d_dq, (void*)x.d_dk, (void*)x.d_dv, (void*)x.d_lse,
                  (void*)x.scratch})
    CHECK(cudaFree(p));
}

anvil_attention_params params(const Data& x, bool bwd) {
  const Case& c = x.c;
  auto a = [](const void* p) { return static_cast<int64_t>(reinterpret_cast<uintptr_t>(p)); };
  anvil_attention_params p{};
  p.q = a(x.d_q);
  p.k = a(x.d_k);
  p.v = a(x.d_v);
  p.out = a(bwd ? x.d_out_in : x.d_out);
  p.lse = a(bwd ? x.d_lse_in : x.d_lse);
  p.key_mask = c.masked ? a(x.d_mask) : 0;
  p.dout = a(x.d_dout);
  p.dq = a(x.d_dq);
  p.dk = a(x.d_dk);
  p.dv = a(x.d_dv);
  p.batch = c.b;
  p.heads = c.h;
  p.q_len = c.tq;
  p.k_len = c.tk;
  p.head_dim = c.d;
  p.q_row_stride = p.k_row_stride = p.v_row_stride = p.o_row_stride = c.width();
  p.q_batch_stride = p.o_batch_stride = c.tq * c.width();
  p.k_batch_stride = p.v_batch_stride = c.tk * c.width();
  p.causal = c.causal;
  p.scale = 1.0 / std::sqrt(static_cast<double>(c.d));
  return p;
}

// Which backward kernels version 3/5 launch (1 prep, 2 dK/dV, 4 dQ): all but when timing them apart.
int bwd_parts = 7;

void run(int version, const Data& x, bool bwd) {
  const anvil_attention_params p = params(x, bwd);
  cudaError_t e;
  if (version == 1) {
    e = bwd ? anvil::attn_simt::launch_bwd<bf16>(p, x.scratch, 0) : anvil::attn_simt::launch_fwd<bf16>(p, 0);
  } else if (bwd) {
    if (version >= 3 && x.c.tq > 1) {
      if (!anvil::flash90::flash90_bwd_supported(p)) {
        fprintf(stderr, "version %d does not take this case\n", version);
        exit(2);
      }
      if (version == 5)
        e = x.c.d == 64 ? anvil::flash90::launch_bwd_sm90<64, 2>(p, x.scratch, 0, bwd_parts)
                        : anvil::flash90::launch_bwd_sm90<128, 2>(p, x.scratch, 0, bwd_parts);
      else
        e = x.c.d == 64 ? anvil::flash90::launch_bwd_sm90<64, 0>(p, x.scratch, 0, bwd_parts)
                        : anvil::flash90::launch_bwd_sm90<128, 0>(p, x.scratch, 0, bwd_parts);
    } else
      e = x.c.d == 64 ? anvil::flash::launch_bwd<64>(p, x.scratch, 0) : anvil::flash::launch_bwd<128>(p, x.scratch, 0);
  } else if (x.c.tq == 1) {
    int sms = 0;
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    const int fill = version == 5 ? kDecodeFillV5 : anvil::flash::kDecodeFill;
    e = x.c.d == 64 ? anvil::flash::launch_decode<64>(p, sms, x.scratch, 0, fill)
                    : anvil::flash::launch_decode<128>(p, sms, x.scratch, 0, fill);
  } else if (version == 2) {
    e = x.c.d == 64 ? anvil::flash::launch_fwd<64>(p, 0) : anvil::flash::launch_fwd<128>(p, 0);
  } else {
    if (!anvil::flash90::flash90_supported(p)) {
      fprintf(stderr, "version %d does not take this case\n", version);
      exit(2);
    }
    if (version == 3)
      e = x.c.d == 64 ? anvil::flash90::launch_fwd_sm90<64, 0>(p, 0) : anvil::flash90::launch_fwd_sm90<128, 0>(p, 0);
    else if (version == 4)
      e = x.c.d == 64 ? anvil::flash90::launch_fwd_sm90<64, 1>(p, 0) : anvil::flash90::launch_fwd_sm90<128, 1>(p, 0);
    else
      e = x.c.d == 64 ? anvil::flash90::launch_fwd_sm90<64, 2>(p, 0) : anvil::flash90::launch_fwd_sm90<128, 2>(p, 0);
  }
  if (e != cudaSuccess) {
    fprintf(stderr, "launch of version %d %s failed: %s\n", version, bwd ? "bwd" : "fwd", cudaGetErrorString(e));
    exit(2);
  }
}

int failures = 0;

// Compares rows of a (B, len, H*D) device tensor over the checked heads; NaN where the reference is finite
// fails (an unwritten element keeps its poison).
bool compare(const char* what, int version, const Data& x, const bf16* dev, int64_t len,
             const std::vector<std::vector<double>>& ref, const std::vector<std::vector<double>>& tol) {
  const Case& c = x.c;
  std::vector<uint16_t> got(c.b * len * c.width());
  CHECK(cudaMemcpy(got.data(), dev, got.size() * 2, cudaMemcpyDeviceToHost));
  int64_t bad = 0;
  double worst = 0, e2 = 0, r2 = 0;
  std::string first;
  for (size_t s = 0; s < x.heads.size(); ++s) {
    const int64_t b = x.heads[s] / c.h, h = x.heads[s] % c.h;
    for (int64_t t = 0; t < len; ++t)
      for (int64_t d = 0; d < c.d; ++d) {
        const double g = from_bf16(got[at(c, b, t, h, len, d)]), r = ref[s][t * c.d + d], tl = tol[s][t * c.d + d];
        const double err = std::fabs(g - r);
        e2 += err * err;
        r2 += r * r;
        worst = std::max(worst, err / tl);
        if (!(err <= tl)) {
          if (bad++ == 0) {
            char m[200];
            snprintf(m, sizeof(m), "b=%lld h=%lld row=%lld d=%lld: %g, expected %g (tol %.2g)", (long long)b,
                     (long long)h, (long long)t, (long long)d, g, r, tl);
            first = m;
          }
        }
      }
  }
  if (bad) {
    ++failures;
    printf("  FAIL v%d %s B=%lld H=%lld Tq=%lld Tk=%lld D=%lld%s%s: %lld bad; first %s\n", version, what,
           (long long)c.b, (long long)c.h, (long long)c.tq, (long long)c.tk, (long long)c.d,
           c.causal ? " causal" : "", c.masked ? " masked" : "", (long long)bad, first.c_str());
  }
  return bad == 0;
}

bool compare_lse(int version, const Data& x) {
  const Case& c = x.c;
  std::vector<float> got(c.b * c.h * c.tq);
  CHECK(cudaMemcpy(got.data(), x.d_lse, got.size() * 4, cudaMemcpyDeviceToHost));
  int64_t bad = 0;
  for (size_t s = 0; s < x.heads.size(); ++s)
    for (int64_t i = 0; i < c.tq; ++i) {
      const double r = x.lse[s][i], g = got[x.heads[s] * c.tq + i];
      const bool ok = r == -INFINITY ? g == -INFINITY : std::fabs(g - r) <= 1e-4 + 1e-5 * std::fabs(r);
      if (!ok && bad++ == 0)
        printf("  FAIL v%d lse head %lld row %lld: %g, expected %g\n", version, (long long)x.heads[s], (long long)i,
               g, r);
    }
  if (bad) ++failures;
  return bad == 0;
}

bool check_version(int version, Data& x) {
  const Case& c = x.c;
  poison(x.d_out, c.b * c.tq * c.width() * 2);
  poison(x.d_lse, c.b * c.h * c.tq * 4);
  run(version, x, false);
  CHECK(cudaDeviceSynchronize());
  bool ok = compare("out", version, x, x.d_out, c.tq, x.out, x.out_tol);
  ok &= compare_lse(version, x);
  poison(x.d_dq, c.b * c.tq * c.width() * 2);
  poison(x.d_dk, c.b * c.tk * c.width() * 2);
  poison(x.d_dv, c.b * c.tk * c.width() * 2);
  run(version, x, true);
  CHECK(cudaDeviceSynchronize());
  ok &= compare("dq", version, x, x.d_dq, c.tq, x.dq_ref, x.dq_tol);
  ok &= compare("dk", version, x, x.d_dk, c.tk, x.dk_ref, x.dk_tol);
  ok &= compare("dv", version, x, x.d_dv, c.tk, x.dv_ref, x.dv_tol);
  return ok;
}

void check_all(const std::vector<int>& versions) {
  std::mt19937 rng(5);
  // odd lengths (1, 17, 97, 1000), both masks, cross-attention both ways, decode against a cache
#ifndef ANVIL_HOST_EMULATION
  const Case cases[] = {
      {1, 2, 17, 17, 64, true, false},    {2, 2, 97, 97, 64, true, true},     {1, 2, 65, 130, 64, false, true},
      {1, 2, 17, 300, 64, true, false},   {1, 2, 130, 17, 64, true, false},   {2, 3, 1, 97, 64, true, true},
      {1, 2, 1, 1000, 64, false, false},  {1, 1, 1000, 1000, 64, true, false}, {1, 2, 17, 17, 128, true, false},
      {2, 2, 97, 97, 128, true, true},    {1, 2, 65, 130, 128, false, true},   {1, 2, 130, 17, 128, true, false},
      {2, 2, 1, 1000, 128, true, true},   {1, 1, 1, 1, 128, false, false},     {1, 1, 300, 300, 128, false, false},
  };
#else  // the CPU emulator (kernels/dev/emu) is a few thousand times slower: fewer, smaller cases
  const Case cases[] = {
      {1, 1, 17, 17, 64, true, false},  {2, 1, 70, 70, 64, true, true},    {1, 1, 17, 130, 64, false, true},
      {1, 1, 130, 17, 64, true, false}, {2, 1, 1, 97, 64, true, true},     {1, 1, 17, 17, 128, true, false},
      {1, 1, 65, 130, 128, false, true}, {1, 1, 130, 17, 128, true, false}, {2, 1, 1, 200, 128, true, true},
      {1, 2, 1, 1, 128, false, false},
      // more key and query blocks than the sm_90a kernels' stages (their rings wrap around)
      {1, 1, 400, 400, 128, true, false}, {1, 1, 260, 520, 64, false, true},
  };
#endif
  int checked = 0;
  for (const Case& c : cases) {
    Data x = make_data(c, true, rng);
    device_alloc(x);
    for (int version : versions) {
      check_version(version, x);
      ++checked;
    }
    device_free(x);
    printf("  B=%lld H=%lld Tq=%lld Tk=%lld D=%lld%s%s: %d failures so far\n", (long long)c.b, (long long)c.h,
           (long long)c.tq, (long long)c.tk, (long long)c.d, c.causal ? " causal" : "", c.masked ? " masked" : "",
           failures);
    fflush(stdout);
  }
  printf("checked %d (case, version) pairs: %s\n", checked, failures ? "FAILED" : "ok");
}

double time_ms(int version, const Data& x, bool bwd, int max_reps) {
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  run(version, x, bwd);
  CHECK(cudaDeviceSynchronize());
  std::vector<float> times;
  float total = 0;
  for (int i = 0; i < max_reps && (i < 3 || total < 300.0f); ++i) {
    CHECK(cudaEventRecord(start));
    run(version, x, bwd);
    CHECK(cudaEventRecord(stop));
    CHECK(cudaEventSynchronize(stop));
    float ms;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
    total += ms;
  }
  CHECK(cudaGetLastError());
  CHECK(cudaEventDestroy(start));
  CHECK(cudaEventDestroy(stop));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void bench_all(const std::vector<int>& versions, bool quick, const std::string& only, FILE* csv) {
  std::mt19937 rng(11);
  struct Bench { const char* name; Case c; };
  std::vector<Bench> benches = {
      {"gpt2", {8, 12, 1024, 1024, 64, true, false}},   {"d128_t4096", {2, 16, 4096, 4096, 128, true, false}},
      {"d128_t4096_full", {2, 16, 4096, 4096, 128, false, false}},
      {"decode_1k", {8, 32, 1, 1024, 128, false, false}}, {"decode_8k", {8, 32, 1, 8192, 128, false, false}},
      {"decode_4k_d64", {8, 12, 1, 4096, 64, false, false}},
  };
  if (quick) benches = {benches[0], benches[3]};
  if (!only.empty()) {  // --shapes a,b,...: those names only
    std::vector<Bench> kept;
    for (const Bench& bn : benches)
      if (("," + only + ",").find("," + std::string(bn.name) + ",") != std::string::npos) kept.push_back(bn);
    benches = kept;
  }
  printf("\n%-16s %-4s %4s %9s %10s\n", "shape", "pass", "ver", "ms", "rate");
  for (const Bench& bn : benches) {
    const Case& c = bn.c;
    Data x = make_data(c, false, rng);
    device_alloc(x);
    const double pairs = static_cast<double>(c.b * c.h) * c.tq * c.tk * (c.causal ? 0.5 : 1.0);
    const double fwd_flops = 4.0 * pairs * c.d, bwd_flops = 2.5 * fwd_flops;
    const double decode_bytes = 2.0 * c.b * c.tk * c.width() * 2;  // K and V once
    for (int version : versions) {
      const bool big = pairs * c.d > 2e10;
      if (version == 1 && big) continue;  // the stand-in takes seconds there
      if ((version == 3 || version == 4) && c.tq == 1) continue;  // decode: version 2's kernels
      const bool ok = check_version(version, x);
      for (bool bwd : {false, true}) {
        if (c.tq == 1 && bwd) continue;  // decode is inference
        if (version == 4 && bwd) continue;  // version 3's backward
        const double ms = time_ms(version, x, bwd, version == 1 ? 5 : 50);
        const bool decode = c.tq == 1;
        const double rate = decode ? decode_bytes / ms / 1e6 : (bwd ? bwd_flops : fwd_flops) / ms / 1e9;
        printf("%-16s %-4s %4d %9.3f %8.1f %s%s\n", bn.name, bwd ? "bwd" : "fwd", version, ms, rate,
               decode ? "GB/s" : "TFLOP/s", ok ? "" : "  (WRONG)");
        if (csv)
          fprintf(csv, "%s,%s,%lld,%lld,%lld,%lld,%lld,%d,%d,%.6f,%.2f,%s\n", bn.name, bwd ? "bwd" : "fwd",
                  (long long)c.b, (long long)c.h, (long long)c.tq, (long long)c.tk, (long long)c.d, c.causal ? 1 : 0,
                  version, ms, rate, decode ? "GB/s" : "TFLOP/s");
        if (csv) fflush(csv);  // a run cut off by its time limit keeps the rows it has
        if (bwd && (version == 3 || version == 5)) {  // where the backward's time goes (log only)
          double part_ms[3];
          const int parts[3] = {1, 2, 4};
          for (int i = 0; i < 3; ++i) {
            bwd_parts = parts[i];
            part_ms[i] = time_ms(version, x, true, 20);
          }
          bwd_parts = 7;
          printf("%-16s %-4s %4d   prep %.3f ms, dK/dV %.3f ms, dQ %.3f ms\n", bn.name, "bwd", version, part_ms[0],
                 part_ms[1], part_ms[2]);
        }
        fflush(stdout);
      }
    }
    device_free(x);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool check = true, bench = true, quick = false;
  std::vector<int> versions = {1, 2};
  bool explicit_versions = false;
  std::string shapes;
  FILE* csv = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--check") bench = false;
    else if (a == "--bench") check = false;
    else if (a == "--quick") quick = true;
    else if (a == "--shapes" && i + 1 < argc) shapes = argv[++i];
    else if (a == "--version" && i + 1 < argc) {  // N or a list N,M,...
      versions.clear();
      explicit_versions = true;
      for (const char* v = argv[++i]; *v;) {
        versions.push_back(atoi(v));
        while (*v && *v != ',') ++v;
        if (*v == ',') ++v;
      }
    }
    else if (a == "--csv" && i + 1 < argc) {
      csv = fopen(argv[++i], "w");
      if (!csv) { perror("csv"); return 2; }
      fprintf(csv, "name,pass,b,h,tq,tk,d,causal,version,ms,rate,unit\n");
    } else {
      fprintf(stderr, "usage: attention [--check|--bench] [--quick] [--shapes NAME,...] [--version N[,M...]] [--csv FILE]\n");
      return 2;
    }
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  printf("device: %s, sm_%d%d, %d SMs\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  if (prop.major < 8) {
    fprintf(stderr, "the flash versions need sm_80 or later\n");
    return 2;
  }
  const bool sm90 = prop.major == 9 && prop.minor == 0;
  if (!explicit_versions && sm90) versions = {1, 2, 3, 4, 5};
  for (int v : versions)
    if (v >= 3 && !sm90) {
      fprintf(stderr, "version %d needs compute capability 9.0\n", v);
      return 2;
    }
  if (check) check_all(versions);
  if (bench) bench_all(versions, quick, shapes, csv);
  if (csv) fclose(csv);
  printf("\n%s (%d failures)\n", failures ? "FAILED" : "all checks passed", failures);
  return failures ? 1 : 0;
}
