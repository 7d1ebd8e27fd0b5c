// attention_check.cpp: the CPU attention kernel's playground: validate, then benchmark.
//
//   attention_check           correctness of anvil_cpu_attention_fwd/bwd for every instruction set this
//                             CPU runs (avx512, avx2, generic), 1 and 2 threads, against a naive fp64
//                             reference that materializes the softmax: out, lse, dq, dk, dv on awkward
//                             sizes (T = 1, 7, 63, 65, 127), Tq != Tk both ways, Tq = 1 decoding,
//                             causal and not, key masks with fully masked rows, packed strided qkv;
//                             the forward without lse (inference) must give the same output.
//                             Then a short timing of the training and decoding shapes. Exit 1 on failure.
//   attention_check --bench [avx512|avx2|generic [shape]]   only the timings (of one instruction set,
//                             one shape: gpt-small, gpt, decode, decode16), more repetitions.
//
// Every output buffer is NaN-poisoned first, so an element the kernel forgets stays NaN and fails; the
// columns of a packed buffer that belong to no view must still be NaN afterwards (nothing written
// outside the views). A query that sees no key must get exactly 0 (out, dq) and lse = -inf; a key that
// no query sees exactly 0 (dk, dv).
//
// Tolerance: the same naive algorithm run in fp32 sets the scale. A tensor passes when its max abs
// error is at most 2x the naive fp32 error plus 8 ulp of the largest sum of |terms| behind one of its
// elements (through the inner dot products: the kernel sums in another order, and computes
// rowsum(dO*O) where the naive code has sum(P*dP), so it is not bound to be as lucky as the naive code
// where cancellation makes a value tiny). A wrong index, a missed tile or a bad mask is off by orders
// of magnitude.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "anvil/anvil.h"

namespace anvil {
bool attention_force_isa(const char* isa);
const char* attention_isa();
}  // namespace anvil

namespace {

int failures = 0;
int checks = 0;
std::mt19937_64 rng(20240611);
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// Masks: none; ~30% of keys off at random; random with batch 0 fully masked; left padding (the first
// third of each row's keys off, so under a causal mask the first queries see nothing).
enum Mask { kNone, kRandom, kRandomFullRow, kLeftPad };

struct Case {
  int64_t batch, heads, tq, tk, d;
  bool causal;
  Mask mask;
  bool packed;  // q, k, v column blocks of one (B, T, 3C + pad) buffer (k and v of one when Tq != Tk)
};

std::string describe(const Case& c) {
  static const char* masks[] = {"none", "random", "full-row", "left-pad"};
  char buf[200];
  std::snprintf(buf, sizeof buf, "B=%lld H=%lld Tq=%lld Tk=%lld D=%lld %s mask=%s %s", (long long)c.batch,
                (long long)c.heads, (long long)c.tq, (long long)c.tk, (long long)c.d,
                c.causal ? "causal" : "full", masks[c.mask], c.packed ? "packed" : "separate");
  return buf;
}

// A (B, T, H*D) view into a buffer: element (b, t, h, e) at base + col + b*bs + t*rs + h*D + e.
struct View {
  std::vector<float>* buf;
  int64_t col, rs, bs;
  float* at(int64_t b, int64_t t) const { return buf->data() + col + b * bs + t * rs; }
};

// One problem's buffers; gradients mirror the inputs' layout (dq/dk/dv share q/k/v's strides).
struct Tensors {
  std::vector<float> qbuf, kvbuf, obuf, dobuf, dqbuf, dkvbuf, lse;
  std::vector<int32_t> mask;
  View q, k, v, o, dout, dq, dk, dv;
};

void fill_random(std::vector<float>& v, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  for (auto& x : v) x = dist(rng);
}

Tensors make(const Case& c) {
  Tensors t;
  const int64_t width = c.heads * c.d;
  const bool shared = c.packed && c.tq == c.tk;
  // Packed rows carry q|k|v (or k|v) plus 5 unused columns, and each batch item 2 unused rows.
  const int64_t qrs = c.packed ? (shared ? 3 : 1) * width + 5 : width;
  const int64_t kvrs = c.packed ? (shared ? 3 : 2) * width + 5 : width;
  const int64_t qbs = qrs * (c.tq + (c.packed ? 2 : 0));
  const int64_t kvbs = kvrs * (c.tk + (c.packed ? 2 : 0));
  const int64_t ors = c.packed ? width + 3 : width;
  const int64_t obs = ors * c.tq;
  t.qbuf.resize(std::max<int64_t>(1, qbs * c.batch));
  t.kvbuf.resize(std::max<int64_t>(1, kvbs * c.batch) * (c.packed ? 1 : 2));
  t.obuf.assign(std::max<int64_t>(1, obs * c.batch), kNaN);
  t.dobuf.resize(t.obuf.size());
  t.dqbuf.assign(t.qbuf.size(), kNaN);
  t.dkvbuf.assign(t.kvbuf.size(), kNaN);
  t.lse.assign(std::max<int64_t>(1, c.batch * c.heads * c.tq), kNaN);
  fill_random(t.qbuf, -2.0f, 2.0f);  // wide enough that the softmax is far from uniform
  fill_random(t.kvbuf, -2.0f, 2.0f);
  fill_random(t.dobuf, -1.0f, 1.0f);
  if (shared) {
    t.q = {&t.qbuf, 0, qrs, qbs};
    t.k = {&t.qbuf, width, qrs, qbs};
    t.v = {&t.qbuf, 2 * width, qrs, qbs};
    t.dq = {&t.dqbuf, 0, qrs, qbs};
    t.dk = {&t.dqbuf, width, qrs, qbs};
    t.dv = {&t.dqbuf, 2 * width, qrs, qbs};
  } else {
    const int64_t vcol = c.packed ? width : kvbs * c.batch;
    t.q = {&t.qbuf, 0, qrs, qbs};
    t.k = {&t.kvbuf, 0, kvrs, kvbs};
    t.v = {&t.kvbuf, vcol, kvrs, kvbs};
    t.dq = {&t.dqbuf, 0, qrs, qbs};
    t.dk = {&t.dkvbuf, 0, kvrs, kvbs};
    t.dv = {&t.dkvbuf, vcol, kvrs, kvbs};
  }
  t.o = {&t.obuf, 0, ors, obs};
  t.dout = {&t.dobuf, 0, ors, obs};
  if (c.mask != kNone) {
    t.mask.assign(c.batch * c.tk, 1);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (int64_t b = 0; b < c.batch; b++)
      for (int64_t j = 0; j < c.tk; j++) {
        int32_t& m = t.mask[b * c.tk + j];
        if (c.mask == kLeftPad) m = j >= c.tk / 3;
        else m = u(rng) < 0.3f ? 0 : 1 + (int32_t)(u(rng) * 5);  // any nonzero value means "attend"
        if (c.mask == kRandomFullRow && b == 0) m = 0;
      }
  }
  return t;
}

anvil_attention_params params(const Case& c, Tensors& t, double scale) {
  auto addr = [](const View& v) { return (int64_t)(uintptr_t)(v.buf->data() + v.col); };
  anvil_attention_params p{};
  p.q = addr(t.q);
  p.k = addr(t.k);
  p.v = addr(t.v);
  p.out = addr(t.o);
  p.lse = (int64_t)(uintptr_t)t.lse.data();
  p.key_mask = t.mask.empty() ? 0 : (int64_t)(uintptr_t)t.mask.data();
  p.dout = addr(t.dout);
  p.dq = addr(t.dq);
  p.dk = addr(t.dk);
  p.dv = addr(t.dv);
  p.batch = c.batch;
  p.heads = c.heads;
  p.q_len = c.tq;
  p.k_len = c.tk;
  p.head_dim = c.d;
  p.q_row_stride = t.q.rs;
  p.k_row_stride = t.k.rs;
  p.v_row_stride = t.v.rs;
  p.o_row_stride = t.o.rs;
  p.q_batch_stride = t.q.bs;
  p.k_batch_stride = t.k.bs;
  p.v_batch_stride = t.v.bs;
  p.o_batch_stride = t.o.bs;
  p.causal = c.causal;
  p.scale = scale;
  return p;
}

// The naive algorithm on (B, H, T, D) copies in precision R: materialized scores, softmax, products.
template <class R>
struct Reference {
  std::vector<R> out, lse, dq, dk, dv;  // (B, H, T, D) and (B, H, Tq)
  // Structural zeros: (B, H, Tq) queries that see no key, (B, H, Tk) keys that no query sees.
  std::vector<char> row_dead, key_dead;
  // Largest sum of |terms| behind one element of each result (through the inner dot products too), the
  // scale of a rounding error that no summation order avoids.
  R mag_out = 0, mag_lse = 0, mag_dq = 0, mag_dk = 0, mag_dv = 0;
};

template <class R>
Reference<R> reference(const Case& c, const Tensors& t, double scale_d) {
  const int64_t B = c.batch, H = c.heads, Tq = c.tq, Tk = c.tk, D = c.d;
  const R scale = (R)scale_d;
  const R ninf = -std::numeric_limits<R>::infinity();
  Reference<R> r;
  r.out.assign(B * H * Tq * D, 0);
  r.lse.assign(B * H * Tq, ninf);
  r.dq.assign(B * H * Tq * D, 0);
  r.dk.assign(B * H * Tk * D, 0);
  r.dv.assign(B * H * Tk * D, 0);
  r.row_dead.assign(B * H * Tq, 1);
  r.key_dead.assign(B * H * Tk, 1);
  std::vector<R> s(Tk), p(Tk), dp(Tk), sabs(Tk), dpabs(Tk), dk_mag(B * H * Tk * D, 0), dv_mag(B * H * Tk * D, 0);
  std::vector<char> seen(Tk);
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < Tq; i++) {
        const float* qi = t.q.at(b, i) + h * D;
        const float* gi = t.dout.at(b, i) + h * D;
        R mx = ninf;
        for (int64_t j = 0; j < Tk; j++) {
          seen[j] = (!c.causal || j <= i + (Tk - Tq)) && (t.mask.empty() || t.mask[b * Tk + j] != 0);
          if (!seen[j]) continue;
          const float* kj = t.k.at(b, j) + h * D;
          R acc = 0, aabs = 0;
          for (int64_t e = 0; e < D; e++) {
            acc += (R)qi[e] * (R)kj[e];
            aabs += std::fabs((R)qi[e] * (R)kj[e]);
          }
          s[j] = acc * scale;
          sabs[j] = aabs * std::fabs(scale);
          mx = std::max(mx, s[j]);
        }
        if (mx == ninf) continue;  // sees nothing: zeros, lse = -inf, zero gradients
        r.row_dead[(b * H + h) * Tq + i] = 0;
        for (int64_t j = 0; j < Tk; j++)
          if (seen[j]) r.key_dead[(b * H + h) * Tk + j] = 0;
        R sum = 0;
        for (int64_t j = 0; j < Tk; j++) sum += p[j] = seen[j] ? std::exp(s[j] - mx) : 0;
        const int64_t row = ((b * H + h) * Tq + i);
        r.lse[row] = mx + std::log(sum);
        R* oi = &r.out[row * D];
        R dsum = 0, dsum_abs = 0;
        for (int64_t j = 0; j < Tk; j++) {
          p[j] /= sum;
          if (!seen[j]) continue;
          const float* vj = t.v.at(b, j) + h * D;
          R acc = 0, aabs = 0;
          for (int64_t e = 0; e < D; e++) {
            oi[e] += p[j] * (R)vj[e];
            acc += (R)gi[e] * (R)vj[e];
            aabs += std::fabs((R)gi[e] * (R)vj[e]);
          }
          dp[j] = acc;
          dpabs[j] = aabs;
          dsum += p[j] * acc;
          dsum_abs += p[j] * aabs;
          r.mag_lse = std::max(r.mag_lse, std::fabs(r.lse[row]) + sabs[j]);
        }
        for (int64_t e = 0; e < D; e++) {
          R m = 0;
          for (int64_t j = 0; j < Tk; j++)
            if (seen[j]) m += p[j] * (1 + sabs[j] + std::fabs(r.lse[row])) * std::fabs((R)t.v.at(b, j)[h * D + e]);
          r.mag_out = std::max(r.mag_out, m);
        }
        std::vector<R> dq_mag(D, 0);
        for (int64_t j = 0; j < Tk; j++) {
          if (!seen[j]) continue;
          const R ds = p[j] * (dp[j] - dsum) * scale;
          // p_ij itself carries an error of (|s_ij| + |lse_i|) ulp: it is exp of their difference.
          const R pw = p[j] * (1 + sabs[j] + std::fabs(r.lse[row]));
          const R ds_abs = pw * (dpabs[j] + dsum_abs) * std::fabs(scale);
          const float* kj = t.k.at(b, j) + h * D;
          const int64_t key = ((b * H + h) * Tk + j) * D;
          for (int64_t e = 0; e < D; e++) {
            r.dq[row * D + e] += ds * (R)kj[e];
            r.dk[key + e] += ds * (R)qi[e];
            r.dv[key + e] += p[j] * (R)gi[e];
            dq_mag[e] += ds_abs * std::fabs((R)kj[e]);
            dk_mag[key + e] += ds_abs * std::fabs((R)qi[e]);
            dv_mag[key + e] += pw * std::fabs((R)gi[e]);
          }
        }
        for (R m : dq_mag) r.mag_dq = std::max(r.mag_dq, m);
      }
  for (R m : dk_mag) r.mag_dk = std::max(r.mag_dk, m);
  for (R m : dv_mag) r.mag_dv = std::max(r.mag_dv, m);
  return r;
}

struct Error {
  double max_err = 0, max_ref = 0;
  bool structural = true;  // exact zeros / -inf / NaN poison where required
};

// Compares view (B, T, H*D) against ref (B, H, T, D); rows flagged in dead (B, H, T) must be exactly 0.
template <class R>
Error compare_view(const View& v, const std::vector<R>& ref, const std::vector<char>& dead, int64_t B, int64_t H,
                   int64_t T, int64_t D) {
  Error e;
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t t = 0; t < T; t++)
        for (int64_t d = 0; d < D; d++) {
          const double want = (double)ref[((b * H + h) * T + t) * D + d];
          const double got = v.at(b, t)[h * D + d];
          if (std::isnan(got) || (dead[(b * H + h) * T + t] && got != 0.0)) e.structural = false;
          e.max_err = std::max(e.max_err, std::fabs(got - want));
          e.max_ref = std::max(e.max_ref, std::fabs(want));
        }
  return e;
}

template <class R>
Error compare_lse(const std::vector<float>& got, const std::vector<R>& ref) {
  Error e;
  for (size_t i = 0; i < ref.size(); i++) {
    const double want = (double)ref[i];
    if (std::isinf(want)) {
      if (!(std::isinf(got[i]) && got[i] < 0)) e.structural = false;
      continue;
    }
    if (!std::isfinite(got[i])) e.structural = false;
    e.max_err = std::max(e.max_err, std::fabs(got[i] - want));
    e.max_ref = std::max(e.max_ref, std::fabs(want));
  }
  return e;
}

// Elements of buf that no view covers must still hold the NaN poison.
bool untouched_outside(const std::vector<float>& buf, const std::vector<const View*>& views, int64_t B,
                       int64_t T, int64_t width) {
  std::vector<char> covered(buf.size(), 0);
  for (const View* v : views)
    for (int64_t b = 0; b < B; b++)
      for (int64_t t = 0; t < T; t++) std::fill_n(&covered[v->at(b, t) - buf.data()], width, 1);
  for (size_t i = 0; i < buf.size(); i++)
    if (!covered[i] && !std::isnan(buf[i])) return false;
  return true;
}

double worst_ratio = 0;  // max over checks of error / allowed

void judge(const std::string& label, const char* name, const Error& got, const Error& naive, double magnitude) {
  ++checks;
  const double allowed = 2.0 * naive.max_err + 8.0 * std::ldexp(1.0, -24) * magnitude;
  const bool ok = got.structural && got.max_err <= allowed;
  worst_ratio = std::max(worst_ratio, allowed > 0 ? got.max_err / allowed : 0.0);
  if (!ok) {
    ++failures;
    if (failures <= 40)
      std::printf("FAIL %s %s: max err %.3g (naive fp32 %.3g, allowed %.3g, max |ref| %.3g)%s\n", label.c_str(),
                  name, got.max_err, naive.max_err, allowed, got.max_ref,
                  got.structural ? "" : " [unwritten element, nonzero where exactly 0, or bad -inf]");
  }
}

struct Worst {
  double out = 0, lse = 0, dq = 0, dk = 0, dv = 0;  // max abs error relative to max |ref|
} worst;

void check_case(const Case& c, double scale_factor = 1.0) {
  Tensors t = make(c);
  const double scale = scale_factor / std::sqrt((double)c.d);
  anvil_attention_params p = params(c, t, scale);
  const std::string label = std::string(anvil::attention_isa()) + " threads=" +
                            std::to_string(omp_get_max_threads()) + " " + describe(c) +
                            (scale_factor != 1.0 ? " scale*" + std::to_string(scale_factor) : "");
  if (anvil_cpu_attention_fwd(&p) != 0) {
    ++failures;
    std::printf("FAIL %s: fwd returned an error: %s\n", label.c_str(), anvil_last_error());
    return;
  }
  if (anvil_cpu_attention_bwd(&p) != 0) {
    ++failures;
    std::printf("FAIL %s: bwd returned an error: %s\n", label.c_str(), anvil_last_error());
    return;
  }
  {  // Without lse (inference) the forward gives the same output, bit for bit.
    std::vector<float> saved = t.obuf;
    std::fill(t.obuf.begin(), t.obuf.end(), kNaN);
    anvil_attention_params inference = p;
    inference.lse = 0;
    ++checks;
    const int rc = anvil_cpu_attention_fwd(&inference);
    if (rc != 0 || std::memcmp(saved.data(), t.obuf.data(), saved.size() * sizeof(float)) != 0) {
      ++failures;
      std::printf("FAIL %s: fwd without lse differs (rc %d)\n", label.c_str(), rc);
    }
    t.obuf = saved;
  }
  const Reference<double> ref = reference<double>(c, t, scale);
  const Reference<float> naive = reference<float>(c, t, scale);
  const int64_t B = c.batch, H = c.heads, D = c.d;
  auto both = [&](const char* name, const View& v, const std::vector<double>& r, const std::vector<float>& n,
                  const std::vector<char>& dead, double magnitude, int64_t T, double& worst_rel) {
    Error got = compare_view(v, r, dead, B, H, T, D);
    // The naive fp32 result measured the same way (its "view" is its own (B, H, T, D) array).
    Error nv;
    for (size_t i = 0; i < r.size(); i++) nv.max_err = std::max(nv.max_err, std::fabs((double)n[i] - r[i]));
    judge(label, name, got, nv, magnitude);
    if (got.max_ref > 0) worst_rel = std::max(worst_rel, got.max_err / got.max_ref);
  };
  both("out", t.o, ref.out, naive.out, ref.row_dead, ref.mag_out, c.tq, worst.out);
  both("dq", t.dq, ref.dq, naive.dq, ref.row_dead, ref.mag_dq, c.tq, worst.dq);
  both("dk", t.dk, ref.dk, naive.dk, ref.key_dead, ref.mag_dk, c.tk, worst.dk);
  both("dv", t.dv, ref.dv, naive.dv, ref.key_dead, ref.mag_dv, c.tk, worst.dv);
  Error lse = compare_lse(t.lse, ref.lse);
  Error lse_naive = compare_lse(std::vector<float>(naive.lse.begin(), naive.lse.end()), ref.lse);
  judge(label, "lse", lse, lse_naive, ref.mag_lse);
  if (lse.max_ref > 0) worst.lse = std::max(worst.lse, lse.max_err / lse.max_ref);
  const int64_t width = H * D;
  const bool clean = untouched_outside(t.obuf, {&t.o}, B, c.tq, width) &&
                     (c.tq == c.tk && c.packed ? untouched_outside(t.dqbuf, {&t.dq, &t.dk, &t.dv}, B, c.tq, width)
                                               : untouched_outside(t.dqbuf, {&t.dq}, B, c.tq, width) &&
                                                     untouched_outside(t.dkvbuf, {&t.dk, &t.dv}, B, c.tk, width));
  ++checks;
  if (!clean) {
    ++failures;
    std::printf("FAIL %s: wrote outside its views\n", label.c_str());
  }
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (int64_t T : {1, 7, 63, 65, 127})
    for (bool causal : {false, true}) {
      all.push_back({2, 3, T, T, 32, causal, kNone, T % 2 == 1});
      all.push_back({2, 2, T, T, 64, causal, kRandom, true});
    }
  // Odd head sizes: scalar columns, single-vector tiles.
  for (int64_t D : {1, 5, 17, 24, 40, 80})
    for (bool causal : {false, true}) all.push_back({1, 2, 65, 65, D, causal, kRandom, D % 2 == 0});
  // Tq != Tk both ways (Tq > Tk under causal: the first Tq - Tk queries see nothing).
  for (bool causal : {false, true}) {
    all.push_back({2, 2, 7, 65, 32, causal, kNone, true});
    all.push_back({2, 2, 65, 7, 32, causal, kNone, false});
    all.push_back({1, 3, 63, 130, 64, causal, kRandom, true});
    all.push_back({2, 1, 130, 63, 48, causal, kLeftPad, false});
  }
  // Decoding: one query against a long cache.
  for (int64_t Tk : {1, 7, 64, 65, 1024}) {
    all.push_back({2, 3, 1, Tk, 64, true, kNone, true});
    all.push_back({1, 2, 1, Tk, 32, false, kRandom, false});
  }
  all.push_back({3, 2, 4, 200, 64, true, kLeftPad, true});
  // Masks: a batch item with every key masked; left padding with causal (first queries see nothing).
  for (bool causal : {false, true}) {
    all.push_back({3, 2, 65, 65, 32, causal, kRandomFullRow, true});
    all.push_back({2, 2, 127, 127, 64, causal, kLeftPad, true});
    all.push_back({2, 1, 7, 127, 16, causal, kRandomFullRow, false});
  }
  // Zero-size edges: no keys at all, no queries.
  all.push_back({2, 2, 5, 0, 32, false, kNone, false});
  all.push_back({2, 2, 0, 5, 32, true, kNone, false});
  return all;
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double thread_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

const char* bench_filter = nullptr;  // run only the shape of this name

// Best-of-reps milliseconds of fwd and bwd with every thread (wall clock), then with one thread in
// this thread's CPU time (what the kernel costs, even on a machine busy with other work), and GFLOP/s
// of the latter over the (query, key) pairs actually visible: 4 D flops per pair forward (QK^T, PV),
// 10 D backward (QK^T, dO V^T, dS K, dS^T Q, P^T dO).
void bench(const char* name, const Case& c, int reps) {
  if (bench_filter && std::strcmp(bench_filter, name) != 0) return;
  Tensors t = make(c);
  anvil_attention_params p = params(c, t, 1.0 / std::sqrt((double)c.d));
  const int threads = omp_get_max_threads();
  auto best = [&](double (*clock)(), double* fwd, double* bwd) {
    *fwd = *bwd = 1e30;
    for (int r = 0; r < reps + 2; r++) {
      const double t0 = clock();
      anvil_cpu_attention_fwd(&p);
      const double t1 = clock();
      anvil_cpu_attention_bwd(&p);
      const double t2 = clock();
      if (r >= 2) {
        *fwd = std::min(*fwd, t1 - t0);
        *bwd = std::min(*bwd, t2 - t1);
      }
    }
  };
  double wf, wb, cf, cb;
  best(now_ms, &wf, &wb);
  omp_set_num_threads(1);
  best(thread_cpu_ms, &cf, &cb);
  omp_set_num_threads(threads);
  double pairs = 0;
  for (int64_t i = 0; i < c.tq; i++)
    pairs += (double)(c.causal ? std::min<int64_t>(c.tk, std::max<int64_t>(0, i + (c.tk - c.tq) + 1)) : c.tk);
  pairs *= (double)(c.batch * c.heads);
  std::printf("  %-7s %-9s %-46s fwd %7.3f | %7.3f ms %5.1f GF/s   bwd %7.3f | %7.3f ms %5.1f GF/s\n",
              anvil::attention_isa(), name, describe(c).c_str(), wf, cf, pairs * 4 * c.d / cf / 1e6, wb, cb,
              pairs * 10 * c.d / cb / 1e6);
}

void benchmarks(int reps, const char* only) {
  const int threads = omp_get_max_threads();
  std::printf("timings, best of %d: wall ms with %d threads | cpu ms with 1 thread, GFLOP/s of the latter\n", reps,
              threads);
  for (const char* isa : {"avx512", "avx2", "generic"}) {
    if ((only && std::strcmp(only, isa) != 0) || !anvil::attention_force_isa(isa)) continue;
    bench("gpt-small", {12, 4, 64, 64, 32, true, kNone, true}, reps);
    bench("gpt", {16, 6, 256, 256, 64, true, kNone, true}, reps);
    bench("decode", {1, 6, 1, 1024, 64, true, kNone, true}, reps * 10);
    bench("decode16", {16, 6, 1, 1024, 64, true, kNone, true}, reps * 2);
  }
  anvil::attention_force_isa("avx512") || anvil::attention_force_isa("avx2");
}

}  // namespace

int main(int argc, char** argv) {
  const bool bench_only = argc > 1 && std::strcmp(argv[1], "--bench") == 0;
  if (!bench_only) {
    const int max_threads = omp_get_max_threads();
    for (const char* isa : {"avx512", "avx2", "generic"}) {
      if (!anvil::attention_force_isa(isa)) {
        std::printf("skip %s: not available on this CPU or in this build\n", isa);
        continue;
      }
      for (int threads : {1, 2}) {
        if (threads > max_threads && threads > 1) continue;
        omp_set_num_threads(threads);
        for (const Case& c : cases()) check_case(c);
        // Any finite scale: 0 makes every score equal, a negative one reverses their order.
        for (double factor : {0.0, -1.5}) {
          check_case({2, 2, 65, 65, 32, true, kRandom, true}, factor);
          check_case({1, 2, 1, 130, 64, false, kNone, false}, factor);
        }
      }
    }
    omp_set_num_threads(max_threads);
    anvil::attention_force_isa("avx512") || anvil::attention_force_isa("avx2");
    // Bit-identical results whatever the thread count (tasks split work, never a sum).
    if (max_threads > 1) {
      const Case split_cases[] = {{16, 6, 130, 130, 64, true, kRandom, true}, {2, 3, 65, 200, 32, false, kNone, false}};
      for (const Case& c : split_cases) {
        Tensors t = make(c);
        anvil_attention_params p = params(c, t, 0.125);
        omp_set_num_threads(1);
        anvil_cpu_attention_fwd(&p);
        anvil_cpu_attention_bwd(&p);
        const std::vector<float> o1 = t.obuf, g1 = t.dqbuf, h1 = t.dkvbuf;
        omp_set_num_threads(max_threads);
        anvil_cpu_attention_fwd(&p);
        anvil_cpu_attention_bwd(&p);
        ++checks;
        auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
          return std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
        };
        if (!same(o1, t.obuf) || !same(g1, t.dqbuf) || !same(h1, t.dkvbuf)) {
          ++failures;
          std::printf("FAIL %s: 1 and %d threads differ\n", describe(c).c_str(), max_threads);
        }
      }
    }
    // The kernel refuses what it can check: a null params, bad sizes, a short row stride, a null tensor.
    anvil_attention_params bad{};
    ++checks;
    if (anvil_cpu_attention_fwd(nullptr) != ANVIL_E_INVALID || anvil_cpu_attention_fwd(&bad) != ANVIL_E_INVALID) {
      ++failures;
      std::printf("FAIL invalid params were accepted\n");
    }
    std::printf("max error / max |ref|: out %.2g  lse %.2g  dq %.2g  dk %.2g  dv %.2g; worst error / allowed %.2f\n",
                worst.out, worst.lse, worst.dq, worst.dk, worst.dv, worst_ratio);
    std::printf("%s: %d of %d checks failed\n", failures ? "FAILED" : "OK", failures, checks);
  }
  if (bench_only && argc > 3) bench_filter = argv[3];
  benchmarks(bench_only ? 30 : 5, bench_only && argc > 2 ? argv[2] : nullptr);
  return failures ? 1 : 0;
}
