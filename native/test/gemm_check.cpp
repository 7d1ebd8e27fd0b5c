// gemm_check.cpp: the CPU GEMM's playground (llm.c dev/ style): validate, then benchmark.
//
//   gemm_check                 correctness: every kernel this CPU can run (avx512, avx2, generic) against
//                              an fp64 reference, on awkward sizes, all transposes, alpha/beta/bias,
//                              leading-dimension padding, 1 and 2 threads, nested parallel calls; then
//                              anvil_cpu_matmul_fwd/bwd through the C ABI with batching (strides, 0
//                              broadcast, folding) and every bwd flag. Exit status 1 on any failure.
//   gemm_check --bench [--openblas /path/libopenblas.so] [--kernel avx2|generic] [--threads N] [--quick]
//              [--filter TEXT]     (only the shapes whose note contains TEXT: "square", "tok", "decode")
//                              GFLOP/s of squares and transformer-step shapes in the three layouts, side
//                              by side with OpenBLAS's cblas_sgemm (dlopen'ed) when a path is given.
//
// Tolerance: a product of depth k in fp32 (any summation order, FMA or not) is within gamma_k * sum|a b|
// of the exact value, gamma_k = k u / (1 - k u), u = 2^-24. The check uses gamma_{k+2} over the
// magnitudes of every term (alpha, beta C, bias): a correct kernel cannot exceed it, a wrong index or
// a missed block exceeds it by orders of magnitude.
#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../cpu/gemm.h"
#include "anvil/anvil.h"

namespace {

using anvil::gemm::Isa;

int failures = 0;
int checks = 0;
std::mt19937_64 rng(20240607);

std::vector<float> random_vector(size_t n) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

void report(bool ok, const std::string& what) {
  ++checks;
  if (!ok) {
    ++failures;
    if (failures <= 30) std::printf("FAIL %s\n", what.c_str());
  }
}

// op(X)[r][c] for X stored row-major with leading dimension ld, transposed when trans.
inline double at(const float* x, int64_t ld, bool trans, int64_t r, int64_t c) {
  return trans ? x[c * ld + r] : x[r * ld + c];
}

// Compares got (m,n; ldc) with alpha op(A) op(B) + beta c0 + bias in fp64. Padding columns of each C row
// (ldc > n) must still hold c0's values.
bool compare(const char* tag, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
             const float* a, int64_t lda, const float* b, int64_t ldb, float beta, const float* c0,
             const float* got, int64_t ldc, const float* bias, std::string* why) {
  const double gamma = (k + 2) * std::ldexp(1.0, -24) / (1 - (k + 2) * std::ldexp(1.0, -24));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float g = got[i * ldc + j];
      if (j >= n) {
        if (std::memcmp(&g, &c0[i * ldc + j], sizeof(float)) != 0) {
          *why = std::string(tag) + ": wrote padding at row " + std::to_string(i) + " col " +
                 std::to_string(j);
          return false;
        }
        continue;
      }
      double exact = 0, magnitude = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double term = at(a, lda, ta, i, p) * at(b, ldb, tb, p, j);
        exact += term;
        magnitude += std::fabs(term);
      }
      exact *= alpha;
      magnitude *= std::fabs(alpha);
      if (beta != 0) {
        exact += beta * static_cast<double>(c0[i * ldc + j]);
        magnitude += std::fabs(beta * c0[i * ldc + j]);
      }
      if (bias) {
        exact += bias[j];
        magnitude += std::fabs(bias[j]);
      }
      const double err = std::fabs(g - exact);
      if (!(err <= gamma * magnitude + 1e-30)) {
        char buf[256];
        std::snprintf(buf, sizeof(buf), "%s: C[%lld][%lld] = %.9g, want %.9g (err %.3g > bound %.3g)", tag,
                      (long long)i, (long long)j, g, exact, err, gamma * magnitude);
        *why = buf;
        return false;
      }
    }
  }
  return true;
}

// One sgemm case: random operands with padded leading dimensions, C poisoned with NaN when beta == 0.
void check_sgemm(const char* isa, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, float beta,
                 bool with_bias, int pad, int threads) {
  const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
  const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
  auto a = random_vector(static_cast<size_t>(a_rows * lda));
  auto b = random_vector(static_cast<size_t>(b_rows * ldb));
  auto c0 = random_vector(static_cast<size_t>(m * ldc));
  auto bias = random_vector(static_cast<size_t>(n));
  if (beta == 0)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c0[i * ldc + j] = NAN;
  std::vector<float> c = c0;
  const int status = anvil::sgemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc,
                                  with_bias ? bias.data() : nullptr, threads);
  char tag[200];
  std::snprintf(tag, sizeof(tag),
                "sgemm[%s] %c%c m=%lld n=%lld k=%lld alpha=%g beta=%g bias=%d pad=%d threads=%d", isa,
                ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)m, (long long)n, (long long)k, alpha, beta,
                with_bias, pad, threads);
  std::string why = std::string(tag) + ": status " + std::to_string(status);
  report(status == ANVIL_OK && compare(tag, ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                                       c0.data(), c.data(), ldc, with_bias ? bias.data() : nullptr, &why),
         why);
}

void check_kernel(Isa isa, const char* name) {
  if (!anvil::gemm::force(isa)) {
    std::printf("skip %s: this CPU lacks it\n", name);
    return;
  }
  report(std::strcmp(anvil_cpu_gemm_kernel(), name) == 0, std::string("forced kernel is not ") + name);
  const int before = failures;
  const int64_t sizes[] = {1, 7, 63, 65, 127, 129, 300};
  int index = 0;
  for (int t = 0; t < 4; ++t)
    for (int64_t m : sizes)
      for (int64_t n : sizes)
        for (int64_t k : sizes) {
          // Vary the epilogue and padding deterministically over the cases.
          const int v = index++;
          const float alpha = v % 5 == 0 ? 0.5f : 1.0f;
          const float beta = v % 3 == 0 ? 1.0f : (v % 7 == 1 ? -0.25f : 0.0f);
          const int pad = v % 4 == 3 ? 5 : 0, threads = v % 2 ? 1 : 2;
          check_sgemm(name, t & 1, t & 2, m, n, k, alpha, beta, v % 2 == 0, pad, threads);
        }
  // Past the column block (NC = 2048), k == 0, alpha == 0, and deep products across several KC blocks.
  for (int t = 0; t < 4; ++t) {
    check_sgemm(name, t & 1, t & 2, 33, 2100, 40, 1.0f, 1.0f, true, 1, 2);
    check_sgemm(name, t & 1, t & 2, 9, 17, 0, 1.0f, 1.0f, true, 0, 1);
    check_sgemm(name, t & 1, t & 2, 9, 17, 0, 1.0f, 0.0f, false, 0, 1);
    check_sgemm(name, t & 1, t & 2, 20, 40, 30, 0.0f, 0.5f, true, 0, 1);
    check_sgemm(name, t & 1, t & 2, 70, 50, 1100, 1.0f, 0.0f, false, 3, 2);
    // Few row slivers: the team splits the columns too; and more threads than cores.
    check_sgemm(name, t & 1, t & 2, 7, 2100, 300, 1.0f, 0.0f, true, 0, 2);
    check_sgemm(name, t & 1, t & 2, 29, 700, 400, 1.0f, 1.0f, false, 2, 3);
    check_sgemm(name, t & 1, t & 2, 300, 300, 300, 1.0f, 0.0f, true, 0, 3);
  }
  // Few rows against B stored (n,k): the dot-product path, every depth tail.
  for (int64_t m : {2, 3, 4})
    for (int64_t n : {1, 5, 33})
      for (int64_t k : {1, 16, 17, 300})
        for (int ta = 0; ta < 2; ++ta)
          check_sgemm(name, ta, true, m, n, k, 0.5f, m == 3 ? 1.0f : 0.0f, n != 5, 2, 1);
  // Called from inside a parallel region (attention's use): each call must stay on its thread.
  bool nested_ok = true;
#pragma omp parallel for num_threads(2) reduction(&& : nested_ok)
  for (int r = 0; r < 4; ++r) {
    const int64_t m = 65, n = 129, k = 63;
    std::vector<float> a(m * k), b(k * n), c(m * n, NAN);
    for (int64_t i = 0; i < m * k; ++i) a[i] = static_cast<float>((i * 7 + r) % 13) - 6;
    for (int64_t i = 0; i < k * n; ++i) b[i] = static_cast<float>((i * 5 + r) % 11) - 5;
    anvil::sgemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    for (int64_t i = 0; i < m && nested_ok; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double want = 0;
        for (int64_t p = 0; p < k; ++p) want += a[i * k + p] * b[p * n + j];
        if (c[i * n + j] != want) nested_ok = false;  // small integers: exact in fp32
      }
  }
  report(nested_ok, std::string("sgemm[") + name + "] called inside an omp parallel region");
  std::printf("%-8s sgemm: %s\n", name, failures == before ? "ok" : "FAILED");
}

// ---- C ABI: batched fwd and bwd against fp64 references built from the definitions ----

struct Case {
  int64_t batch, m, n, k;
  bool ta, tb;
  int64_t stride_a, stride_b, stride_c;  // in units of one matrix; 0 broadcasts
};

double bound(int64_t depth, double magnitude) {
  const double u = std::ldexp(1.0, -24);
  return (depth + 2) * u / (1 - (depth + 2) * u) * magnitude + 1e-30;
}

bool close_all(const char* what, const std::vector<float>& got, const std::vector<double>& want,
               const std::vector<double>& magnitude, int64_t depth, std::string* why) {
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= bound(depth, magnitude[i]))) {
      char buf[200];
      std::snprintf(buf, sizeof(buf), "%s[%zu] = %.9g, want %.9g", what, i, got[i], want[i]);
      *why = buf;
      return false;
    }
  }
  return true;
}

void check_abi(const Case& cs, float alpha, bool bias_on, bool accumulate, bool acc_da, bool acc_db,
               bool want_da, bool want_db, bool want_dbias) {
  const int64_t B = cs.batch, m = cs.m, n = cs.n, k = cs.k;
  const int64_t a_size = m * k, b_size = k * n, c_size = m * n;
  const int64_t sa = cs.stride_a * a_size, sb = cs.stride_b * b_size, sc = cs.stride_c * c_size;
  const int64_t a_items = cs.stride_a ? B : 1, b_items = cs.stride_b ? B : 1;
  auto a = random_vector(a_items * a_size), b = random_vector(b_items * b_size);
  auto bias = random_vector(n), c0 = random_vector(B * c_size), dc = random_vector(B * c_size);
  auto da0 = random_vector(a_items * a_size), db0 = random_vector(b_items * b_size);
  auto dbias0 = random_vector(n);
  std::vector<float> c = c0, da = da0, db = db0, dbias = dbias0;
  if (!accumulate) std::fill(c.begin(), c.end(), NAN);
  if (!acc_da) std::fill(da.begin(), da.end(), NAN);
  if (!acc_db) std::fill(db.begin(), db.end(), NAN);
  const std::vector<float> da_before = da, db_before = db;
  const int64_t lda = cs.ta ? m : k, ldb = cs.tb ? k : n;

  anvil_matmul_params p{};
  p.a = reinterpret_cast<int64_t>(a.data());
  p.b = reinterpret_cast<int64_t>(b.data());
  p.c = reinterpret_cast<int64_t>(c.data());
  p.bias = bias_on ? reinterpret_cast<int64_t>(bias.data()) : 0;
  p.dc = reinterpret_cast<int64_t>(dc.data());
  p.da = want_da ? reinterpret_cast<int64_t>(da.data()) : 0;
  p.db = want_db ? reinterpret_cast<int64_t>(db.data()) : 0;
  p.dbias = want_dbias ? reinterpret_cast<int64_t>(dbias.data()) : 0;
  p.batch = B, p.m = m, p.n = n, p.k = k, p.trans_a = cs.ta, p.trans_b = cs.tb;
  p.stride_a = sa, p.stride_b = sb, p.stride_c = sc;
  p.accumulate = accumulate, p.accumulate_da = acc_da, p.accumulate_db = acc_db;
  p.alpha = alpha;

  char tag[200];
  std::snprintf(tag, sizeof(tag),
                "matmul B=%lld m=%lld n=%lld k=%lld %c%c strides=%lld/%lld/%lld alpha=%g bias=%d "
                "acc=%d%d%d want=%d%d%d",
                (long long)B, (long long)m, (long long)n, (long long)k, cs.ta ? 'T' : 'N', cs.tb ? 'T' : 'N',
                (long long)cs.stride_a, (long long)cs.stride_b, (long long)cs.stride_c, alpha, bias_on,
                accumulate, acc_da, acc_db, want_da, want_db, want_dbias);

  // References. Forward: C[i] = alpha Ahat Bhat + bias (+ c0). Backward sums over the batch items
  // that share a broadcast input.
  std::vector<double> wc(B * c_size), mc(B * c_size);
  std::vector<double> wda(a_items * a_size), mda(a_items * a_size);
  std::vector<double> wdb(b_items * b_size), mdb(b_items * b_size);
  std::vector<double> wdbias(n), mdbias(n);
  for (size_t i = 0; i < wda.size(); ++i) wda[i] = acc_da ? da0[i] : 0, mda[i] = std::fabs(wda[i]);
  for (size_t i = 0; i < wdb.size(); ++i) wdb[i] = acc_db ? db0[i] : 0, mdb[i] = std::fabs(wdb[i]);
  for (int64_t j = 0; j < n; ++j) wdbias[j] = dbias0[j], mdbias[j] = std::fabs(dbias0[j]);
  for (int64_t bi = 0; bi < B; ++bi) {
    const float* A = a.data() + (cs.stride_a ? bi * a_size : 0);
    const float* Bm = b.data() + (cs.stride_b ? bi * b_size : 0);
    const float* C0 = c0.data() + bi * c_size;
    const float* dC = dc.data() + bi * c_size;
    const int64_t ao = cs.stride_a ? bi * a_size : 0, bo = cs.stride_b ? bi * b_size : 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, mag = 0;
        for (int64_t q = 0; q < k; ++q) {
          const double t = at(A, lda, cs.ta, i, q) * at(Bm, ldb, cs.tb, q, j);
          s += t, mag += std::fabs(t);
        }
        s *= alpha, mag *= std::fabs(alpha);
        if (bias_on) s += bias[j], mag += std::fabs(bias[j]);
        if (accumulate) s += C0[i * n + j], mag += std::fabs(C0[i * n + j]);
        wc[bi * c_size + i * n + j] = s, mc[bi * c_size + i * n + j] = mag;
      }
    // dAhat (m,k) = alpha dC Bhat^T, stored at A's layout position.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t q = 0; q < k; ++q) {
        double s = 0, mag = 0;
        for (int64_t j = 0; j < n; ++j) {
          const double t = dC[i * n + j] * at(Bm, ldb, cs.tb, q, j);
          s += t, mag += std::fabs(t);
        }
        const int64_t pos = ao + (cs.ta ? q * m + i : i * k + q);
        wda[pos] += alpha * s, mda[pos] += std::fabs(alpha) * mag;
      }
    // dBhat (k,n) = alpha Ahat^T dC, stored at B's layout position.
    for (int64_t q = 0; q < k; ++q)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, mag = 0;
        for (int64_t i = 0; i < m; ++i) {
          const double t = at(A, lda, cs.ta, i, q) * dC[i * n + j];
          s += t, mag += std::fabs(t);
        }
        const int64_t pos = bo + (cs.tb ? j * k + q : q * n + j);
        wdb[pos] += alpha * s, mdb[pos] += std::fabs(alpha) * mag;
      }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) wdbias[j] += dC[i * n + j], mdbias[j] += std::fabs(dC[i * n + j]);
  }

  std::string why = std::string(tag) + ": fwd status";
  const int fwd = anvil_cpu_matmul_fwd(&p);
  report(fwd == ANVIL_OK && close_all((std::string(tag) + " C").c_str(), c, wc, mc, k, &why), why);
  why = std::string(tag) + ": bwd status " + anvil_last_error();
  const int bwd = anvil_cpu_matmul_bwd(&p);
  bool ok = bwd == ANVIL_OK;
  // A broadcast input's gradient sums over the batch: its depth is batch * the per-item depth.
  if (ok && want_da) ok = close_all((std::string(tag) + " da").c_str(), da, wda, mda, n * B, &why);
  else if (ok && std::memcmp(da.data(), da_before.data(), da.size() * sizeof(float)) != 0)
    ok = false, why = std::string(tag) + ": da written though not wanted";
  if (ok && want_db) ok = close_all((std::string(tag) + " db").c_str(), db, wdb, mdb, m * B, &why);
  else if (ok && std::memcmp(db.data(), db_before.data(), db.size() * sizeof(float)) != 0)
    ok = false, why = std::string(tag) + ": db written though not wanted";
  if (ok && want_dbias)
    ok = close_all((std::string(tag) + " dbias").c_str(), dbias, wdbias, mdbias, m * B, &why);
  else if (ok && !want_dbias && dbias != dbias0) ok = false, why = std::string(tag) + ": dbias changed";
  report(ok, why);
}

void check_abi_all() {
  const int before = failures;
  const Case cases[] = {
      {1, 7, 65, 63, false, false, 1, 1, 1},   {1, 129, 7, 65, false, true, 1, 1, 1},
      {1, 63, 127, 7, true, false, 1, 1, 1},   {1, 65, 63, 129, true, true, 1, 1, 1},
      {1, 1, 1, 1, false, false, 1, 1, 1},     {3, 65, 63, 7, false, false, 1, 1, 1},
      {4, 63, 7, 65, false, true, 1, 1, 1},    {3, 7, 65, 63, true, true, 1, 1, 1},
      {3, 64, 65, 63, false, true, 1, 0, 1},   {5, 7, 129, 65, false, false, 1, 0, 1},   // folded Linear
      {3, 65, 63, 7, true, false, 1, 0, 1},    {3, 65, 63, 7, true, true, 1, 0, 1},      // B broadcast
      {4, 63, 65, 7, false, false, 0, 1, 1},   {2, 65, 7, 63, true, true, 0, 1, 1},      // A broadcast
      {3, 300, 129, 65, false, true, 1, 0, 1}, {2, 127, 300, 129, false, false, 1, 1, 1},
  };
  int v = 0;
  for (const Case& cs : cases)
    for (int flags = 0; flags < 8; ++flags, ++v) {
      const bool accumulate = flags & 1, acc_da = flags & 2, acc_db = flags & 4;
      check_abi(cs, v % 3 == 0 ? 0.5f : 1.0f, v % 2 == 0, accumulate, acc_da, acc_db, v % 5 != 1, v % 5 != 2,
                v % 5 != 3);
    }
  // Refusals instead of crashes.
  anvil_matmul_params p{};
  p.batch = 0, p.m = 1, p.n = 1, p.k = 1;
  report(anvil_cpu_matmul_fwd(&p) == ANVIL_E_INVALID, "batch 0 must be refused");
  std::printf("matmul C ABI (fwd/bwd, kernel %s, %lld threads): %s\n", anvil_cpu_gemm_kernel(),
              (long long)anvil_cpu_get_threads(), failures == before ? "ok" : "FAILED");
}

// ---- benchmark ----

using cblas_sgemm_fn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                                float, float*, int);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

// Calls per timing so that one timing lasts about `seconds`.
int calls_for(const std::function<void()>& fn, double seconds) {
  fn();  // warm up: packing buffers, thread team
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::max(1, static_cast<int>(seconds / std::max(dt, 1e-7)));
}

// Seconds per call. With one thread, the calling thread's CPU time: time slices lost to other
// processes on a shared machine do not count. With more, wall time.
double time_calls(const std::function<void()>& fn, int calls) {
  const bool cpu_time = omp_get_max_threads() == 1;
  timespec t0, t1;
  const auto w0 = std::chrono::steady_clock::now();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  for (int r = 0; r < calls; ++r) fn();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  if (cpu_time) return ((t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec)) / calls;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count() / calls;
}

// Best of several timings of each contender: the minimum is the least disturbed estimate on a shared
// machine. The two run in separate rounds with a pause between, so that neither library's idle
// threads (both spin a while before sleeping) steal the cores from the other.
void best_times(const std::function<void()>& x, const std::function<void()>* y, double budget, double* tx,
                double* ty) {
  const int trials = 7;
  *tx = 1e30, *ty = 1e30;
  const int nx = calls_for(x, budget / trials);
  for (int t = 0; t < trials; ++t) *tx = std::min(*tx, time_calls(x, nx));
  if (!y) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int ny = calls_for(*y, budget / trials);
  for (int t = 0; t < trials; ++t) *ty = std::min(*ty, time_calls(*y, ny));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

void bench(cblas_sgemm_fn openblas, bool quick, const std::string& filter) {
  struct Shape {
    int64_t m, n, k;
    const char* note;
  };
  std::vector<Shape> shapes = {{256, 256, 256, "square"},  {512, 512, 512, "square"},
                               {1024, 1024, 1024, "square"}, {2048, 2048, 2048, "square"},
                               {768, 384, 128, "12x64 tok, qkv"},
                               {768, 128, 128, "12x64 tok, proj"}, {768, 512, 128, "12x64 tok, fc"},
                               {768, 128, 512, "12x64 tok, fc2"}, {4096, 1152, 384, "4096 tok, qkv"},
                               {4096, 384, 384, "4096 tok, proj"}, {4096, 1536, 384, "4096 tok, fc"},
                               {4096, 384, 1536, "4096 tok, fc2"},  {1, 1152, 384, "decode qkv"},
                               {1, 50304, 384, "decode lm head"},   {4, 1536, 384, "decode x4 fc"}};
  if (quick) shapes.resize(5);
  if (!filter.empty())
    shapes.erase(std::remove_if(shapes.begin(), shapes.end(),
                                [&](const Shape& s) { return !std::strstr(s.note, filter.c_str()); }),
                 shapes.end());
  std::printf("\n%-16s %-6s %5s %5s %5s %9s %9s %6s   (%s, %d threads)\n", "shape", "layout", "m", "n", "k",
              "anvil", "openblas", "ratio", anvil_cpu_gemm_kernel(), omp_get_max_threads());
  for (const Shape& s : shapes)
    for (int layout = 0; layout < 3; ++layout) {
      if (s.m < 14 && layout != 1) continue;  // decoding shapes: Linear (NT) only
      // NT: x @ W^T (Linear forward); NN: dy @ W (its input gradient); TN: dy^T @ x (its weight grad).
      const bool ta = layout == 2, tb = layout == 1;
      const int64_t m = s.m, n = s.n, k = s.k;
      auto a = random_vector(m * k), b = random_vector(k * n);
      std::vector<float> c(m * n);
      const int64_t lda = ta ? m : k, ldb = tb ? k : n;
      const double flops = 2.0 * m * n * k;
      const double budget = quick ? 0.3 : 1.0;
      const std::function<void()> anvil_call = [&] {
        anvil::sgemm(ta, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), n);
      };
      const std::function<void()> blas_call = [&] {
        openblas(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, m, n, k, 1.0f, a.data(), lda,
                 b.data(), ldb, 0.0f, c.data(), n);
      };
      double t_anvil, t_blas;
      best_times(anvil_call, openblas ? &blas_call : nullptr, budget, &t_anvil, &t_blas);
      if (!openblas) t_blas = 0;
      const char* names[] = {"NN", "NT", "TN"};
      std::printf("%-16s %-6s %5lld %5lld %5lld %9.1f %9.1f %6.2f\n", s.note, names[layout], (long long)m,
                  (long long)n, (long long)k, flops / t_anvil * 1e-9, t_blas ? flops / t_blas * 1e-9 : 0.0,
                  t_blas ? t_blas / t_anvil : 0.0);
    }
}

}  // namespace

int main(int argc, char** argv) {
  bool bench_mode = false, quick = false;
  std::string filter;
  const char* openblas_path = nullptr;
  Isa isa = Isa::best;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--bench") bench_mode = true;
    else if (arg == "--quick") quick = true;
    else if (arg == "--openblas" && i + 1 < argc) openblas_path = argv[++i];
    else if (arg == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (arg == "--threads" && i + 1 < argc) omp_set_num_threads(std::atoi(argv[++i]));
    else if (arg == "--kernel" && i + 1 < argc) {
      const std::string name = argv[++i];
      isa = name == "avx512"    ? Isa::avx512
            : name == "avx2"    ? Isa::avx2
            : name == "generic" ? Isa::generic
                                : Isa::best;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--bench [--quick] [--filter TEXT] [--threads N] [--openblas LIB]"
                   " [--kernel avx512|avx2|generic]]\n",
                   argv[0]);
      return 2;
    }
  }
  if (bench_mode) {
    cblas_sgemm_fn openblas = nullptr;
    if (openblas_path) {
      void* lib = dlopen(openblas_path, RTLD_NOW | RTLD_LOCAL);
      if (!lib) {
        std::fprintf(stderr, "cannot load %s: %s\n", openblas_path, dlerror());
        return 2;
      }
      openblas = reinterpret_cast<cblas_sgemm_fn>(dlsym(lib, "cblas_sgemm"));
      using set_threads_fn = void (*)(int);
      if (auto set = reinterpret_cast<set_threads_fn>(dlsym(lib, "openblas_set_num_threads")))
        set(omp_get_max_threads());
    }
    if (!anvil::gemm::force(isa)) {
      std::fprintf(stderr, "this CPU cannot run that kernel\n");
      return 2;
    }
    bench(openblas, quick, filter);
    return 0;
  }
  check_kernel(Isa::avx512, "avx512");
  check_kernel(Isa::avx2, "avx2");
  check_kernel(Isa::generic, "generic");
  anvil::gemm::force(Isa::best);
  for (int threads : {1, 2}) {
    anvil_cpu_set_threads(threads);
    check_abi_all();
  }
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
