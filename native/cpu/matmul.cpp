// matmul.cpp: batched fp32 matrix product, forward and backward, over the blocked kernels of
// gemm_{avx512,avx2,generic}.cpp, plus sgemm() (gemm.h): run-time kernel choice and threading.
//
//   fwd: C[b] (m,n) = alpha * op(A[b]) (m,k) @ op(B[b]) (k,n) + bias (n)  [+ C[b] when accumulate]
//        op(A) = A stored (m,k), or A^T of A stored (k,m) when trans_a; op(B) likewise, (k,n) or (n,k).
//   bwd: da (A's storage; =, or += when accumulate_da) = alpha * dC op(B)^T, transposed when trans_a
//        db (B's storage; +=, or = when !accumulate_db) = alpha * op(A)^T dC, transposed when trans_b
//        dbias (n) += column sums of dC over every row of every batch item (bias is not scaled)
//   alpha enters da and db because it scales the forward product (with alpha = 1, the usual case,
//   these are exactly anvil.h's formulas). A batch stride of 0 broadcasts an input in fwd, and makes
//   the matching gradient a sum over the batch.
//
// Every backward product is one more sgemm with the transposes chosen so that the result lands in the
// stored layout:  da: (m,k) = dC (m,n) . op(B)^T,   or (k,m) = op(B) (k,n) . dC^T
//                 db: (k,n) = op(A)^T (k,m) . dC,   or (n,k) = dC^T (n,m) . op(A)
// A Linear on (batch, T, in) activations with a shared weight (stride_b = 0, rows stored contiguously)
// folds the batch into the rows: one product of batch*m rows instead of batch small ones.
//
// GELU epilogue (gelu = 1, anvil.h): fwd runs the product into pre (or into C when pre is 0), then
// anvil_cpu_gelu_fwd from there into C; bwd computes dpre = dC * gelu'(pre) with anvil_cpu_gelu_bwd into
// scratch and runs the plain backward on it. These are the very calls the unfused composition (matmul,
// then the gelu op) makes on the same fp32 values, so the results are bit-identical to it.
#include <atomic>
#include <cstdlib>
#include <vector>

#include "common.h"
#include "gemm.h"
#include "parallel.h"

ANVIL_PARAMS_CHECK(anvil_matmul_params, ANVIL_MATMUL_SLOTS);

namespace anvil {
namespace gemm {
namespace {

bool cpu_has(Isa isa) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2");
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return true;
  }
#else
  return isa == Isa::generic || isa == Isa::best;
#endif
}

const Kernel* best_kernel() {
  if (cpu_has(Isa::avx512)) return &avx512_kernel;
  if (cpu_has(Isa::avx2)) return &avx2_kernel;
  return &generic_kernel;
}

std::atomic<const Kernel*> forced{nullptr};

// Below this many flops per thread a product runs on fewer threads: an OpenMP fork/join costs a few
// microseconds, about what one core does in 2 MFLOP.
constexpr double kFlopsPerThread = 2.0 * (1 << 20);

// 64-byte aligned scratch for the packed B panel, one per calling thread, grown on demand and kept for
// the thread's life.
float* thread_panel(int64_t floats) {
  struct Buffer {
    float* data = nullptr;
    int64_t floats = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffer;
  if (buffer.floats < floats) {
    std::free(buffer.data);
    const size_t bytes = (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64;
    buffer.data = static_cast<float*>(std::aligned_alloc(64, bytes));
    buffer.floats = buffer.data ? floats : 0;
  }
  return buffer.data;
}

int run_here(const Kernel& kernel, const Args& args) {
  float* panel = thread_panel(kernel.panel_floats);
  if (!panel) return ANVIL_E_NOMEM;
  kernel.run(args, panel);
  return ANVIL_OK;
}

int64_t ceil_div(int64_t x, int64_t y) { return (x + y - 1) / y; }

// Splits C into a grid of rows x cols = threads blocks of whole micro-tiles, each computed by one thread
// with no synchronization until the end (a barrier per block would stall the whole team each time the
// OS lends one of its cores to another process). Per-thread cost model: the block's tile area
// (compute) plus 16x its perimeter (each thread packs its own rows of A and columns of B; packing one
// element costs about what 16 of its FMAs do).
int grid_rows(const Kernel& kernel, int64_t m, int64_t n, int threads) {
  int best = 1;
  double best_cost = 0;
  for (int rows = 1; rows <= threads; ++rows) {
    if (threads % rows) continue;
    const int cols = threads / rows;
    const double mi = static_cast<double>(ceil_div(ceil_div(m, kernel.mr), rows) * kernel.mr);
    const double ni = static_cast<double>(ceil_div(ceil_div(n, kernel.nr), cols) * kernel.nr);
    const double cost = mi * ni + 16.0 * (mi + ni);
    if (rows == 1 || cost < best_cost) best = rows, best_cost = cost;
  }
  return best;
}

// [begin, end) of part `index` of `count` when `total` is cut in whole units of `unit`.
void split(int64_t total, int64_t unit, int count, int index, int64_t* begin, int64_t* end) {
  const int64_t units = ceil_div(total, unit);
  *begin = units * index / count * unit;
  *end = units * (index + 1) / count * unit;
  if (*begin > total) *begin = total;
  if (*end > total) *end = total;
}

}  // namespace

const Kernel& active() {
  static const Kernel* const best = best_kernel();
  const Kernel* kernel = forced.load(std::memory_order_relaxed);
  return kernel ? *kernel : *best;
}

bool force(Isa isa) {
  if (!cpu_has(isa)) return false;
  switch (isa) {
    case Isa::avx512: forced = &avx512_kernel; break;
    case Isa::avx2: forced = &avx2_kernel; break;
    case Isa::generic: forced = &generic_kernel; break;
    case Isa::best: forced = nullptr; break;
  }
  return true;
}

}  // namespace gemm

int sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias,
          int threads) {
  using namespace gemm;
  if (m <= 0 || n <= 0) return ANVIL_OK;
  const Kernel& kernel = active();
  const Args args{trans_a, trans_b, m, n, k, alpha, beta, a, lda, b, ldb, c, ldc, bias};

  int team = threads > 0 ? threads : max_threads();
  if (max_threads() == 1) team = 1;  // inside a task: no nesting
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const double by_work = flops / kFlopsPerThread;
  if (by_work < team) team = by_work < 1 ? 1 : static_cast<int>(by_work);

  const int64_t tiles = ceil_div(m, kernel.mr) * ceil_div(n, kernel.nr);
  if (tiles < team) team = static_cast<int>(tiles);

  std::atomic<int> status{ANVIL_OK};
  if (team <= 1) {
    status = run_here(kernel, args);
  } else {
    // One block of C per task, on a rows x cols grid of `team` blocks. Whoever claims a block computes
    // it (parallel.h): the values do not depend on the thread.
    const int rows = grid_rows(kernel, m, n, team);
    const int cols = team / rows;
    parallel_tasks(team, team, [&](int64_t task, int) {
      int64_t i0, i1, j0, j1;
      split(m, kernel.mr, rows, static_cast<int>(task / cols), &i0, &i1);
      split(n, kernel.nr, cols, static_cast<int>(task % cols), &j0, &j1);
      if (i0 < i1 && j0 < j1) {
        Args part = args;
        part.m = i1 - i0;
        part.n = j1 - j0;
        part.a = trans_a ? a + i0 : a + i0 * lda;
        part.b = trans_b ? b + j0 * ldb : b + j0;
        part.c = c + i0 * ldc + j0;
        part.bias = bias ? bias + j0 : nullptr;
        if (run_here(kernel, part) != ANVIL_OK) status = ANVIL_E_NOMEM;
      }
    });
  }
  if (status != ANVIL_OK)
    return fail(ANVIL_E_NOMEM, "sgemm: no memory for %lld floats of packing scratch",
                (long long)kernel.panel_floats);
  return ANVIL_OK;
}

}  // namespace anvil

using namespace anvil;

namespace {

// One sgemm per batch item: item i reads a + i*stride_a, b + i*stride_b and writes c + i*stride_c.
// An output with stride 0 (a broadcast input's gradient) sums over the batch: items after the first
// add (beta 1) and run in order. Otherwise independent items run in parallel, one thread each, when
// there are enough of them to share the threads out evenly.
int batched(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
            const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b,
            float beta, float* c, int64_t ldc, int64_t stride_c, const float* bias) {
  if (batch == 1)
    return sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias);
  const int threads = max_threads();
  const double item_flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const bool by_item = stride_c != 0 && threads > 1 && batch >= threads &&
                       (batch % threads == 0 || batch >= 4 * threads || item_flops < 4e6 * threads);
  if (!by_item) {
    for (int64_t i = 0; i < batch; ++i) {
      const float item_beta = stride_c == 0 && i > 0 ? 1.0f : beta;
      const int status = sgemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b,
                               ldb, item_beta, c + i * stride_c, ldc, bias);
      if (status) return status;
    }
    return ANVIL_OK;
  }
  std::atomic<int> status{ANVIL_OK};
  parallel_tasks(batch, threads, [&](int64_t i, int) {
    const int code = sgemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb,
                           beta, c + i * stride_c, ldc, bias, 1);
    if (code) status = code;
  });
  if (status != ANVIL_OK) return fail(status, "matmul: no memory for packing scratch");
  return ANVIL_OK;
}

// True when a Linear-style batch (shared B, A and C rows stacked contiguously) can run as one product
// of batch*m rows.
bool folds(const anvil_matmul_params* p) {
  return p->batch > 1 && p->stride_b == 0 && !p->trans_a && p->stride_a == p->m * p->k &&
         p->stride_c == p->m * p->n;
}

ANVIL_MULTIVERSION
void add_row(double* sums, const float* row, int64_t n) {
  for (int64_t j = 0; j < n; ++j) sums[j] += row[j];
}

// dbias (n) += sums over the rows of dC[i] (m,n) for every batch item i. fp64 partial sums per part
// (one part per thread), combined in part order.
void add_column_sums(const float* dc, int64_t batch, int64_t stride, int64_t m, int64_t n, float* dbias) {
  const int64_t rows = batch * m;
  const int threads = rows * n > (1 << 16) ? max_threads() : 1;
  std::vector<double> partial(static_cast<size_t>(threads * n), 0.0);
  parallel_tasks(threads, threads, [&](int64_t id, int) {
    for (int64_t r = rows * id / threads; r < rows * (id + 1) / threads; ++r)
      add_row(partial.data() + id * n, dc + (r / m) * stride + (r % m) * n, n);
  });
  for (int t = 1; t < threads; ++t)
    for (int64_t j = 0; j < n; ++j) partial[j] += partial[t * n + j];
  for (int64_t j = 0; j < n; ++j) dbias[j] += static_cast<float>(partial[j]);
}

int check(const anvil_matmul_params* p, const char* op) {
  if (p->batch < 1 || p->m < 0 || p->n < 0 || p->k < 0)
    return fail(ANVIL_E_INVALID, "%s: bad sizes batch=%lld m=%lld n=%lld k=%lld", op, (long long)p->batch,
                (long long)p->m, (long long)p->n, (long long)p->k);
  return ANVIL_OK;
}

}  // namespace

extern "C" const char* anvil_cpu_gemm_kernel(void) { return gemm::active().name; }

// C[b] (m,n) = alpha * op(A[b]) (m,k) @ op(B[b]) (k,n) + bias (n) [+ C[b]]
static int plain_fwd(const anvil_matmul_params* p) {
  if (p->batch > 1 && p->stride_c == 0)
    return fail(ANVIL_E_INVALID, "matmul_fwd: stride_c 0 would write every batch item to one C");
  if (!p->c || (p->m * p->n * p->k > 0 && (!p->a || !p->b)))
    return fail(ANVIL_E_INVALID, "matmul_fwd: null a, b or c");
  const int64_t m = p->m, n = p->n, k = p->k;
  const int64_t lda = p->trans_a ? m : k, ldb = p->trans_b ? k : n;
  const float alpha = static_cast<float>(p->alpha), beta = p->accumulate ? 1.0f : 0.0f;
  const float* a = ptr<const float>(p->a);
  const float* b = ptr<const float>(p->b);
  const float* bias = ptr<const float>(p->bias);
  float* c = ptr<float>(p->c);
  if (folds(p))
    return sgemm(false, p->trans_b != 0, p->batch * m, n, k, alpha, a, lda, b, ldb, beta, c, n, bias);
  return batched(p->batch, p->trans_a != 0, p->trans_b != 0, m, n, k, alpha, a, lda, p->stride_a, b, ldb,
                 p->stride_b, beta, c, n, p->stride_c, bias);
}

// da = alpha dC op(B)^T (A's layout), db = alpha op(A)^T dC (B's layout), dbias += colsum(dC).
static int plain_bwd(const anvil_matmul_params* p) {
  if (!p->dc && (p->da || p->db || p->dbias)) return fail(ANVIL_E_INVALID, "matmul_bwd: null dc");
  if ((p->da && !p->b) || (p->db && !p->a))
    return fail(ANVIL_E_INVALID, "matmul_bwd: da needs b and db needs a");
  const int64_t batch = p->batch, m = p->m, n = p->n, k = p->k;
  const bool ta = p->trans_a != 0, tb = p->trans_b != 0;
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  const float alpha = static_cast<float>(p->alpha);
  const float* a = ptr<const float>(p->a);
  const float* b = ptr<const float>(p->b);
  const float* dc = ptr<const float>(p->dc);
  const bool fold = folds(p);

  if (p->da) {
    float* da = ptr<float>(p->da);
    const float beta = p->accumulate_da ? 1.0f : 0.0f;
    int status;
    if (fold)  // (batch*m, k) = dC (batch*m, n) . op(B)^T
      status = sgemm(false, !tb, batch * m, k, n, alpha, dc, n, b, ldb, beta, da, k);
    else if (!ta)  // (m,k) = dC (m,n) . op(B)^T (n,k)
      status = batched(batch, false, !tb, m, k, n, alpha, dc, n, p->stride_c, b, ldb, p->stride_b, beta, da,
                       k, p->stride_a, nullptr);
    else  // (k,m) = op(B) (k,n) . dC^T (n,m)
      status = batched(batch, tb, true, k, m, n, alpha, b, ldb, p->stride_b, dc, n, p->stride_c, beta, da, m,
                       p->stride_a, nullptr);
    if (status) return status;
  }
  if (p->db) {
    float* db = ptr<float>(p->db);
    const float beta = p->accumulate_db ? 1.0f : 0.0f;
    int status;
    if (fold && !tb)  // (k,n) = A^T (k, batch*m) . dC (batch*m, n)
      status = sgemm(true, false, k, n, batch * m, alpha, a, k, dc, n, beta, db, n);
    else if (fold)  // (n,k) = dC^T (n, batch*m) . A (batch*m, k)
      status = sgemm(true, false, n, k, batch * m, alpha, dc, n, a, k, beta, db, k);
    else if (!tb)  // (k,n) = op(A)^T (k,m) . dC (m,n)
      status = batched(batch, !ta, false, k, n, m, alpha, a, lda, p->stride_a, dc, n, p->stride_c, beta, db,
                       n, p->stride_b, nullptr);
    else  // (n,k) = dC^T (n,m) . op(A) (m,k)
      status = batched(batch, true, ta, n, k, m, alpha, dc, n, p->stride_c, a, lda, p->stride_a, beta, db, k,
                       p->stride_b, nullptr);
    if (status) return status;
  }
  if (p->dbias && m > 0 && n > 0) add_column_sums(dc, batch, p->stride_c, m, n, ptr<float>(p->dbias));
  return ANVIL_OK;
}

namespace {

// f(offset, count) over the batch*m*n elements of a C-shaped tensor (rows of n contiguous, items
// stride_c apart): one span when the items are packed, else one per item.
template <typename F>
int for_c_spans(const anvil_matmul_params* p, F f) {
  const int64_t item = p->m * p->n;
  if (p->batch == 1 || p->stride_c == item) return f(0, p->batch * item);
  for (int64_t z = 0; z < p->batch; ++z)
    if (int status = f(z * p->stride_c, item)) return status;
  return ANVIL_OK;
}

int check_epilogue(const anvil_matmul_params* p, const char* op) {
  if (p->gelu != 0 && p->gelu != 1)
    return fail(ANVIL_E_INVALID, "%s: gelu must be 0 (none) or 1 (tanh), got %lld", op, (long long)p->gelu);
  if (p->gelu && p->accumulate)
    return fail(ANVIL_E_INVALID, "%s: accumulate is not supported with the gelu epilogue", op);
  if (p->gelu && p->pre && p->pre == p->c) return fail(ANVIL_E_INVALID, "%s: pre must not be c", op);
  return ANVIL_OK;
}

}  // namespace

// gelu: pre = alpha op(A) op(B) + bias (into C when pre is 0), C = gelu(pre).
extern "C" int anvil_cpu_matmul_fwd(const anvil_matmul_params* p) {
  if (int status = check(p, "matmul_fwd")) return status;
  if (int status = check_epilogue(p, "matmul_fwd")) return status;
  if (!p->gelu) return plain_fwd(p);
  anvil_matmul_params q = *p;
  if (p->pre) q.c = p->pre;
  q.gelu = 0;
  q.pre = 0;
  if (int status = plain_fwd(&q)) return status;
  return for_c_spans(p, [&](int64_t offset, int64_t count) {
    anvil_gelu_params g{};
    g.x = reinterpret_cast<int64_t>(ptr<const float>(q.c) + offset);
    g.y = reinterpret_cast<int64_t>(ptr<float>(p->c) + offset);
    g.n = count;
    g.approximate = 1;
    return anvil_cpu_gelu_fwd(&g);
  });
}

// gelu: dpre = dC * gelu'(pre) in scratch, then the plain backward from dpre.
extern "C" int anvil_cpu_matmul_bwd(const anvil_matmul_params* p) {
  if (int status = check(p, "matmul_bwd")) return status;
  if (int status = check_epilogue(p, "matmul_bwd")) return status;
  if (!p->gelu) return plain_bwd(p);
  if (!p->da && !p->db && !p->dbias) return ANVIL_OK;
  if (!p->dc || !p->pre) return fail(ANVIL_E_INVALID, "matmul_bwd: the gelu epilogue needs dc and pre");
  if (p->m == 0 || p->n == 0) {
    anvil_matmul_params q = *p;
    q.gelu = 0;
    q.pre = 0;
    return plain_bwd(&q);  // nothing flows back; da/db still written as the plain backward does
  }
  const int64_t floats = (p->batch - 1) * p->stride_c + p->m * p->n;
  const int64_t scratch = anvil_cpu_alloc(floats * static_cast<int64_t>(sizeof(float)));
  if (!scratch) return fail(ANVIL_E_NOMEM, "matmul_bwd: no memory for %lld floats of dpre", (long long)floats);
  int status = for_c_spans(p, [&](int64_t offset, int64_t count) {
    anvil_gelu_params g{};
    g.x = reinterpret_cast<int64_t>(ptr<const float>(p->pre) + offset);
    g.dy = reinterpret_cast<int64_t>(ptr<const float>(p->dc) + offset);
    g.dx = reinterpret_cast<int64_t>(ptr<float>(scratch) + offset);
    g.n = count;
    g.approximate = 1;
    return anvil_cpu_gelu_bwd(&g);
  });
  if (status == ANVIL_OK) {
    anvil_matmul_params q = *p;
    q.dc = scratch;
    q.gelu = 0;
    q.pre = 0;
    status = plain_bwd(&q);
  }
  anvil_cpu_free(scratch);
  return status;
}
