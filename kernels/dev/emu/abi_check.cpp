// kernels/dev/emu/abi_check.cpp: the product's CUDA entry points (anvil_cuda_matmul_fwd/bwd,
// anvil_cuda_attention_fwd/bwd from matmul.cu and attention.cu, dispatch included) run under the CPU
// emulator in bf16 and compared with the CPU library (anvil_cpu_*, fp32) on the same bf16-rounded inputs:
// the same cases as the cross-backend Java test, so the fold, transpose and broadcast mappings of da/db,
// the dbias kernels and the attention routing (flash, decode, SIMT fallback) are checked without a GPU.
// The GELU epilogue (gelu = 1: C and the aux store pre, the backward through pre, the refusals) on the
// wgmma, mma.sync (capped) and SIMT kernels.
// Bound per element: 2^-6 |ref| + 2^-8 * (the typical magnitude of the sum): bf16 rounding of the result
// and of the accumulated C; a wrong index or mapping is off by O(1).
//
// Built and run by kernels/dev/emu/run_emu.sh abi (links libanvil_cpu from a CMake build folder).
#include "../../matmul.cu"
#include "../../attention.cu"

#include <array>
#include <random>
#include <string>
#include <vector>

// matmul.cu's GELU backward calls anvil_cuda_gelu_bwd (gelu.cu), which launches with <<<>>> and uses
// normcdff, neither of which the emulator has: this stand-in keeps its contract on the host (emulated device
// memory is host memory and launches run at once) through the CPU library's gelu', rounding to bf16 once.
// gelu.cu's own kernel is checked against the CPU by the GPU tests (CrossBackendOpTest.gelu).
extern "C" int anvil_cuda_gelu_bwd(const anvil_gelu_params* p, int64_t dtype, int64_t) {
  const size_t n = static_cast<size_t>(p->n);
  std::vector<float> x(n), dy(n), dx(n);
  auto get = [&](int64_t address, size_t i) {
    return dtype == ANVIL_BF16 ? __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(address)[i])
                               : reinterpret_cast<const float*>(address)[i];
  };
  for (size_t i = 0; i < n; ++i) {
    x[i] = get(p->x, i);
    dy[i] = get(p->dy, i);
  }
  anvil_gelu_params q = *p;
  q.x = reinterpret_cast<int64_t>(x.data());
  q.dy = reinterpret_cast<int64_t>(dy.data());
  q.dx = reinterpret_cast<int64_t>(dx.data());
  q.accumulate = 0;
  if (int rc = anvil_cpu_gelu_bwd(&q)) return rc;
  for (size_t i = 0; i < n; ++i) {
    const float v = dx[i] + (p->accumulate ? get(p->dx, i) : 0.0f);
    if (dtype == ANVIL_BF16) reinterpret_cast<__nv_bfloat16*>(p->dx)[i] = __float2bfloat16(v);
    else reinterpret_cast<float*>(p->dx)[i] = v;
  }
  return ANVIL_OK;
}

namespace {

int failures = 0, checks = 0;
std::mt19937 rng(42);

float round_bf16(float f) { return __bfloat162float(__float2bfloat16(f)); }

std::vector<float> randoms(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (auto& e : v) e = round_bf16(normal(rng));
  return v;
}

// A tensor on both sides: fp32 (CPU library) and bf16 or fp32 (emulated CUDA).
struct Pair {
  std::vector<float> cpu;
  void* dev = nullptr;
  bool bf16 = true;
  int64_t cpu_addr() const { return reinterpret_cast<int64_t>(cpu.data()); }
  int64_t dev_addr() const { return reinterpret_cast<int64_t>(dev); }
};

Pair pair(const std::vector<float>& values, bool bf16 = true) {
  Pair p{values, nullptr, bf16};
  const size_t n = std::max<size_t>(values.size(), 1);
  cudaMalloc(&p.dev, n * (bf16 ? 2 : 4));
  if (bf16) {
    auto* d = static_cast<__nv_bfloat16*>(p.dev);
    for (size_t i = 0; i < values.size(); ++i) d[i] = __float2bfloat16(values[i]);
  } else {
    memcpy(p.dev, values.data(), values.size() * 4);
  }
  return p;
}

void release(Pair& p) { cudaFree(p.dev); }

float dev_value(const Pair& p, size_t i) {
  return p.bf16 ? __bfloat162float(static_cast<const __nv_bfloat16*>(p.dev)[i]) : static_cast<const float*>(p.dev)[i];
}

void compare(const std::string& what, const Pair& p, double typical) {
  ++checks;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < p.cpu.size(); ++i) {
    const double ref = p.cpu[i], got = dev_value(p, i);
    const bool ok = std::isinf(ref) ? got == ref : std::fabs(got - ref) <= std::ldexp(std::fabs(ref), -6) + std::ldexp(typical, -8);
    if (!ok && bad++ == 0) first = i;
  }
  if (bad) {
    ++failures;
    printf("  FAIL %s: %zu of %zu bad; first [%zu] = %g, expected %g\n", what.c_str(), bad, p.cpu.size(), first,
           dev_value(p, first), p.cpu[first]);
  }
}

void expect_ok(int rc, const char* what) {
  if (rc != 0) {
    printf("  FAIL %s returned %d: %s\n", what, rc, anvil_last_error());
    ++failures;
  }
}

// The cross-backend test's matmul: every transpose pair, batch modes 0 plain, 1 both batched, 2 B broadcast
// (a Linear, folded), 3 A broadcast (its gradient sums over the batch); fwd with bias, fwd accumulating,
// bwd accumulating and writing.
void matmul_case(int64_t m, int64_t n, int64_t k) {
  for (int mode = 0; mode < 4; ++mode)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const int64_t batch = mode == 0 ? 1 : 3;
        const bool a_batched = mode == 1 || mode == 2, b_batched = mode == 1 || mode == 3;
        const int64_t na = (a_batched ? batch : 1) * m * k, nb = (b_batched ? batch : 1) * k * n, nc = batch * m * n;
        const std::string at = "m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                               " mode=" + std::to_string(mode) + " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb);
        Pair a = pair(randoms(na)), b = pair(randoms(nb)), bias = pair(randoms(n)), c = pair(std::vector<float>(nc));
        anvil_matmul_params pc{}, pd{};
        auto fill = [&](anvil_matmul_params& p, bool dev, const Pair& ap, const Pair& bp, const Pair* cp,
                        const Pair* biasp) {
          auto ad = [&](const Pair* x) { return x ? (dev ? x->dev_addr() : x->cpu_addr()) : 0; };
          p.a = ad(&ap);
          p.b = ad(&bp);
          p.c = ad(cp);
          p.bias = ad(biasp);
          p.batch = batch;
          p.m = m;
          p.n = n;
          p.k = k;
          p.trans_a = ta;
          p.trans_b = tb;
          p.stride_a = a_batched ? m * k : 0;
          p.stride_b = b_batched ? k * n : 0;
          p.stride_c = m * n;
        };
        fill(pc, false, a, b, &c, &bias);
        fill(pd, true, a, b, &c, &bias);
        pc.alpha = pd.alpha = 0.5;
        expect_ok(anvil_cpu_matmul_fwd(&pc), "cpu matmul_fwd");
        expect_ok(anvil_cuda_matmul_fwd(&pd, ANVIL_BF16, 0), "cuda matmul_fwd");
        compare("matmul " + at, c, std::sqrt((double)k));
        // accumulate into C (resynchronized: the CPU's values rounded, on both sides)
        for (size_t i = 0; i < c.cpu.size(); ++i) {
          c.cpu[i] = round_bf16(c.cpu[i]);
          static_cast<__nv_bfloat16*>(c.dev)[i] = __float2bfloat16(c.cpu[i]);
        }
        fill(pc, false, a, b, &c, nullptr);
        fill(pd, true, a, b, &c, nullptr);
        pc.alpha = pd.alpha = 1.0;
        pc.accumulate = pd.accumulate = 1;
        expect_ok(anvil_cpu_matmul_fwd(&pc), "cpu matmul_fwd acc");
        expect_ok(anvil_cuda_matmul_fwd(&pd, ANVIL_BF16, 0), "cuda matmul_fwd acc");
        compare("matmul accumulated " + at, c, std::sqrt((double)k));
        // backward, accumulating (da +=, db +=, dbias +=) then writing (da =, db =)
        Pair dc = pair(randoms(nc)), da = pair(randoms(na)), db = pair(randoms(nb), false), dbias = pair(randoms(n), false);
        for (int accumulate = 1; accumulate >= 0; --accumulate) {
          anvil_matmul_params qc{}, qd{};
          fill(qc, false, a, b, nullptr, nullptr);
          fill(qd, true, a, b, nullptr, nullptr);
          qc.dc = dc.cpu_addr();
          qd.dc = dc.dev_addr();
          qc.da = da.cpu_addr();
          qd.da = da.dev_addr();
          qc.db = db.cpu_addr();
          qd.db = db.dev_addr();
          qc.dbias = accumulate ? dbias.cpu_addr() : 0;
          qd.dbias = accumulate ? dbias.dev_addr() : 0;
          qc.accumulate_da = qd.accumulate_da = accumulate;
          qc.accumulate_db = qd.accumulate_db = accumulate;
          qc.alpha = qd.alpha = accumulate ? 0.5 : 1.0;
          expect_ok(anvil_cpu_matmul_bwd(&qc), "cpu matmul_bwd");
          expect_ok(anvil_cuda_matmul_bwd(&qd, ANVIL_BF16, 0), "cuda matmul_bwd");
          const double depth_a = std::sqrt((double)n), depth_b = std::sqrt((double)(a_batched || b_batched ? batch * m : m));
          compare(std::string("matmul_bwd da ") + (accumulate ? "(+=) " : "(=) ") + at, da,
                  std::max(depth_a, 1.0) * (mode == 3 ? batch : 1));
          compare(std::string("matmul_bwd db ") + (accumulate ? "(+=) " : "(=) ") + at, db, std::max(depth_b, 1.0) * batch);
          if (accumulate) compare("matmul_bwd dbias " + at, dbias, std::sqrt((double)(batch * m)));
          for (size_t i = 0; i < da.cpu.size(); ++i) {  // resync da (bf16 on the device side)
            da.cpu[i] = round_bf16(da.cpu[i]);
            static_cast<__nv_bfloat16*>(da.dev)[i] = __float2bfloat16(da.cpu[i]);
          }
        }
        for (Pair* p : {&a, &b, &bias, &c, &dc, &da, &db, &dbias}) release(*p);
      }
}

void resync_bf16(Pair& p) {  // both sides to the CPU's values rounded to bf16
  for (size_t i = 0; i < p.cpu.size(); ++i) {
    p.cpu[i] = round_bf16(p.cpu[i]);
    static_cast<__nv_bfloat16*>(p.dev)[i] = __float2bfloat16(p.cpu[i]);
  }
}

void expect_invalid(int rc, const char* what) {
  ++checks;
  if (rc != ANVIL_E_INVALID) {
    printf("  FAIL %s returned %d, expected ANVIL_E_INVALID\n", what, rc);
    ++failures;
  }
}

// The GELU epilogue through the C ABI, every transpose pair and batch mode of matmul_case, on the kernel the
// cap allows: fwd with bias and pre (C = gelu(v), pre = v), fwd without pre, then bwd (da +=, db +=,
// dbias +=) from the CPU's pre rounded to bf16 on both sides; accumulate with gelu and a bwd without pre are
// refused by both libraries.
void matmul_gelu_case(int64_t m, int64_t n, int64_t k, int64_t cap) {
  anvil_cuda_matmul_limit_kernel(cap);
  for (int mode = 0; mode < 4; ++mode)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const int64_t batch = mode == 0 ? 1 : 3;
        const bool a_batched = mode == 1 || mode == 2, b_batched = mode == 1 || mode == 3;
        const int64_t na = (a_batched ? batch : 1) * m * k, nb = (b_batched ? batch : 1) * k * n, nc = batch * m * n;
        const std::string at = "m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                               " mode=" + std::to_string(mode) + " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                               " cap=" + std::to_string(cap);
        Pair a = pair(randoms(na)), b = pair(randoms(nb)), bias = pair(randoms(n));
        Pair c = pair(std::vector<float>(nc, NAN)), pre = pair(std::vector<float>(nc, NAN));
        auto fill = [&](anvil_matmul_params& p, bool dev) {
          auto ad = [&](const Pair& x) { return dev ? x.dev_addr() : x.cpu_addr(); };
          p.a = ad(a);
          p.b = ad(b);
          p.batch = batch;
          p.m = m;
          p.n = n;
          p.k = k;
          p.trans_a = ta;
          p.trans_b = tb;
          p.stride_a = a_batched ? m * k : 0;
          p.stride_b = b_batched ? k * n : 0;
          p.stride_c = m * n;
          p.gelu = 1;
        };
        anvil_matmul_params pc{}, pd{};
        fill(pc, false);
        fill(pd, true);
        pc.c = c.cpu_addr();
        pd.c = c.dev_addr();
        pc.bias = bias.cpu_addr();
        pd.bias = bias.dev_addr();
        pc.pre = pre.cpu_addr();
        pd.pre = pre.dev_addr();
        pc.alpha = pd.alpha = 0.5;
        expect_ok(anvil_cpu_matmul_fwd(&pc), "cpu matmul_fwd gelu");
        expect_ok(anvil_cuda_matmul_fwd(&pd, ANVIL_BF16, 0), "cuda matmul_fwd gelu");
        compare("matmul gelu c " + at, c, std::sqrt((double)k));
        compare("matmul gelu pre " + at, pre, std::sqrt((double)k));
        pc.accumulate = pd.accumulate = 1;
        expect_invalid(anvil_cpu_matmul_fwd(&pc), "cpu matmul_fwd gelu + accumulate");
        expect_invalid(anvil_cuda_matmul_fwd(&pd, ANVIL_BF16, 0), "cuda matmul_fwd gelu + accumulate");
        // no bias, no pre, alpha 1 (into a fresh C)
        Pair c2 = pair(std::vector<float>(nc, NAN));
        anvil_matmul_params qc{}, qd{};
        fill(qc, false);
        fill(qd, true);
        qc.c = c2.cpu_addr();
        qd.c = c2.dev_addr();
        qc.alpha = qd.alpha = 1.0;
        expect_ok(anvil_cpu_matmul_fwd(&qc), "cpu matmul_fwd gelu, no pre");
        expect_ok(anvil_cuda_matmul_fwd(&qd, ANVIL_BF16, 0), "cuda matmul_fwd gelu, no pre");
        compare("matmul gelu c (no bias, no pre) " + at, c2, std::sqrt((double)k));

        // backward through the CPU's pre (rounded), accumulating
        resync_bf16(pre);
        Pair dc = pair(randoms(nc)), da = pair(randoms(na)), db = pair(randoms(nb), false), dbias = pair(randoms(n), false);
        anvil_matmul_params bc{}, bd{};
        fill(bc, false);
        fill(bd, true);
        bc.pre = pre.cpu_addr();
        bd.pre = pre.dev_addr();
        bc.dc = dc.cpu_addr();
        bd.dc = dc.dev_addr();
        bc.da = da.cpu_addr();
        bd.da = da.dev_addr();
        bc.db = db.cpu_addr();
        bd.db = db.dev_addr();
        bc.dbias = dbias.cpu_addr();
        bd.dbias = dbias.dev_addr();
        bc.accumulate_da = bd.accumulate_da = 1;
        bc.accumulate_db = bd.accumulate_db = 1;
        bc.alpha = bd.alpha = 0.5;
        expect_ok(anvil_cpu_matmul_bwd(&bc), "cpu matmul_bwd gelu");
        expect_ok(anvil_cuda_matmul_bwd(&bd, ANVIL_BF16, 0), "cuda matmul_bwd gelu");
        const double depth_a = std::sqrt((double)n), depth_b = std::sqrt((double)(a_batched || b_batched ? batch * m : m));
        compare("matmul_bwd gelu da (+=) " + at, da, std::max(depth_a, 1.0) * (mode == 3 ? batch : 1));
        compare("matmul_bwd gelu db (+=) " + at, db, std::max(depth_b, 1.0) * batch);
        compare("matmul_bwd gelu dbias " + at, dbias, std::sqrt((double)(batch * m)));
        bc.pre = bd.pre = 0;
        expect_invalid(anvil_cpu_matmul_bwd(&bc), "cpu matmul_bwd gelu without pre");
        expect_invalid(anvil_cuda_matmul_bwd(&bd, ANVIL_BF16, 0), "cuda matmul_bwd gelu without pre");
        for (Pair* p : {&a, &b, &bias, &c, &pre, &c2, &dc, &da, &db, &dbias}) release(*p);
      }
  anvil_cuda_matmul_limit_kernel(ANVIL_GEMM_WGMMA_SM90);
}

// The cross-backend test's attention cases: packed qkv or separate tensors, masks, causal, cross lengths.
void attention_case(int64_t batch, int64_t heads, int64_t dim, int64_t tq, int64_t tk, bool causal, bool packed,
                    bool masked) {
  if (packed) tk = tq;
  const int64_t c = heads * dim, qw = packed ? 3 * c : c;
  const std::string at = "B=" + std::to_string(batch) + " H=" + std::to_string(heads) + " D=" + std::to_string(dim) +
                         " Tq=" + std::to_string(tq) + " Tk=" + std::to_string(tk) + (causal ? " causal" : "") +
                         (packed ? " packed" : "") + (masked ? " masked" : "");
  std::vector<int> mask(batch * tk, 1);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < tk; ++j) mask[b * tk + j] = (b == 0 || j % 3 == 1) ? 0 : 1;
  int* dmask = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&dmask), mask.size() * 4);
  memcpy(dmask, mask.data(), mask.size() * 4);
  Pair q = pair(randoms(batch * tq * qw)), k = packed ? Pair{} : pair(randoms(batch * tk * c)),
       v = packed ? Pair{} : pair(randoms(batch * tk * c));
  Pair out = pair(std::vector<float>(batch * tq * c)), lse = pair(std::vector<float>(batch * heads * tq), false);
  auto params = [&](bool dev) {
    anvil_attention_params p{};
    auto ad = [&](const Pair& x) { return dev ? x.dev_addr() : x.cpu_addr(); };
    const Pair& kk = packed ? q : k;
    const Pair& vv = packed ? q : v;
    p.q = ad(q);
    p.k = ad(kk) + (packed ? c * (dev ? 2 : 4) : 0);
    p.v = ad(vv) + (packed ? 2 * c * (dev ? 2 : 4) : 0);
    p.out = ad(out);
    p.lse = ad(lse);
    p.key_mask = masked ? (dev ? reinterpret_cast<int64_t>(dmask) : reinterpret_cast<int64_t>(mask.data())) : 0;
    p.batch = batch;
    p.heads = heads;
    p.q_len = tq;
    p.k_len = tk;
    p.head_dim = dim;
    p.q_row_stride = qw;
    p.k_row_stride = p.v_row_stride = packed ? qw : c;
    p.o_row_stride = c;
    p.q_batch_stride = tq * qw;
    p.k_batch_stride = p.v_batch_stride = tk * (packed ? qw : c);
    p.o_batch_stride = tq * c;
    p.causal = causal;
    p.scale = 1.0 / std::sqrt((double)dim);
    return p;
  };
  anvil_attention_params pc = params(false), pd = params(true);
  expect_ok(anvil_cpu_attention_fwd(&pc), "cpu attention_fwd");
  expect_ok(anvil_cuda_attention_fwd(&pd, ANVIL_BF16, 0), "cuda attention_fwd");
  compare("attention out " + at, out, 1.0);
  compare("attention lse " + at, lse, 1.0);
  // backward from the CPU's out and lse (rounded to bf16 / kept fp32 on both sides)
  for (size_t i = 0; i < out.cpu.size(); ++i) {
    out.cpu[i] = round_bf16(out.cpu[i]);
    static_cast<__nv_bfloat16*>(out.dev)[i] = __float2bfloat16(out.cpu[i]);
  }
  for (size_t i = 0; i < lse.cpu.size(); ++i) static_cast<float*>(lse.dev)[i] = lse.cpu[i];
  Pair dout = pair(randoms(batch * tq * c));
  Pair dq = pair(std::vector<float>(batch * tq * qw)), dk = packed ? Pair{} : pair(std::vector<float>(batch * tk * c)),
       dv = packed ? Pair{} : pair(std::vector<float>(batch * tk * c));
  auto grads = [&](anvil_attention_params& p, bool dev) {
    auto ad = [&](const Pair& x) { return dev ? x.dev_addr() : x.cpu_addr(); };
    const int64_t e = dev ? 2 : 4;
    p.dout = ad(dout);
    p.dq = ad(dq);
    p.dk = packed ? ad(dq) + c * e : ad(dk);
    p.dv = packed ? ad(dq) + 2 * c * e : ad(dv);
  };
  grads(pc, false);
  grads(pd, true);
  expect_ok(anvil_cpu_attention_bwd(&pc), "cpu attention_bwd");
  expect_ok(anvil_cuda_attention_bwd(&pd, ANVIL_BF16, 0), "cuda attention_bwd");
  const double typical = std::sqrt((double)tk) / std::sqrt((double)dim) + 1.0;
  compare("attention dq" + std::string(packed ? "kv " : " ") + at, dq, typical);
  if (!packed) {
    compare("attention dk " + at, dk, typical);
    compare("attention dv " + at, dv, typical);
  }
  for (Pair* p : {&q, &k, &v, &out, &lse, &dout, &dq, &dk, &dv})
    if (p->dev) release(*p);
  cudaFree(dmask);
}

}  // namespace

int main() {
  // odd shapes take the SIMT kernel, multiples of 8 the tensor-core kernel (matmul.cu's rule); the last two
  // give db (a TN product of k = m rows onto a one-tile output) to split-K, in 2 and 4 slices
  for (auto s : std::vector<std::array<int64_t, 3>>{
           {7, 65, 63}, {136, 136, 40}, {8, 72, 136}, {24, 8, 72}, {2048, 136, 72}, {4096, 64, 64}}) {
    matmul_case(s[0], s[1], s[2]);
    printf("  matmul %lldx%lldx%lld: %d failures so far\n", (long long)s[0], (long long)s[1], (long long)s[2], failures);
    fflush(stdout);
  }
  // batch, heads, dim, Tq, Tk, causal, packed, masked (flash for bf16 D 64/128, decode for Tq 1, else SIMT)
  const std::vector<std::array<int64_t, 8>> cases = {
      {2, 2, 8, 7, 7, 1, 0, 0},     {1, 3, 64, 65, 65, 1, 1, 0},  {2, 2, 16, 1, 33, 1, 0, 1},
      {2, 2, 64, 37, 37, 1, 0, 1},  {1, 2, 64, 17, 90, 1, 0, 0},  {1, 2, 128, 50, 17, 1, 0, 0},
      {2, 2, 128, 33, 70, 0, 0, 1}, {2, 2, 64, 1, 100, 1, 0, 1},  {2, 3, 128, 1, 40, 0, 0, 0},
      {1, 2, 128, 20, 20, 0, 1, 0},
  };
  for (const auto& a : cases) {
    attention_case(a[0], a[1], a[2], a[3], a[4], a[5] != 0, a[6] != 0, a[7] != 0);
    printf("  attention B=%lld H=%lld D=%lld Tq=%lld Tk=%lld: %d failures so far\n", (long long)a[0], (long long)a[1],
           (long long)a[2], (long long)a[3], (long long)a[4], failures);
    fflush(stdout);
  }
  // the GELU epilogue: SIMT (odd), then wgmma and mma.sync (capped) for multiples of 8; after the attention
  // cases, so that they draw the same random inputs as before
  matmul_gelu_case(7, 65, 63, ANVIL_GEMM_WGMMA_SM90);
  for (auto s : std::vector<std::array<int64_t, 3>>{{136, 136, 40}, {24, 8, 72}})
    for (int64_t cap : {ANVIL_GEMM_WGMMA_SM90, ANVIL_GEMM_MMA_SM80}) {
      matmul_gelu_case(s[0], s[1], s[2], cap);
      printf("  matmul gelu %lldx%lldx%lld cap %lld: %d failures so far\n", (long long)s[0], (long long)s[1],
             (long long)s[2], (long long)cap, failures);
      fflush(stdout);
    }
  printf("%d checks, %d failures: %s\n", checks, failures, failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
