// ops_check.cpp: the small CPU ops' playground: validate, then benchmark.
//   gelu (tanh, erf), layernorm, softmax, embedding, cross_entropy, adamw, grad_norm.
//
//   ops_check           correctness of every fwd and bwd against a naive reference on awkward sizes
//                       (1, 7, 63, 65, 127, 50257-wide cross-entropy rows padded to 50304), 1 and 2
//                       threads; bit-identical results for 1 and 2 threads; the refusals (bad token id,
//                       bad target). Then a short timing. Exit 1 on any failure.
//   ops_check --bench [threads]   only the timings, at GPT-2 small training sizes, more repetitions
//                       (2 threads unless given), beside this machine's streaming bandwidth.
//
// The reference is one template run twice: in fp64 (the truth) and in fp32 (the naive math: libm,
// float sums in index order), which sets the scale. A tensor passes when its max abs error against
// fp64 is at most 2x the naive fp32 error plus 4 ulp of its largest reference value (the kernels sum in
// another order and use their own exp, so they are not bound to be as lucky as the naive code on any one
// element). The max relative error is printed beside it, with that of the naive math, over the elements
// within 6 decades of the largest (near a zero crossing any rounding is a large relative error).
// Every output is NaN-poisoned first, so an element a kernel forgets stays NaN and fails; padding logits
// are NaN too, so a kernel that reads them fails.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "anvil/anvil.h"

namespace {

int failures = 0;
int checks = 0;
std::mt19937_64 rng(20240612);
const float kNaN = std::numeric_limits<float>::quiet_NaN();

int64_t addr(const void* p) { return static_cast<int64_t>(reinterpret_cast<uintptr_t>(p)); }

std::vector<float> normal(int64_t n, float mean, float stddev) {
  std::normal_distribution<float> dist(mean, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

template <class R>
std::vector<R> as(const std::vector<float>& v) {
  return std::vector<R>(v.begin(), v.end());
}

void expect_true(bool ok, const std::string& what) {
  checks++;
  if (!ok) {
    failures++;
    std::printf("FAIL %s\n", what.c_str());
  }
}

void expect_ok(int code, const std::string& what) {
  expect_true(code == ANVIL_OK, what + ": returned " + std::to_string(code) + " " + anvil_last_error());
}

// got (fp32 kernel) and naive (fp32 reference) against ref (fp64).
void compare(const std::string& what, const std::vector<float>& got, const std::vector<float>& naive,
             const std::vector<double>& ref) {
  checks++;
  double max_ref = 0, err = 0, rel = 0, naive_err = 0, naive_rel = 0;
  int64_t worst = -1;
  bool finite = true;
  for (size_t i = 0; i < ref.size(); i++) max_ref = std::max(max_ref, std::fabs(ref[i]));
  for (size_t i = 0; i < ref.size(); i++) {
    if (!std::isfinite(got[i])) finite = false;
    double e = std::fabs(got[i] - ref[i]), ne = std::fabs(naive[i] - ref[i]);
    if (!(e <= err)) worst = static_cast<int64_t>(i);
    err = std::isfinite(got[i]) ? std::max(err, e) : INFINITY;
    naive_err = std::max(naive_err, ne);
    if (std::fabs(ref[i]) >= 1e-6 * max_ref) {
      rel = std::max(rel, e / std::fabs(ref[i]));
      naive_rel = std::max(naive_rel, ne / std::fabs(ref[i]));
    }
  }
  const double ulp = std::ldexp(1.0, std::ilogb(std::max(max_ref, 1e-30)) - 23);
  const double bound = 2 * naive_err + 4 * ulp;
  const bool ok = finite && err <= bound;
  if (!ok) failures++;
  std::printf("%s %-44s n=%-8zu abs %.2e rel %.2e | naive abs %.2e rel %.2e | bound %.2e%s\n",
              ok ? "ok  " : "FAIL", what.c_str(), ref.size(), err, rel, naive_err, naive_rel, bound,
              ok ? "" : (" worst at " + std::to_string(worst)).c_str());
}

// Runs body with 1 and with 2 threads and expects bit-identical outputs (snapshot() of each run).
void expect_thread_independent(const std::string& what, const std::function<void()>& body,
                               const std::function<std::vector<float>()>& snapshot) {
  std::vector<std::vector<float>> runs;
  for (int threads : {1, 2, 2}) {
    anvil_cpu_set_threads(threads);
    body();
    runs.push_back(snapshot());
  }
  anvil_cpu_set_threads(2);
  const bool same = runs[0].size() == runs[1].size() &&
                    std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * 4) == 0 &&
                    std::memcmp(runs[1].data(), runs[2].data(), runs[1].size() * 4) == 0;
  expect_true(same, what + ": 1 and 2 threads (and two 2-thread runs) not bit-identical");
  if (same) std::printf("ok   %-44s bit-identical for 1 and 2 threads\n", what.c_str());
}

// The fastest of reps runs: on a shared machine the minimum is the least disturbed.
double seconds(const std::function<void()>& body, int reps) {
  body();  // warm: page faults, ifunc resolution
  double best = INFINITY;
  for (int i = 0; i < reps; i++) {
    auto start = std::chrono::steady_clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

void report(const std::string& what, double bytes, double s) {
  std::printf("bench %-40s %9.3f ms %8.2f GB/s\n", what.c_str(), s * 1e3, bytes / s / 1e9);
}

// ------------------------------------------------------------------------------------------------ gelu
template <class R>
void gelu_ref(const std::vector<float>& xs, const std::vector<float>& dys, bool tanh_form,
              std::vector<R>& y, std::vector<R>& dx) {
  const R c = std::sqrt(R(2) / R(M_PI)), k = R(0.044715);
  y.resize(xs.size());
  dx.resize(xs.size());
  for (size_t i = 0; i < xs.size(); i++) {
    const R x = xs[i];
    if (tanh_form) {
      R u = c * (x + k * x * x * x), t = std::tanh(u);
      y[i] = R(0.5) * x * (R(1) + t);
      dx[i] = dys[i] * (R(0.5) * (R(1) + t) + R(0.5) * x * (R(1) - t * t) * c * (R(1) + 3 * k * x * x));
    } else {
      R cdf = R(0.5) * (R(1) + std::erf(x / std::sqrt(R(2))));
      R pdf = std::exp(-x * x / R(2)) / std::sqrt(R(2) * R(M_PI));
      y[i] = x * cdf;
      dx[i] = dys[i] * (cdf + x * pdf);
    }
  }
}

// The fp64 truth rewrites both forms where the textbook 1 + tanh / 1 + erf cancels even in fp64:
// 0.5 (1 + tanh u) = sigmoid(2u), and 1 + erf(x/sqrt2) = erfc(-x/sqrt2).
void gelu_truth(const std::vector<float>& xs, const std::vector<float>& dys, bool tanh_form,
                std::vector<double>& y, std::vector<double>& dx) {
  y.resize(xs.size());
  dx.resize(xs.size());
  const double c = std::sqrt(2.0 / M_PI), k = 0.044715;
  for (size_t i = 0; i < xs.size(); i++) {
    const double x = xs[i];
    if (tanh_form) {
      double u = c * (x + k * x * x * x), e = std::exp(-2 * u), s = 1 / (1 + e);
      double one_minus_s = s < 0.5 ? 1 - s : e * s;
      y[i] = x * s;
      dx[i] = dys[i] * (s + x * s * one_minus_s * 2 * c * (1 + 3 * k * x * x));
    } else {
      double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0)), pdf = std::exp(-x * x / 2) / std::sqrt(2 * M_PI);
      y[i] = x * cdf;
      dx[i] = dys[i] * (cdf + x * pdf);
    }
  }
}

void check_gelu() {
  std::vector<int64_t> sizes = {1, 7, 63, 65, 127, 100003};
  for (int form = 0; form < 2; form++) {
    const bool tanh_form = form == 1;
    const char* name = tanh_form ? "gelu tanh" : "gelu erf";
    for (int64_t n : sizes) {
      std::vector<float> x = normal(n, 0.0f, 3.0f), dy = normal(n, 0.0f, 1.0f);
      if (n == sizes.back()) {  // a dense sweep through both tails and the kink
        for (int64_t i = 0; i < n / 2; i++) x[i] = -14.0f + 28.0f * i / (n / 2);
      }
      std::vector<double> ry, rdx;
      std::vector<float> ny, ndx;
      gelu_truth(x, dy, tanh_form, ry, rdx);
      gelu_ref<float>(x, dy, tanh_form, ny, ndx);
      std::vector<float> y(n, kNaN), dx(n, kNaN), acc = normal(n, 0.0f, 1.0f), acc0 = acc;
      anvil_gelu_params p{addr(x.data()), addr(y.data()), addr(dy.data()), addr(dx.data()), n,
                          tanh_form ? 1 : 0, 0};
      expect_ok(anvil_cpu_gelu_fwd(&p), name);
      expect_ok(anvil_cpu_gelu_bwd(&p), name);
      std::string tag = std::string(name) + " n=" + std::to_string(n);
      compare(tag + " y", y, ny, ry);
      compare(tag + " dx", dx, ndx, rdx);
      p.dx = addr(acc.data());
      p.accumulate = 1;
      expect_ok(anvil_cpu_gelu_bwd(&p), name);
      for (int64_t i = 0; i < n; i++) {
        rdx[i] += acc0[i];
        ndx[i] += acc0[i];
      }
      compare(tag + " dx +=", acc, ndx, rdx);
    }
  }
  float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, 1e-30f, -1e-30f, 30.0f, -30.0f, 88.0f, -88.0f};
  float out[10], dout[10], ones[10];
  std::fill(ones, ones + 10, 1.0f);
  for (int form = 0; form < 2; form++) {
    anvil_gelu_params p{addr(specials), addr(out), addr(ones), addr(dout), 10, form, 0};
    anvil_cpu_gelu_fwd(&p);
    anvil_cpu_gelu_bwd(&p);
    // Far tails are exactly x (or -0) with slope 1 (or 0), infinities included.
    bool ok = out[0] == 0 && out[2] == INFINITY && out[3] == 0 && out[6] == 30.0f && out[7] == 0 &&
              out[8] == 88.0f && out[9] == 0 && std::fabs(out[4] - 0.5e-30f) < 1e-36f &&
              dout[2] == 1.0f && dout[3] == 0 && dout[6] == 1.0f && dout[7] == 0 &&
              std::fabs(dout[0] - 0.5f) < 1e-7f;
    expect_true(ok, std::string("gelu special values, form ") + (form ? "tanh" : "erf"));
  }
}

// ------------------------------------------------------------------------------------------- layernorm
template <class R>
struct LayerNormOut {
  std::vector<R> y, mean, rstd, dx, dw, db;
};

template <class R>
LayerNormOut<R> layernorm_ref(const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>& b, const std::vector<float>& dy,
                              const std::vector<float>& dw0, const std::vector<float>& db0, int64_t rows,
                              int64_t cols, double eps) {
  LayerNormOut<R> o;
  o.y.resize(rows * cols);
  o.dx.resize(rows * cols);
  o.mean.resize(rows);
  o.rstd.resize(rows);
  o.dw = as<R>(dw0);
  o.db = as<R>(db0);
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = &x[r * cols];
    R sum = 0, sq = 0;
    for (int64_t j = 0; j < cols; j++) sum += xr[j];
    R mean = sum / cols;
    for (int64_t j = 0; j < cols; j++) sq += (xr[j] - mean) * (xr[j] - mean);
    R rstd = R(1) / std::sqrt(sq / cols + R(eps));
    o.mean[r] = mean;
    o.rstd[r] = rstd;
    R a = 0, c = 0;
    for (int64_t j = 0; j < cols; j++) {
      R xhat = (xr[j] - mean) * rstd, g = dy[r * cols + j];
      o.y[r * cols + j] = xhat * w[j] + b[j];
      a += g * w[j];
      c += g * w[j] * xhat;
      o.dw[j] += g * xhat;
      o.db[j] += g;
    }
    for (int64_t j = 0; j < cols; j++) {
      R xhat = (xr[j] - mean) * rstd;
      o.dx[r * cols + j] = rstd * (dy[r * cols + j] * w[j] - a / cols - xhat * c / cols);
    }
  }
  return o;
}

void check_layernorm() {
  const int64_t shapes[][2] = {{1, 1}, {1, 7}, {7, 63}, {63, 65}, {65, 127}, {127, 768}, {1000, 65}};
  for (auto& s : shapes) {
    const int64_t rows = s[0], cols = s[1];
    // An offset mean and small spread: a one-pass fp32 variance would lose most of its digits.
    std::vector<float> x = normal(rows * cols, 30.0f, 0.5f), w = normal(cols, 1.0f, 0.3f),
                       b = normal(cols, 0.0f, 0.3f), dy = normal(rows * cols, 0.0f, 1.0f),
                       dw0 = normal(cols, 0.0f, 1.0f), db0 = normal(cols, 0.0f, 1.0f);
    const double eps = 1e-5;
    auto ref = layernorm_ref<double>(x, w, b, dy, dw0, db0, rows, cols, eps);
    auto naive = layernorm_ref<float>(x, w, b, dy, dw0, db0, rows, cols, eps);
    std::vector<float> y(rows * cols, kNaN), mean(rows, kNaN), rstd(rows, kNaN), dx(rows * cols, kNaN),
        dw = dw0, db = db0;
    anvil_layernorm_params p{addr(x.data()), addr(w.data()), addr(b.data()), addr(y.data()),
                             addr(mean.data()), addr(rstd.data()), addr(dy.data()), addr(dx.data()),
                             addr(dw.data()), addr(db.data()), rows, cols, eps};
    expect_ok(anvil_cpu_layernorm_fwd(&p), "layernorm_fwd");
    expect_ok(anvil_cpu_layernorm_bwd(&p), "layernorm_bwd");
    std::string tag = "layernorm " + std::to_string(rows) + "x" + std::to_string(cols);
    compare(tag + " y", y, naive.y, ref.y);
    compare(tag + " mean", mean, naive.mean, ref.mean);
    compare(tag + " rstd", rstd, naive.rstd, ref.rstd);
    compare(tag + " dx", dx, naive.dx, ref.dx);
    compare(tag + " dweight +=", dw, naive.dw, ref.dw);
    compare(tag + " dbias +=", db, naive.db, ref.db);
  }
  // No bias, no saved statistics in fwd; no dbias in bwd.
  {
    const int64_t rows = 5, cols = 33;
    std::vector<float> x = normal(rows * cols, 0, 1), w = normal(cols, 1, 0.3f), zero(cols, 0.0f),
                       dy = normal(rows * cols, 0, 1), y(rows * cols, kNaN), mean(rows), rstd(rows),
                       dx(rows * cols, kNaN), dw(cols, 0.0f);
    auto ref = layernorm_ref<double>(x, w, zero, dy, zero, zero, rows, cols, 1e-5);
    auto naive = layernorm_ref<float>(x, w, zero, dy, zero, zero, rows, cols, 1e-5);
    anvil_layernorm_params p{addr(x.data()), addr(w.data()), 0, addr(y.data()), 0, 0, addr(dy.data()),
                             addr(dx.data()), addr(dw.data()), 0, rows, cols, 1e-5};
    expect_ok(anvil_cpu_layernorm_fwd(&p), "layernorm_fwd without bias");
    compare("layernorm no bias y", y, naive.y, ref.y);
    p.mean = addr(mean.data());
    p.rstd = addr(rstd.data());
    anvil_cpu_layernorm_fwd(&p);
    expect_ok(anvil_cpu_layernorm_bwd(&p), "layernorm_bwd without dbias");
    compare("layernorm no dbias dx", dx, naive.dx, ref.dx);
    compare("layernorm no dbias dweight", dw, naive.dw, ref.dw);
  }
  // Thread-count independence of the dweight/dbias sums.
  {
    const int64_t rows = 1000, cols = 768;
    std::vector<float> x = normal(rows * cols, 0, 1), w = normal(cols, 1, 0.3f), b = normal(cols, 0, 1),
                       dy = normal(rows * cols, 0, 1), y(rows * cols), mean(rows), rstd(rows),
                       dx(rows * cols), dw(cols), db(cols);
    anvil_layernorm_params p{addr(x.data()), addr(w.data()), addr(b.data()), addr(y.data()),
                             addr(mean.data()), addr(rstd.data()), addr(dy.data()), addr(dx.data()),
                             addr(dw.data()), addr(db.data()), rows, cols, 1e-5};
    expect_thread_independent(
        "layernorm 1000x768 fwd+bwd",
        [&] {
          std::fill(dw.begin(), dw.end(), 0.0f);
          std::fill(db.begin(), db.end(), 0.0f);
          anvil_cpu_layernorm_fwd(&p);
          anvil_cpu_layernorm_bwd(&p);
        },
        [&] {
          std::vector<float> all = y;
          for (auto* v : {&mean, &rstd, &dx, &dw, &db}) all.insert(all.end(), v->begin(), v->end());
          return all;
        });
  }
}

// --------------------------------------------------------------------------------------------- softmax
template <class R>
void softmax_ref(const std::vector<float>& x, const std::vector<float>& dy, int64_t rows, int64_t cols,
                 R scale, std::vector<R>& y, std::vector<R>& dx) {
  y.resize(rows * cols);
  dx.resize(rows * cols);
  for (int64_t r = 0; r < rows; r++) {
    R mx = -std::numeric_limits<R>::infinity(), sum = 0, dot = 0;
    for (int64_t j = 0; j < cols; j++) mx = std::max(mx, scale * x[r * cols + j]);
    for (int64_t j = 0; j < cols; j++) {
      R e = mx == -std::numeric_limits<R>::infinity() ? R(0) : std::exp(scale * x[r * cols + j] - mx);
      y[r * cols + j] = e;
      sum += e;
    }
    for (int64_t j = 0; j < cols; j++) y[r * cols + j] = sum > 0 ? y[r * cols + j] / sum : R(0);
    for (int64_t j = 0; j < cols; j++) dot += dy[r * cols + j] * y[r * cols + j];
    for (int64_t j = 0; j < cols; j++)
      dx[r * cols + j] = scale * y[r * cols + j] * (dy[r * cols + j] - dot);
  }
}

void check_softmax() {
  const int64_t shapes[][2] = {{1, 1}, {7, 7}, {63, 63}, {65, 65}, {127, 127}, {3, 50257}, {300, 257}};
  for (auto& s : shapes) {
    const int64_t rows = s[0], cols = s[1];
    for (double scale : {1.0, 0.125}) {
      std::vector<float> x = normal(rows * cols, 0.0f, 4.0f), dy = normal(rows * cols, 0.0f, 1.0f);
      // Masked entries (-inf), and the last row fully masked: it must come out as zeros.
      for (int64_t i = 0; i < rows * cols; i += 5) x[i] = -INFINITY;
      if (rows > 1)
        for (int64_t j = 0; j < cols; j++) x[(rows - 1) * cols + j] = -INFINITY;
      std::vector<double> ry, rdx;
      std::vector<float> ny, ndx;
      softmax_ref<double>(x, dy, rows, cols, scale, ry, rdx);
      softmax_ref<float>(x, dy, rows, cols, static_cast<float>(scale), ny, ndx);
      std::vector<float> y(rows * cols, kNaN), dx(rows * cols, kNaN);
      anvil_softmax_params p{addr(x.data()), addr(y.data()), addr(dy.data()), addr(dx.data()), rows, cols,
                             scale};
      expect_ok(anvil_cpu_softmax_fwd(&p), "softmax_fwd");
      expect_ok(anvil_cpu_softmax_bwd(&p), "softmax_bwd");
      char tag[80];
      std::snprintf(tag, sizeof tag, "softmax %lldx%lld scale %g", (long long)rows, (long long)cols, scale);
      compare(std::string(tag) + " y", y, ny, ry);
      compare(std::string(tag) + " dx", dx, ndx, rdx);
    }
  }
}

// ------------------------------------------------------------------------------------------- embedding
void check_embedding() {
  const int64_t cases[][3] = {{1, 1, 1}, {7, 5, 7}, {63, 7, 63}, {65, 127, 65}, {127, 3, 127},
                              {4000, 50, 768}};  // n, vocab, dim; few ids -> many repeats
  for (auto& c : cases) {
    const int64_t n = c[0], vocab = c[1], dim = c[2];
    std::vector<int32_t> ids(n);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(vocab - 1));
    for (auto& id : ids) id = pick(rng);
    std::vector<float> table = normal(vocab * dim, 0, 1), dout = normal(n * dim, 0, 1),
                       dtable0 = normal(vocab * dim, 0, 1), out(n * dim, kNaN), dtable = dtable0;
    anvil_embedding_params p{addr(ids.data()), addr(table.data()), addr(out.data()), addr(dout.data()),
                             addr(dtable.data()), n, vocab, dim};
    expect_ok(anvil_cpu_embedding_fwd(&p), "embedding_fwd");
    expect_ok(anvil_cpu_embedding_bwd(&p), "embedding_bwd");
    std::vector<double> rout(n * dim), rdt = as<double>(dtable0);
    std::vector<float> nout(n * dim), ndt = dtable0;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < dim; j++) {
        rout[i * dim + j] = nout[i * dim + j] = table[ids[i] * dim + j];
        rdt[ids[i] * dim + j] += dout[i * dim + j];
        ndt[ids[i] * dim + j] += dout[i * dim + j];
      }
    std::string tag = "embedding n=" + std::to_string(n) + " vocab=" + std::to_string(vocab) +
                      " dim=" + std::to_string(dim);
    compare(tag + " out", out, nout, rout);
    compare(tag + " dtable +=", dtable, ndt, rdt);
    // Token order is the summation order: the scatter-add equals the naive loop bit for bit.
    expect_true(std::memcmp(dtable.data(), ndt.data(), ndt.size() * 4) == 0,
                tag + ": scatter-add differs from the in-order sum");
    if (n == 4000) {
      expect_thread_independent(
          tag + " bwd", [&] { dtable = dtable0; anvil_cpu_embedding_bwd(&p); }, [&] { return dtable; });
    }
  }
  // An id outside [0, vocab): refused before anything is written.
  std::vector<int32_t> ids = {0, 2, 7, 1};
  std::vector<float> table(3 * 4, 1.0f), out(4 * 4, kNaN), dout(4 * 4, 1.0f), dtable(3 * 4, 0.0f);
  anvil_embedding_params p{addr(ids.data()), addr(table.data()), addr(out.data()), addr(dout.data()),
                           addr(dtable.data()), 4, 3, 4};
  for (int dir = 0; dir < 2; dir++) {
    ids[2] = dir == 0 ? 7 : -1;
    int code = dir == 0 ? anvil_cpu_embedding_fwd(&p) : anvil_cpu_embedding_bwd(&p);
    std::string message = anvil_last_error();
    bool untouched = std::isnan(out[0]) && dtable[0] == 0.0f;
    expect_true(code == ANVIL_E_INVALID && untouched &&
                    message.find((dir == 0 ? "id 7 at position 2" : "id -1 at position 2")) !=
                        std::string::npos,
                "embedding bad id refused: code " + std::to_string(code) + " '" + message + "'");
  }
  std::printf("ok   %-44s (%s)\n", "embedding bad id refused", anvil_last_error());
}

// --------------------------------------------------------------------------------------- cross_entropy
template <class R>
void cross_entropy_ref(const std::vector<float>& logits, const std::vector<int32_t>& targets, int64_t rows,
                       int64_t vocab, int64_t stride, int64_t ignore, R normalizer, R grad,
                       std::vector<R>& losses, std::vector<R>& loss, std::vector<R>& dlogits) {
  losses.assign(rows, 0);
  loss.assign(1, 0);
  dlogits.assign(rows * stride, 0);
  R total = 0;
  for (int64_t r = 0; r < rows; r++) {
    if (targets[r] == ignore) continue;
    const float* x = &logits[r * stride];
    R mx = -std::numeric_limits<R>::infinity(), sum = 0;
    for (int64_t j = 0; j < vocab; j++) mx = std::max(mx, R(x[j]));
    for (int64_t j = 0; j < vocab; j++) sum += std::exp(x[j] - mx);
    losses[r] = std::log(sum) + mx - x[targets[r]];
    total += losses[r];
    for (int64_t j = 0; j < vocab; j++)
      dlogits[r * stride + j] = (std::exp(x[j] - mx) / sum - (j == targets[r])) * grad / normalizer;
  }
  loss[0] = total / normalizer;
}

void check_cross_entropy() {
  const int64_t cases[][3] = {{1, 1, 1}, {7, 7, 16}, {63, 63, 63}, {65, 65, 80}, {127, 127, 127},
                              {5, 50257, 50304}, {64, 50257, 50304}};  // rows, vocab, row_stride
  const int64_t ignore = -100;
  for (auto& c : cases) {
    const int64_t rows = c[0], vocab = c[1], stride = c[2];
    std::vector<float> logits = normal(rows * stride, 0.0f, 3.0f);
    std::vector<int32_t> targets(rows);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(vocab - 1));
    for (int64_t r = 0; r < rows; r++) {
      targets[r] = pick(rng);
      for (int64_t j = vocab; j < stride; j++) logits[r * stride + j] = kNaN;  // padding is never read
    }
    if (rows > 2) {
      targets[1] = static_cast<int32_t>(ignore);
      logits[2 * stride + targets[2]] = 25.0f;  // a confident row: p_t - 1 is tiny
    }
    int64_t counted = 0;
    for (auto t : targets) counted += t != ignore;
    const double normalizer = counted + 3.0;  // as if other micro-batches held 3 more tokens
    const double grad = 0.75;
    std::vector<double> rl, rloss, rd;
    std::vector<float> nl, nloss, nd;
    cross_entropy_ref<double>(logits, targets, rows, vocab, stride, ignore, normalizer, grad, rl, rloss, rd);
    cross_entropy_ref<float>(logits, targets, rows, vocab, stride, ignore, static_cast<float>(normalizer),
                             static_cast<float>(grad), nl, nloss, nd);
    std::vector<float> losses(rows, kNaN), loss(1, kNaN), dlogits(rows * stride, kNaN);
    anvil_cross_entropy_params p{addr(logits.data()), addr(targets.data()), addr(losses.data()),
                                 addr(loss.data()), addr(dlogits.data()), rows, vocab, stride, ignore,
                                 normalizer, grad};
    expect_ok(anvil_cpu_cross_entropy_fwd(&p), "cross_entropy_fwd");
    expect_ok(anvil_cpu_cross_entropy_bwd(&p), "cross_entropy_bwd");
    char tag[80];
    std::snprintf(tag, sizeof tag, "cross_entropy %lldx%lld/%lld", (long long)rows, (long long)vocab,
                  (long long)stride);
    compare(std::string(tag) + " losses", losses, nl, rl);
    compare(std::string(tag) + " loss", loss, nloss, rloss);
    compare(std::string(tag) + " dlogits", dlogits, nd, rd);
    if (rows == 64) {
      expect_thread_independent(
          std::string(tag) + " fwd+bwd",
          [&] {
            anvil_cpu_cross_entropy_fwd(&p);
            anvil_cpu_cross_entropy_bwd(&p);
          },
          [&] {
            std::vector<float> all = dlogits;
            all.insert(all.end(), losses.begin(), losses.end());
            all.push_back(loss[0]);
            return all;
          });
    }
  }
  // A bad target (not ignore_index) is refused before anything is written.
  std::vector<float> logits(3 * 4, 0.0f), losses(3, kNaN), loss(1, kNaN), d(3 * 4, kNaN);
  std::vector<int32_t> targets = {0, 4, 1};
  anvil_cross_entropy_params p{addr(logits.data()), addr(targets.data()), addr(losses.data()), addr(loss.data()),
                               addr(d.data()), 3, 4, 4, -100, 3.0, 1.0};
  int fwd = anvil_cpu_cross_entropy_fwd(&p);
  std::string message = anvil_last_error();
  int bwd = anvil_cpu_cross_entropy_bwd(&p);
  expect_true(fwd == ANVIL_E_INVALID && bwd == ANVIL_E_INVALID && std::isnan(loss[0]) && std::isnan(d[0]) &&
                  message.find("target 4 at row 1") != std::string::npos,
              "cross_entropy bad target refused: '" + message + "'");
  std::printf("ok   %-44s (%s)\n", "cross_entropy bad target refused", message.c_str());
}

// ----------------------------------------------------------------------------------- adamw, grad_norm
struct AdamState {
  std::vector<std::vector<float>> p, g, m, v;
  std::vector<int64_t> decay;
};

AdamState adam_state(const std::vector<int64_t>& sizes) {
  AdamState s;
  for (size_t k = 0; k < sizes.size(); k++) {
    s.p.push_back(normal(sizes[k], 0, 1));
    s.g.push_back(normal(sizes[k], 0, 0.1f));
    s.m.push_back(normal(sizes[k], 0, 0.01f));
    std::vector<float> v = normal(sizes[k], 0, 1e-3f);
    for (auto& x : v) x = x * x;
    s.v.push_back(v);
    s.decay.push_back(k % 2);
  }
  return s;
}

int adam_call(AdamState& s, int64_t step, double lr, double wd, double scale) {
  std::vector<int64_t> ps, gs, ms, vs, sizes;
  for (size_t k = 0; k < s.p.size(); k++) {
    ps.push_back(addr(s.p[k].data()));
    gs.push_back(addr(s.g[k].data()));
    ms.push_back(addr(s.m[k].data()));
    vs.push_back(addr(s.v[k].data()));
    sizes.push_back(static_cast<int64_t>(s.p[k].size()));
  }
  anvil_adamw_params a{addr(ps.data()), addr(gs.data()), addr(ms.data()), addr(vs.data()), addr(sizes.data()),
                       addr(s.decay.data()), static_cast<int64_t>(s.p.size()), step, lr, 0.9, 0.95, 1e-8,
                       wd, scale};
  return anvil_cpu_adamw_fwd(&a);
}

template <class R>
void adam_ref(const AdamState& s, std::vector<std::vector<R>>& p, std::vector<std::vector<R>>& m,
              std::vector<std::vector<R>>& v, int64_t step, R lr, R wd, R scale) {
  const R b1 = R(0.9), b2 = R(0.95), eps = R(1e-8);
  for (size_t k = 0; k < p.size(); k++)
    for (size_t i = 0; i < p[k].size(); i++) {
      R g = s.g[k][i] * scale;
      m[k][i] = b1 * m[k][i] + (1 - b1) * g;
      v[k][i] = b2 * v[k][i] + (1 - b2) * g * g;
      if (s.decay[k]) p[k][i] -= lr * wd * p[k][i];
      p[k][i] -= lr * (m[k][i] / (1 - std::pow(b1, R(step)))) /
                 (std::sqrt(v[k][i] / (1 - std::pow(b2, R(step)))) + eps);
    }
}

void check_adamw() {
  const std::vector<int64_t> sizes = {1, 7, 0, 63, 65, 127, 100003};
  AdamState s = adam_state(sizes);
  auto widen = [](const std::vector<std::vector<float>>& x) {
    std::vector<std::vector<double>> r;
    for (auto& t : x) r.push_back(as<double>(t));
    return r;
  };
  auto rp = widen(s.p), rm = widen(s.m), rv = widen(s.v);
  auto np = s.p, nm = s.m, nv = s.v;
  const double lr = 3e-3, wd = 0.1, scale = 0.5;
  for (int64_t step = 1; step <= 3; step++) {
    expect_ok(adam_call(s, step, lr, wd, scale), "adamw step " + std::to_string(step));
    adam_ref<double>(s, rp, rm, rv, step, lr, wd, scale);
    adam_ref<float>(s, np, nm, nv, step, float(lr), float(wd), float(scale));
  }
  for (size_t k = 0; k < sizes.size(); k++) {
    std::string tag = "adamw 3 steps size " + std::to_string(sizes[k]) + (s.decay[k] ? " decay" : "");
    if (sizes[k] == 0) continue;
    compare(tag + " p", s.p[k], np[k], rp[k]);
    compare(tag + " m", s.m[k], nm[k], rm[k]);
    compare(tag + " v", s.v[k], nv[k], rv[k]);
  }
  expect_true(adam_call(s, 0, lr, wd, scale) == ANVIL_E_INVALID, "adamw step 0 refused");

  AdamState big = adam_state({300000, 5, 200001});
  const AdamState start = big;
  expect_thread_independent(
      "adamw 500006 params", [&] { big = start; adam_call(big, 7, lr, wd, scale); },
      [&] {
        std::vector<float> all;
        for (auto* set : {&big.p, &big.m, &big.v})
          for (auto& t : *set) all.insert(all.end(), t.begin(), t.end());
        return all;
      });
}

void check_grad_norm() {
  for (auto sizes : std::vector<std::vector<int64_t>>{{1}, {7, 0, 63}, {65, 127, 1 << 17, 300001}}) {
    std::vector<std::vector<float>> ts;
    std::vector<int64_t> addrs;
    double ref = 0;
    float naive = 0;
    for (int64_t n : sizes) {
      ts.push_back(normal(n, 0, 1e-3f));
      addrs.push_back(addr(ts.back().data()));
      for (float x : ts.back()) {
        ref += double(x) * x;
        naive += x * x;
      }
    }
    ref = std::sqrt(ref);
    double out = kNaN;
    anvil_grad_norm_params p{addr(addrs.data()), addr(sizes.data()), static_cast<int64_t>(sizes.size()),
                             addr(&out)};
    expect_ok(anvil_cpu_grad_norm_fwd(&p), "grad_norm");
    compare("grad_norm " + std::to_string(sizes.size()) + " tensors", {static_cast<float>(out)},
            {std::sqrt(naive)}, {ref});
    // fp64 accumulation: far tighter than fp32 can show.
    expect_true(std::fabs(out - ref) <= 1e-12 * ref, "grad_norm fp64 accuracy");
    if (sizes.size() == 4) {
      expect_thread_independent(
          "grad_norm 4 tensors", [&] { anvil_cpu_grad_norm_fwd(&p); },
          [&] {
            float bits[2];
            std::memcpy(bits, &out, 8);
            return std::vector<float>(bits, bits + 2);
          });
    }
  }
}

// ------------------------------------------------------------------------------------------------ bench
// The timings at GPT-2 small training sizes, or with the leading dimensions divided by `shrink` (the
// short timing after the checks: ~0.3 GB of buffers instead of 2.5 GB).
void bench(int reps, int64_t shrink) {
  std::printf("bench: %lld threads, GB/s counts each tensor read or written once, best of %d%s\n",
              (long long)anvil_cpu_get_threads(), reps, shrink > 1 ? " (shrunk sizes; --bench for full)" : "");
  {  // this machine's memory roofline: a streaming read + write of 2 x 256 MB
    const int64_t n = (1LL << 26) / shrink;
    std::vector<float> x(n, 1.0f), y(n);
    float* xs = x.data();
    float* ys = y.data();
    report("roofline y = 2x, n=" + std::to_string(n), 8.0 * n, seconds([&] {
#pragma omp parallel for schedule(static)
             for (int64_t i = 0; i < n; i++) ys[i] = 2.0f * xs[i];
           }, reps));
  }
  {  // GPT-2 small, B*T = 8*1024 tokens
    const int64_t rows = 8192 / shrink, cols = 768;
    std::vector<float> x = normal(rows * cols, 0, 1), w(cols, 1.0f), b(cols, 0.0f), y(rows * cols),
                       mean(rows), rstd(rows), dy = normal(rows * cols, 0, 1), dx(rows * cols), dw(cols),
                       db(cols);
    anvil_layernorm_params p{addr(x.data()), addr(w.data()), addr(b.data()), addr(y.data()),
                             addr(mean.data()), addr(rstd.data()), addr(dy.data()), addr(dx.data()),
                             addr(dw.data()), addr(db.data()), rows, cols, 1e-5};
    const double act = 4.0 * rows * cols;
    report("layernorm_fwd " + std::to_string(rows) + "x768", 2 * act, seconds([&] { anvil_cpu_layernorm_fwd(&p); }, reps));
    report("layernorm_bwd " + std::to_string(rows) + "x768", 3 * act, seconds([&] { anvil_cpu_layernorm_bwd(&p); }, reps));
  }
  {
    const int64_t n = 8192LL * 3072 / shrink;
    std::vector<float> x = normal(n, 0, 2), y(n), dy = normal(n, 0, 1), dx(n);
    for (int form : {1, 0}) {
      anvil_gelu_params p{addr(x.data()), addr(y.data()), addr(dy.data()), addr(dx.data()), n, form, 0};
      report(std::string(form ? "gelu_fwd tanh n=" : "gelu_fwd erf n=") + std::to_string(n), 8.0 * n,
             seconds([&] { anvil_cpu_gelu_fwd(&p); }, reps));
      report(std::string(form ? "gelu_bwd tanh n=" : "gelu_bwd erf n=") + std::to_string(n), 12.0 * n,
             seconds([&] { anvil_cpu_gelu_bwd(&p); }, reps));
    }
  }
  {  // attention-sized rows
    const int64_t rows = 8 * 12 * 256 / shrink, cols = 1024;
    std::vector<float> x = normal(rows * cols, 0, 2), y(rows * cols), dy = normal(rows * cols, 0, 1),
                       dx(rows * cols);
    anvil_softmax_params p{addr(x.data()), addr(y.data()), addr(dy.data()), addr(dx.data()), rows, cols, 0.125};
    report("softmax_fwd " + std::to_string(rows) + "x1024", 8.0 * rows * cols, seconds([&] { anvil_cpu_softmax_fwd(&p); }, reps));
    report("softmax_bwd " + std::to_string(rows) + "x1024", 12.0 * rows * cols, seconds([&] { anvil_cpu_softmax_bwd(&p); }, reps));
  }
  {
    const int64_t n = 8192 / shrink, vocab = 50304, dim = 768;
    std::vector<int32_t> ids(n);
    std::uniform_int_distribution<int32_t> pick(0, 50256);
    for (auto& id : ids) id = pick(rng);
    std::vector<float> table = normal(vocab * dim, 0, 1), out(n * dim), dout = normal(n * dim, 0, 1),
                       dtable(vocab * dim);
    anvil_embedding_params p{addr(ids.data()), addr(table.data()), addr(out.data()), addr(dout.data()),
                             addr(dtable.data()), n, vocab, dim};
    report("embedding_fwd " + std::to_string(n) + " of 50304x768", 8.0 * n * dim, seconds([&] { anvil_cpu_embedding_fwd(&p); }, reps));
    report("embedding_bwd " + std::to_string(n) + " of 50304x768", 12.0 * n * dim,
           seconds([&] { anvil_cpu_embedding_bwd(&p); }, reps));
  }
  {
    const int64_t rows = 1024 / shrink, vocab = 50257, stride = 50304;
    std::vector<float> logits = normal(rows * stride, 0, 3), losses(rows), loss(1), d(rows * stride);
    std::vector<int32_t> targets(rows, 17);
    anvil_cross_entropy_params p{addr(logits.data()), addr(targets.data()), addr(losses.data()),
                                 addr(loss.data()), addr(d.data()), rows, vocab, stride, -100, double(rows), 1.0};
    report("cross_entropy_fwd " + std::to_string(rows) + "x50257", 4.0 * rows * vocab,
           seconds([&] { anvil_cpu_cross_entropy_fwd(&p); }, reps));
    report("cross_entropy_bwd " + std::to_string(rows) + "x50257", 8.0 * rows * stride,
           seconds([&] { anvil_cpu_cross_entropy_bwd(&p); }, reps));
  }
  {  // GPT-2 small's 124M parameters as 4 tensors
    AdamState s = adam_state({38597376 / shrink, 38597376 / shrink, 38597376 / shrink, 8601600 / shrink});
    double n = 0;
    for (auto& t : s.p) n += static_cast<double>(t.size());
    report("adamw " + std::to_string(int64_t(n)) + " params", 28.0 * n, seconds([&] { adam_call(s, 5, 1e-4, 0.1, 1.0); }, reps));
    std::vector<int64_t> addrs, sizes;
    for (auto& g : s.g) {
      addrs.push_back(addr(g.data()));
      sizes.push_back(static_cast<int64_t>(g.size()));
    }
    double out;
    anvil_grad_norm_params p{addr(addrs.data()), addr(sizes.data()), 4, addr(&out)};
    report("grad_norm " + std::to_string(int64_t(n)), 4.0 * n, seconds([&] { anvil_cpu_grad_norm_fwd(&p); }, reps));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool bench_only = argc > 1 && std::strcmp(argv[1], "--bench") == 0;
  anvil_cpu_set_threads(2);
  if (bench_only) {
    if (argc > 2) anvil_cpu_set_threads(std::atoi(argv[2]));
    bench(10, 1);
    return 0;
  }
  check_gelu();
  check_layernorm();
  check_softmax();
  check_embedding();
  check_cross_entropy();
  check_adamw();
  check_grad_norm();
  std::printf("%d checks, %d failures\n", checks, failures);
  if (failures == 0) bench(3, 8);
  return failures == 0 ? 0 : 1;
}
