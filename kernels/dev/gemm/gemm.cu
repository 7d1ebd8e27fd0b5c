// kernels/dev/gemm/gemm.cu: the GEMM playground (llm.c dev/cuda style). Numbered versions of the bf16
// GEMM with fp32 accumulation, each validated against a CPU reference (fp64 over the same bf16 inputs),
// then timed with CUDA events (median, inputs rotated past L2), printing TFLOP/s.
//   1  the SIMT stand-in (matmul/gemm_simt.cuh): fp32 FMA from shared memory, no tensor cores
//   2  mma.sync m16n8k16 + ldmatrix + 4-stage cp.async ring, 128x128x32 tiles, swizzled shared memory
//      (matmul/gemm_sm80.cuh): the product's kernel on sm_80 and later, Hopper included
//   3  sm_90a: TMA + mbarrier ring + wgmma m64nNk16, a producer and two consumer warpgroups, 128x256x64 or
//      128x128x64 tiles, persistent CTAs, every layout through the transpose bits, batched through 3-D
//      tensor maps (matmul/gemm_sm90.cuh): the product's kernel on compute capability 9.0. The check runs
//      it with both tile widths on 7 CTAs (many tiles per CTA: the persistent loop and the stage ring
//      across tiles); the bench on every SM with the launcher's tile choice (--bn 128|256 forces one).
//   4  version 3's kernel with the ping-pong schedule (matmul/gemm_sm90.cuh, kPingPong128): each consumer
//      warpgroup takes whole 128x128 tiles and the two take turns in the mainloop, so one's epilogue overlaps
//      the other's math (checked on 7 CTAs too). The product takes it where pick_schedule says (k <= 1024
//      with two tiles per SM), version 3's cooperative schedule elsewhere
//   5  gemm_sm90_cluster.cuh (checked under the CPU emulator, not yet on a GPU): version 3 in clusters of 2
//      CTAs whose tiles share an operand tile (along M: B, along N: A), each loading half of it with TMA
//      multicast into both; the check runs both tile widths x both pairings on 3 clusters (6 CTAs), the
//      bench the launcher's choices (--axis m|n forces a pairing) and prints the clusters launched
// Epilogues checked: plain, bias with alpha, bias + GELU with the aux store of the pre-activation (C's type;
// what the product's gelu field writes for the backward), accumulate.
// Layouts are the Linear products (x (M,K), W (N,K), dY (M,N)), named by the stored operands:
//   NT  Y = x W^T (forward)   NN  dX = dY W (input grad)   TN  dW = dY^T x (weight grad)   TT  (for completeness)
//
//   gemm                    validate every version, then time every version at the bench shapes
//   gemm --check            validate only          gemm --bench   time only (each shape still spot-checked)
//   gemm --versions 1,2     only those versions    gemm --quick   fewer, smaller bench shapes
//   gemm --csv FILE         also write name,layout,m,n,k,version,ms,tflops rows (run_gemm.sh joins torch)
//   gemm --bn 128|256       version 3's (and 5's) tile width in the bench (default: the launcher's choice)
//   gemm --axis m|n         version 5's pairing in the bench (default: the launcher's choice)
//   gemm --shapes a,b:NT    bench only these shapes (by name: square4096, c_fc, lm_head, ...; or name:layout)
// Exit status 1 when any check fails. Built by the CMake target gemm_dev (not the default build) or by
// kernels/dev/run_gemm.sh with nvcc directly.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "matmul/gemm_simt.cuh"
#include "matmul/gemm_sm80.cuh"
#include "matmul/gemm_sm90.cuh"
#include "dev/gemm/gemm_sm90_cluster.cuh"

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

// ---- host bf16 -------------------------------------------------------------------------------------
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

enum Layout { NT, NN, TN, TT };
const char* layout_name(Layout l) { return l == NT ? "NT" : l == NN ? "NN" : l == TN ? "TN" : "TT"; }
bool trans_a(Layout l) { return l == TN || l == TT; }
bool trans_b(Layout l) { return l == NT || l == TT; }

struct Problem {
  Layout layout;
  int64_t m, n, k, batch;
  bool f32_out, bias, gelu, accumulate;
  float alpha;
  bool pre = false;  // gelu: the aux store of v = alpha acc + bias (C's type and layout)
  int64_t lda() const { return trans_a(layout) ? m : k; }
  int64_t ldb() const { return trans_b(layout) ? k : n; }
  int64_t size_a() const { return m * k; }
  int64_t size_b() const { return k * n; }
  int64_t size_c() const { return m * n; }
};

// Device buffers of one problem (copies rotate A and B for timing).
struct Buffers {
  std::vector<bf16*> a, b;
  void* c = nullptr;
  void* pre = nullptr;  // (batch, m, n) as Tout when the problem stores the pre-activation
  bf16* bias = nullptr;
  std::vector<uint16_t> ha, hb, hbias;
  std::vector<float> hc0;       // C before the run, as Tout holds it (NaN poison when not accumulating)
  std::vector<uint8_t> c_init;  // the bytes uploaded before each version's run
};

float uniform(std::mt19937& rng) { return std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng); }

// Runs f(i) for i in [0, n) on every core.
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

// v[i] = bf16 of uniform [-1, 1): chunks of 2^20 elements on every core, each from its own generator seeded
// by rng (the host fill of the squares' operands was seconds of the GPU stage's bench time on one core).
void fill_uniform(std::vector<uint16_t>& v, std::mt19937& rng) {
  const int64_t chunk = 1 << 20, chunks = (static_cast<int64_t>(v.size()) + chunk - 1) / chunk;
  std::vector<uint32_t> seeds(chunks);
  for (auto& seed : seeds) seed = rng();
  auto fill = [&](int64_t c) {
    std::mt19937 local(seeds[c]);
    const int64_t end = std::min<int64_t>(static_cast<int64_t>(v.size()), (c + 1) * chunk);
    for (int64_t i = c * chunk; i < end; ++i) v[i] = to_bf16(uniform(local));
  };
  if (chunks == 1) fill(0);  // the check's small problems: no threads
  else parallel_for(chunks, fill);
}

Buffers make_buffers(const Problem& p, int copies, std::mt19937& rng) {
  Buffers d;
  const int64_t na = p.batch * p.size_a(), nb = p.batch * p.size_b(), nc = p.batch * p.size_c();
  d.ha.resize(na);
  d.hb.resize(nb);
  d.hbias.resize(p.n);
  fill_uniform(d.ha, rng);
  fill_uniform(d.hb, rng);
  for (auto& v : d.hbias) v = to_bf16(uniform(rng));
  for (int i = 0; i < copies; ++i) {
    bf16 *a, *b;
    CHECK(cudaMalloc(&a, std::max<int64_t>(na, 8) * 2));
    CHECK(cudaMalloc(&b, std::max<int64_t>(nb, 8) * 2));
    CHECK(cudaMemcpy(a, d.ha.data(), na * 2, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(b, d.hb.data(), nb * 2, cudaMemcpyHostToDevice));
    d.a.push_back(a);
    d.b.push_back(b);
  }
  CHECK(cudaMalloc(&d.c, std::max<int64_t>(nc, 8) * 4));
  if (p.pre) CHECK(cudaMalloc(&d.pre, std::max<int64_t>(nc, 8) * 4));
  CHECK(cudaMalloc(&d.bias, std::max<int64_t>(p.n, 8) * 2));
  CHECK(cudaMemcpy(d.bias, d.hbias.data(), p.n * 2, cudaMemcpyHostToDevice));
  return d;
}

void free_buffers(Buffers& d) {
  for (auto* a : d.a) CHECK(cudaFree(a));
  for (auto* b : d.b) CHECK(cudaFree(b));
  CHECK(cudaFree(d.c));
  if (d.pre) CHECK(cudaFree(d.pre));
  CHECK(cudaFree(d.bias));
}

// C: random values when accumulating (kept in hc0 as Tout holds them), else NaN poison.
void prepare_c(const Problem& p, Buffers& d, std::mt19937& rng) {
  const int64_t nc = p.batch * p.size_c();
  d.hc0.assign(nc, NAN);
  d.c_init.resize(nc * (p.f32_out ? 4 : 2));
  for (int64_t i = 0; i < nc; ++i) {
    if (p.f32_out) {
      const float v = p.accumulate ? uniform(rng) : NAN;
      memcpy(d.c_init.data() + 4 * i, &v, 4);
      d.hc0[i] = v;
    } else {
      const uint16_t h = p.accumulate ? to_bf16(uniform(rng)) : 0x7fc0;
      memcpy(d.c_init.data() + 2 * i, &h, 2);
      d.hc0[i] = from_bf16(h);
    }
  }
}

// C as prepared; pre (when stored) NaN-poisoned: 0xffff... is a NaN in fp32 and bf16 alike.
void upload_c(const Buffers& d) {
  CHECK(cudaMemcpy(d.c, d.c_init.data(), d.c_init.size(), cudaMemcpyHostToDevice));
  if (d.pre) CHECK(cudaMemset(d.pre, 0xff, d.c_init.size()));
}

// ---- the versions ----------------------------------------------------------------------------------

int device_major = 0, device_minor = 0, device_sms = 1;
int v3_sms = 0, v3_bn = 0;  // versions 3-5: CTA count (0: every SM); versions 3, 5: tile width (0: the launcher's)
int v5_axis = 0;            // version 5's pairing (gemm90cluster::Axis; 0: the launcher's)
int v5_clusters = 0;        // version 5's clusters in its last launch

bool supports(int version, const Problem& p) {
  if (version >= 3)  // versions 4 and 5 take what version 3 takes
    return anvil::gemm90::gemm_sm90_supported(device_major, device_minor, nullptr, nullptr, nullptr, nullptr, p.m,
                                              p.n, p.k, p.lda(), p.ldb(), p.n, p.size_a(), p.size_b(), p.size_c(),
                                              p.batch);
  return anvil::gemm::gemm_sm80_supported(nullptr, nullptr, nullptr, nullptr, p.lda(), p.ldb(), p.n, p.size_a(),
                                          p.size_b(), p.size_c());
}

template <bool kAT, bool kBT, typename Tout>
cudaError_t launch_v2(const anvil::gemm::MmaArgs& g, bool gelu) {
  return gelu ? anvil::gemm::launch_gemm_sm80<kAT, kBT, Tout, true>(g, 0)
              : anvil::gemm::launch_gemm_sm80<kAT, kBT, Tout, false>(g, 0);
}

// versions 3-5: the Hopper kernels; schedule: version 3's or 5's tile width, or version 4's schedule
template <int kVersion, bool kAT, bool kBT, typename Tout, bool kGelu, typename Args>
cudaError_t launch_sm90_version(const bf16* a, const bf16* b, const Problem& p, const Args& g, int sms, int schedule) {
  if constexpr (kVersion == 5)
    return anvil::gemm90cluster::launch_gemm_sm90_cluster<kAT, kBT, Tout, kGelu>(
        a, b, p.lda(), p.ldb(), p.size_a(), p.size_b(), g, sms, schedule,
        static_cast<anvil::gemm90cluster::Axis>(v5_axis), 0, &v5_clusters);
  else  // versions 3 and 4: one kernel, two schedules (matmul/gemm_sm90.cuh)
    return anvil::gemm90::launch_gemm_sm90<kAT, kBT, Tout, kGelu>(a, b, p.lda(), p.ldb(), p.size_a(), p.size_b(), g,
                                                                  sms, schedule, 0);
}

template <int kVersion, typename Tout, typename Args>
cudaError_t launch_v3(const bf16* a, const bf16* b, const Problem& p, const Args& g, int sms, int schedule) {
  switch (p.layout * 2 + (p.gelu ? 1 : 0)) {
    case NT * 2: return launch_sm90_version<kVersion, false, true, Tout, false>(a, b, p, g, sms, schedule);
    case NT * 2 + 1: return launch_sm90_version<kVersion, false, true, Tout, true>(a, b, p, g, sms, schedule);
    case NN * 2: return launch_sm90_version<kVersion, false, false, Tout, false>(a, b, p, g, sms, schedule);
    case NN * 2 + 1: return launch_sm90_version<kVersion, false, false, Tout, true>(a, b, p, g, sms, schedule);
    case TN * 2: return launch_sm90_version<kVersion, true, false, Tout, false>(a, b, p, g, sms, schedule);
    case TN * 2 + 1: return launch_sm90_version<kVersion, true, false, Tout, true>(a, b, p, g, sms, schedule);
    case TT * 2: return launch_sm90_version<kVersion, true, true, Tout, false>(a, b, p, g, sms, schedule);
    default: return launch_sm90_version<kVersion, true, true, Tout, true>(a, b, p, g, sms, schedule);
  }
}

template <typename Tout>
cudaError_t run_typed(int version, const Problem& p, const bf16* a, const bf16* b, void* c, const bf16* bias,
                      void* pre) {
  if (version == 1) {
    anvil::gemm::SimtArgs g{a, b, c, p.bias ? bias : nullptr, p.m, p.n, p.k, p.lda(), p.ldb(), p.n,
                            p.size_a(), p.size_b(), p.size_c(), p.batch, p.alpha, p.accumulate,
                            trans_a(p.layout), trans_b(p.layout), p.gelu, pre};
    return anvil::gemm::launch_gemm_simt<bf16, Tout>(g, 0);
  }
  const int sms = v3_sms > 0 ? v3_sms : device_sms;
  if (version >= 3) {  // the same arguments
    anvil::gemm90::Args g{c, p.bias ? bias : nullptr, p.m, p.n, p.k, p.n, p.size_c(), p.alpha, p.accumulate ? 1 : 0,
                          0, 0, static_cast<int>(p.batch), 0, 0, 0, pre};
    // version 3: the cooperative schedule (its tile width by pick_bn unless forced); 4: ping-pong
    if (version == 3)
      return launch_v3<3, Tout>(a, b, p, g, sms, v3_bn ? v3_bn : anvil::gemm90::pick_bn(p.m, p.n, p.batch, sms));
    if (version == 4) return launch_v3<4, Tout>(a, b, p, g, sms, anvil::gemm90::kPingPong128);
    return launch_v3<5, Tout>(a, b, p, g, sms, v3_bn);
  }
  anvil::gemm::MmaArgs g{a, b, c, p.bias ? bias : nullptr, p.m, p.n, p.k, p.lda(), p.ldb(), p.n, p.size_a(),
                         p.size_b(), p.size_c(), p.batch, p.alpha, p.accumulate ? 1 : 0, 0, 0, pre};
  switch (p.layout) {
    case NT: return launch_v2<false, true, Tout>(g, p.gelu);
    case NN: return launch_v2<false, false, Tout>(g, p.gelu);
    case TN: return launch_v2<true, false, Tout>(g, p.gelu);
    default: return launch_v2<true, true, Tout>(g, p.gelu);
  }
}

void run(int version, const Problem& p, const Buffers& d, int copy) {
  const bf16* a = d.a[copy % d.a.size()];
  const bf16* b = d.b[copy % d.b.size()];
  cudaError_t e = p.f32_out ? run_typed<float>(version, p, a, b, d.c, d.bias, d.pre)
                            : run_typed<bf16>(version, p, a, b, d.c, d.bias, d.pre);
  if (e != cudaSuccess) {
    fprintf(stderr, "launch of version %d failed: %s\n", version, cudaGetErrorString(e));
    exit(2);
  }
}

// ---- reference and checking ------------------------------------------------------------------------

double gelu_ref(double x) {
  const double u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1.0 + std::tanh(u));
}

// Element (z, row, col): the exact value over the bf16 inputs, and sum |terms| for the error bound.
void reference(const Problem& p, const Buffers& d, int64_t z, int64_t row, int64_t col, double& value,
               double& magnitude, double& pre) {
  const uint16_t* a = d.ha.data() + z * p.size_a();
  const uint16_t* b = d.hb.data() + z * p.size_b();
  double acc = 0, mag = 0;
  for (int64_t kk = 0; kk < p.k; ++kk) {
    const double x = from_bf16(trans_a(p.layout) ? a[kk * p.lda() + row] : a[row * p.lda() + kk]);
    const double y = from_bf16(trans_b(p.layout) ? b[col * p.ldb() + kk] : b[kk * p.ldb() + col]);
    acc += x * y;
    mag += std::fabs(x * y);
  }
  double v = p.alpha * acc;
  mag = std::fabs(p.alpha) * mag;
  if (p.bias) {
    v += from_bf16(d.hbias[col]);
    mag += std::fabs(from_bf16(d.hbias[col]));
  }
  pre = v;
  if (p.gelu) v = gelu_ref(v);  // gelu' is at most ~1.13: the bound below still holds with slack
  if (p.accumulate) {
    const double old = d.hc0[(z * p.m + row) * p.n + col];
    v += old;
    mag += std::fabs(old);
  }
  value = v;
  magnitude = mag;
}

int failures = 0;

// The elements a check compares, with their exact values and error bounds: every element (small
// problems) or 512 sampled ones plus the corners (large ones). Bound per element: fp32 accumulation,
// gamma_{k+4} * sum |terms| (any summation order), plus one rounding to the output type (bf16: 2^-8
// relative, twice the half-ulp of a correct rounding).
struct Reference {
  std::vector<int64_t> picks;
  std::vector<double> value, bound;
  std::vector<double> pre, pre_bound;  // the pre-activation v and its bound (every problem; checked when stored)
};

Reference make_reference(const Problem& p, const Buffers& d, bool full) {
  Reference r;
  const int64_t nc = p.batch * p.size_c();
  if (full) {
    for (int64_t i = 0; i < nc; ++i) r.picks.push_back(i);
  } else {
    std::mt19937_64 rng(nc);
    for (int i = 0; i < 512; ++i) r.picks.push_back(static_cast<int64_t>(rng() % nc));
    for (int64_t z : {int64_t(0), p.batch - 1})
      for (int64_t row : {int64_t(0), p.m - 1})
        for (int64_t col : {int64_t(0), p.n - 1}) r.picks.push_back((z * p.m + row) * p.n + col);
  }
  const double gamma = (p.k + 4) * std::ldexp(1.0, -24) * (p.gelu ? 1.25 : 1.01);  // gelu' <= 1.13
  const double round = p.f32_out ? 0.0 : std::ldexp(1.0, -8);
  r.value.resize(r.picks.size());
  r.bound.resize(r.picks.size());
  r.pre.resize(r.picks.size());
  r.pre_bound.resize(r.picks.size());
  parallel_for(static_cast<int64_t>(r.picks.size()), [&](int64_t j) {
    const int64_t i = r.picks[j];
    const int64_t z = i / p.size_c(), row = (i % p.size_c()) / p.n, col = i % p.n;
    double v, mag, pre;
    reference(p, d, z, row, col, v, mag, pre);
    r.value[j] = v;
    r.bound[j] = gamma * mag + round * std::fabs(v) + 1e-30;
    r.pre[j] = pre;
    r.pre_bound[j] = (p.k + 4) * std::ldexp(1.0, -24) * 1.01 * mag + round * std::fabs(pre) + 1e-30;
  });
  return r;
}

// Compares C with the reference; also counts NaNs over the whole output (an element nothing wrote
// keeps its NaN poison). Prints the first bad element.
// A (batch, m, n) output of the problem's type as floats.
std::vector<float> download(const Problem& p, const void* src) {
  const int64_t nc = p.batch * p.size_c();
  std::vector<float> got(nc);
  if (p.f32_out) {
    CHECK(cudaMemcpy(got.data(), src, nc * 4, cudaMemcpyDeviceToHost));
  } else {
    std::vector<uint16_t> h(nc);
    CHECK(cudaMemcpy(h.data(), src, nc * 2, cudaMemcpyDeviceToHost));
    for (int64_t i = 0; i < nc; ++i) got[i] = from_bf16(h[i]);
  }
  return got;
}

// The aux store: every element written (no NaN poison left) and each picked one within its bound.
bool validate_pre(int version, const Problem& p, const Buffers& d, const Reference& ref) {
  const std::vector<float> got = download(p, d.pre);
  int64_t nans = 0, bad = 0, first_bad = -1;
  for (float v : got) nans += std::isnan(v);
  for (size_t j = 0; j < ref.picks.size(); ++j)
    if (!(std::fabs(got[ref.picks[j]] - ref.pre[j]) <= ref.pre_bound[j]) && bad++ == 0) first_bad = j;
  if (bad == 0 && nans == 0) return true;
  ++failures;
  const int64_t i = first_bad >= 0 ? ref.picks[first_bad] : 0;
  printf("  FAIL v%d %s m=%lld n=%lld k=%lld batch=%lld %s pre (aux store): %lld bad of %zu checked, %lld NaN; "
         "first bad element %lld = %g, expected %g\n",
         version, layout_name(p.layout), (long long)p.m, (long long)p.n, (long long)p.k, (long long)p.batch,
         p.f32_out ? "f32" : "bf16", (long long)bad, ref.picks.size(), (long long)nans, (long long)i, got[i],
         first_bad >= 0 ? ref.pre[first_bad] : 0.0);
  return false;
}

bool validate(int version, const Problem& p, const Buffers& d, const Reference& ref) {
  const std::vector<float> got = download(p, d.c);
  int64_t nans = 0;
  for (float v : got) nans += std::isnan(v);
  double worst = 0, sum_err2 = 0, sum_ref2 = 0;
  int64_t bad = 0, first_bad = -1;
  for (size_t j = 0; j < ref.picks.size(); ++j) {
    const int64_t i = ref.picks[j];
    const double err = std::fabs(got[i] - ref.value[j]);
    sum_err2 += err * err;
    sum_ref2 += ref.value[j] * ref.value[j];
    worst = std::max(worst, err / ref.bound[j]);
    if (!(err <= ref.bound[j])) {
      if (first_bad < 0) first_bad = static_cast<int64_t>(j);
      ++bad;
    }
  }
  const bool ok = bad == 0 && nans == 0 && (!p.pre || validate_pre(version, p, d, ref));
  if (!(bad == 0 && nans == 0)) {
    ++failures;
    const int64_t i = first_bad >= 0 ? ref.picks[first_bad] : 0;
    printf("  FAIL v%d %s m=%lld n=%lld k=%lld batch=%lld %s%s%s%s alpha=%g: %lld bad of %zu checked, %lld NaN; "
           "first bad element %lld (z=%lld row=%lld col=%lld) = %g, expected %g\n",
           version, layout_name(p.layout), (long long)p.m, (long long)p.n, (long long)p.k, (long long)p.batch,
           p.f32_out ? "f32" : "bf16", p.bias ? " bias" : "", p.gelu ? (p.pre ? " gelu+pre" : " gelu") : "",
           p.accumulate ? " acc" : "",
           p.alpha, (long long)bad, ref.picks.size(), (long long)nans, (long long)i, (long long)(i / p.size_c()),
           (long long)((i % p.size_c()) / p.n), (long long)(i % p.n), got[i],
           first_bad >= 0 ? ref.value[first_bad] : 0.0);
  }
  if (ok && p.m * p.n * p.k >= 100000000)
    printf("  v%d %s %lldx%lldx%lld: rel err %.2e, worst err/bound %.2f\n", version, layout_name(p.layout),
           (long long)p.m, (long long)p.n, (long long)p.k, std::sqrt(sum_err2 / std::max(sum_ref2, 1e-300)), worst);
  return ok;
}

// Runs each version on p (C reset before each) and validates it against one reference.
int check_problem(const Problem& p, const std::vector<int>& versions, std::mt19937& rng, bool full) {
  Buffers d = make_buffers(p, 1, rng);
  prepare_c(p, d, rng);
  const Reference ref = make_reference(p, d, full);
  int ran = 0;
  for (int version : versions) {
    if (!supports(version, p)) continue;
    // version 3: both tile widths; 5: both tile widths x both pairings (axis 1: along M, 2: along N)
    std::vector<std::pair<int, int>> schedules = {{0, 0}};
    if (version == 3) schedules = {{128, 0}, {256, 0}};
    if (version == 5) schedules = {{128, 1}, {128, 2}, {256, 1}, {256, 2}};
    for (auto [bn, axis] : schedules) {
      const int keep_sms = v3_sms, keep_bn = v3_bn, keep_axis = v5_axis;
      if (version >= 3) v3_sms = 7, v3_bn = bn, v5_axis = axis;  // version 5: 3 clusters of 2
      upload_c(d);
      run(version, p, d, 0);
      CHECK(cudaDeviceSynchronize());
      if (!validate(version, p, d, ref) && version >= 3)
        printf("    (version %d, bn %d%s, on 7 CTAs%s)\n", version, bn,
               axis == 1 ? ", pairs along M" : axis == 2 ? ", pairs along N" : "", version == 5 ? ": 3 clusters" : "");
      v3_sms = keep_sms, v3_bn = keep_bn, v5_axis = keep_axis;
      ++ran;
    }
  }
  free_buffers(d);
  return ran;
}

void check_all(const std::vector<int>& versions) {
  std::mt19937 rng(1234);
  // m, n, k multiples of 8 (so the tensor-core kernel takes every layout) but not of the 128x128x32 tile,
  // tiles exactly, k = 0 (bias only), and rows of one; batched with strides.
  struct Shape { int64_t m, n, k, batch; };
#ifndef ANVIL_HOST_EMULATION
  const Shape shapes[] = {{8, 8, 8, 1},    {1, 8, 16, 1},    {128, 128, 32, 1}, {136, 264, 40, 1},
                          {200, 72, 520, 1}, {24, 40, 0, 1}, {72, 136, 96, 3},  {264, 392, 264, 1}};
#else  // the CPU emulator (kernels/dev/emu) runs a few thousand times slower: fewer, smaller problems
  // (1160 rows: 10 tile rows, more than a raster group of 8)
  const Shape shapes[] = {{8, 8, 8, 1}, {136, 136, 40, 1}, {24, 40, 0, 1}, {72, 16, 200, 2}, {136, 264, 328, 1},
                          {1160, 24, 72, 1}};
#endif
  int checked = 0;
  for (const Shape& s : shapes)
    for (Layout l : {NT, NN, TN, TT})
      for (int epi = 0; epi < 4; ++epi)
        for (bool f32 : {false, true}) {
          // epilogues: 0 plain, 1 bias (alpha 0.5), 2 bias + gelu + the aux store of pre, 3 accumulate
          const Problem p{l, s.m, s.n, s.k, s.batch, f32, epi == 1 || epi == 2, epi == 2, epi == 3,
                          epi == 1 ? 0.5f : epi == 3 ? -1.0f : 1.0f, epi == 2};
          checked += check_problem(p, versions, rng, true);
#ifdef ANVIL_HOST_EMULATION
          printf("  %s m=%lld n=%lld k=%lld batch=%lld epilogue %d %s: %d failures so far\n", layout_name(l),
                 (long long)s.m, (long long)s.n, (long long)s.k, (long long)s.batch, epi, f32 ? "f32" : "bf16",
                 failures);
          fflush(stdout);
#endif
        }
#ifndef ANVIL_HOST_EMULATION
  // larger products, every element: every tile position and the k loop at depth
  for (Layout l : {NT, NN, TN}) checked += check_problem({l, 1032, 1048, 520, 1, false, true, false, false, 1.0f},
                                                         versions, rng, true);
  // more tiles than CTAs even on every SM, batched: sampled elements plus a NaN scan of the whole output
  for (Layout l : {NT, NN, TN, TT})
    checked += check_problem({l, 2056, 2104, 264, 2, l == TN, false, false, l == TN, 1.0f}, versions, rng, false);
#endif
  printf("checked %d (problem, version) pairs: %s\n", checked, failures ? "FAILED" : "ok");
}

// ---- timing ----------------------------------------------------------------------------------------

double time_ms(int version, const Problem& p, const Buffers& d, int max_reps) {
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  run(version, p, d, 0);  // warm-up (module load, smem attribute)
  run(version, p, d, 1);
  CHECK(cudaDeviceSynchronize());
  std::vector<float> times;
  float total = 0;
  for (int i = 0; i < max_reps && (i < 3 || total < 300.0f); ++i) {
    CHECK(cudaEventRecord(start));
    run(version, p, d, i);
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

void bench_all(const std::vector<int>& versions, bool quick, const std::vector<std::string>& shapes, FILE* csv) {
  std::mt19937 rng(99);
  struct Case { const char* name; Layout l; int64_t m, n, k; };
  std::vector<Case> cases = {{"square4096", NT, 4096, 4096, 4096}, {"square8192", NT, 8192, 8192, 8192}};
  // GPT-2 small step, B*T = 8192 rows: each Linear (in -> out) as its three products
  const int64_t bt = 8192;
  const struct { const char* name; int64_t in, out; } linears[] = {
      {"c_attn", 768, 2304}, {"attn.c_proj", 768, 768}, {"c_fc", 768, 3072}, {"mlp.c_proj", 3072, 768},
      {"lm_head", 768, 50304}};
  for (const auto& lin : linears) {
    cases.push_back({lin.name, NT, bt, lin.out, lin.in});  // Y = x W^T
    cases.push_back({lin.name, NN, bt, lin.in, lin.out});  // dX = dY W
    cases.push_back({lin.name, TN, lin.out, lin.in, bt});  // dW = dY^T x
  }
  if (quick) cases = {{"square4096", NT, 4096, 4096, 4096}, {"c_fc", NT, bt, 3072, 768}, {"c_fc", NN, bt, 768, 3072},
                      {"c_fc", TN, 3072, 768, bt}};
  if (!shapes.empty())
    cases.erase(std::remove_if(cases.begin(), cases.end(),
                               [&](const Case& c) {
                                 const std::string name = c.name, both = name + ":" + layout_name(c.l);
                                 return std::find(shapes.begin(), shapes.end(), name) == shapes.end() &&
                                        std::find(shapes.begin(), shapes.end(), both) == shapes.end();
                               }),
                cases.end());
  printf("\n%-12s %-3s %6s %6s %6s %4s %9s %8s\n", "shape", "lay", "m", "n", "k", "ver", "ms", "TFLOP/s");
  for (const Case& c : cases) {
    // dW accumulates in fp32 (the product's db), the others write bf16
    Problem p{c.l, c.m, c.n, c.k, 1, c.l == TN, false, false, false, 1.0f};
    const int64_t bytes = (p.size_a() + p.size_b()) * 2;
    const int copies = static_cast<int>(std::min<int64_t>(8, std::max<int64_t>(1, (200LL << 20) / bytes)));
    Buffers d = make_buffers(p, copies, rng);
    prepare_c(p, d, rng);
    const Reference ref = make_reference(p, d, false);
    for (int version : versions) {
      if (!supports(version, p)) continue;
      upload_c(d);
      run(version, p, d, 0);
      CHECK(cudaDeviceSynchronize());
      const bool ok = validate(version, p, d, ref);  // spot check before timing
      const double flops = 2.0 * p.m * p.n * p.k;
      const bool slow = version == 1 && flops > 1e11;
      const double ms = time_ms(version, p, d, slow ? 3 : 50);
      char note[48] = "";
      if (version == 5) snprintf(note, sizeof(note), "  (%d clusters)", v5_clusters);
      printf("%-12s %-3s %6lld %6lld %6lld %4d %9.3f %8.1f%s%s\n", c.name, layout_name(c.l), (long long)p.m,
             (long long)p.n, (long long)p.k, version, ms, flops / ms / 1e9, ok ? "" : "  (WRONG)", note);
      if (csv)
        fprintf(csv, "%s,%s,%lld,%lld,%lld,%d,%.6f,%.2f\n", c.name, layout_name(c.l), (long long)p.m,
                (long long)p.n, (long long)p.k, version, ms, flops / ms / 1e9);
      if (csv) fflush(csv);  // a run cut off by its time limit keeps the rows it finished
      fflush(stdout);
    }
    free_buffers(d);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool check = true, bench = true, quick = false;
  std::vector<int> versions = {1, 2, 3, 4, 5};
  std::vector<std::string> shapes;  // --shapes: bench only these
  FILE* csv = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--check") bench = false;
    else if (a == "--bench") check = false;
    else if (a == "--quick") quick = true;
    else if ((a == "--version" || a == "--versions") && i + 1 < argc) {
      versions.clear();
      for (const char* v = argv[++i]; *v;) {
        versions.push_back(atoi(v));
        while (*v && *v != ',') ++v;
        if (*v == ',') ++v;
      }
    }
    else if (a == "--bn" && i + 1 < argc) v3_bn = atoi(argv[++i]);
    else if (a == "--axis" && i + 1 < argc) {
      const std::string axis = argv[++i];
      v5_axis = axis == "m" ? 1 : axis == "n" ? 2 : -1;
      if (v5_axis < 0) { fprintf(stderr, "--axis takes m or n\n"); return 2; }
    }
    else if (a == "--shapes" && i + 1 < argc) {
      for (const char* v = argv[++i]; *v;) {
        const char* end = v;
        while (*end && *end != ',') ++end;
        shapes.emplace_back(v, end);
        v = *end ? end + 1 : end;
      }
    }
    else if (a == "--csv" && i + 1 < argc) {
      csv = fopen(argv[++i], "w");
      if (!csv) { perror("csv"); return 2; }
      fprintf(csv, "name,layout,m,n,k,version,ms,tflops\n");
    } else {
      fprintf(stderr, "usage: gemm [--check|--bench] [--quick] [--versions N,M] [--bn 128|256] [--axis m|n] "
                      "[--shapes a,b] [--csv FILE]\n");
      return 2;
    }
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  printf("device: %s, sm_%d%d, %d SMs, L2 %d MB\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount,
         prop.l2CacheSize >> 20);
  device_major = prop.major;
  device_minor = prop.minor;
  device_sms = prop.multiProcessorCount;
  if (prop.major < 8) {
    fprintf(stderr, "the tensor-core versions need sm_80 or later\n");
    return 2;
  }
  if (check) check_all(versions);
  if (bench) bench_all(versions, quick, shapes, csv);
  if (csv) fclose(csv);
  printf("\n%s (%d failures)\n", failures ? "FAILED" : "all checks passed", failures);
  return failures ? 1 : 0;
}
