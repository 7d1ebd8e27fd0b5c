package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.backend.AdamWStep;
import ai.anvil.backend.Backend;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.cuda.CudaBackend.AttentionKernel;
import ai.anvil.backend.cuda.CudaBackend.MatmulKernel;
import ai.anvil.backend.cuda.Harness.Pair;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every op of the backend SPI on CUDA against the CPU backend, forward and backward, fp32 (tight
 * tolerances) and bf16 (the 2x-naive-error rule), at awkward sizes, with misaligned views that take the
 * kernels' scalar paths. See {@link Harness} for how tensors are paired and judged.
 */
@Tag("gpu")
class CrossBackendOpTest {
  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  static Stream<Arguments> dtypesAndSizes(int... sizes) {
    Stream.Builder<Arguments> b = Stream.builder();
    for (DType t : new DType[] {DType.F32, DType.BF16}) for (int n : sizes) b.add(Arguments.of(t, n));
    return b.build();
  }

  static Stream<Arguments> elementCounts() {
    return dtypesAndSizes(1, 7, 63, 65, 127, 4099, 100_003);
  }

  @ParameterizedTest
  @MethodSource("elementCounts")
  void eltwise(DType dtype, int n) {
    Harness h = new Harness(dtype, n);
    try (Scope s = Scope.open()) {
      Pair a = h.input(1, n + 1), b = h.input(1, n + 1), d = h.input(1, n + 1);
      for (boolean shift : new boolean[] {false, true}) {
        Pair x = shift ? Harness.shifted(a) : a, y = shift ? Harness.shifted(b) : b;
        Pair dy = shift ? Harness.shifted(d) : d;
        long len = x.numel();
        String at = " n=" + len + (shift ? " misaligned" : "");
        Pair out = h.output(len);
        h.cpu.add(x.cpu(), y.cpu(), out.cpu());
        h.gpu.add(x.gpu(), y.gpu(), out.gpu());
        h.check("add" + at, out, Tolerance.F32);
        h.cpu.mul(x.cpu(), y.cpu(), out.cpu());
        h.gpu.mul(x.gpu(), y.gpu(), out.gpu());
        h.check("mul" + at, out, Tolerance.F32);
        h.cpu.scale(x.cpu(), -1.75, out.cpu());
        h.gpu.scale(x.gpu(), -1.75, out.gpu());
        h.check("scale" + at, out, Tolerance.F32);
        h.resync(out);
        h.cpu.axpy(0.5, y.cpu(), out.cpu());
        h.gpu.axpy(0.5, y.gpu(), out.gpu());
        h.check("axpy" + at, out, Tolerance.F32);
        Pair da = h.output(len), db = h.output(len);
        h.cpu.mulBackward(x.cpu(), y.cpu(), dy.cpu(), da.cpu(), db.cpu(), false);
        h.gpu.mulBackward(x.gpu(), y.gpu(), dy.gpu(), da.gpu(), db.gpu(), false);
        h.check("mulBackward da" + at, da, Tolerance.F32);
        h.check("mulBackward db" + at, db, Tolerance.F32);
        h.resync(da);
        h.resync(db);
        h.cpu.mulBackward(x.cpu(), y.cpu(), dy.cpu(), da.cpu(), null, true);
        h.gpu.mulBackward(x.gpu(), y.gpu(), dy.gpu(), da.gpu(), null, true);
        h.check("mulBackward da accumulated" + at, da, Tolerance.F32);
        h.resync(da);
        h.cpu.addBackward(dy.cpu(), da.cpu(), db.cpu(), true);
        h.gpu.addBackward(dy.gpu(), da.gpu(), db.gpu(), true);
        h.check("addBackward da" + at, da, Tolerance.F32);
        h.check("addBackward db" + at, db, Tolerance.F32);
        h.cpu.scaleBackward(dy.cpu(), 3.0, da.cpu(), false);
        h.gpu.scaleBackward(dy.gpu(), 3.0, da.gpu(), false);
        h.check("scaleBackward" + at, da, Tolerance.F32);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("elementCounts")
  void gelu(DType dtype, int n) {
    Harness h = new Harness(dtype, 31L * n);
    try (Scope s = Scope.open()) {
      Pair a = h.input(3, n + 1), d = h.input(1, n + 1);
      for (boolean shift : new boolean[] {false, true}) {
        Pair x = shift ? Harness.shifted(a) : a, dy = shift ? Harness.shifted(d) : d;
        long len = x.numel();
        for (boolean tanh : new boolean[] {true, false}) {
          String at = (tanh ? " tanh" : " erf") + " n=" + len + (shift ? " misaligned" : "");
          Pair y = h.output(len), dx = h.output(len);
          h.cpu.gelu(x.cpu(), y.cpu(), tanh);
          h.gpu.gelu(x.gpu(), y.gpu(), tanh);
          h.check("gelu" + at, y, Tolerance.F32);
          h.cpu.geluBackward(x.cpu(), dy.cpu(), dx.cpu(), tanh, false);
          h.gpu.geluBackward(x.gpu(), dy.gpu(), dx.gpu(), tanh, false);
          h.check("geluBackward" + at, dx, Tolerance.F32);
          h.resync(dx);
          h.cpu.geluBackward(x.cpu(), dy.cpu(), dx.cpu(), tanh, true);
          h.gpu.geluBackward(x.gpu(), dy.gpu(), dx.gpu(), tanh, true);
          h.check("geluBackward accumulated" + at, dx, Tolerance.F32);
        }
      }
    }
  }

  static Stream<Arguments> rowShapes() {
    Stream.Builder<Arguments> b = Stream.builder();
    int[][] shapes = {{1, 1}, {7, 63}, {65, 127}, {33, 768}, {3, 1000}, {5, 2053}, {2, 4096}};
    for (DType t : new DType[] {DType.F32, DType.BF16}) for (int[] s : shapes) b.add(Arguments.of(t, s[0], s[1]));
    return b.build();
  }

  @ParameterizedTest
  @MethodSource("rowShapes")
  void layerNorm(DType dtype, int rows, int cols) {
    Harness h = new Harness(dtype, rows * 1000L + cols);
    try (Scope s = Scope.open()) {
      Random rnd = h.rnd;
      Pair x = h.input(rnd.normal(rows * cols, 2), rows, cols);
      Pair w = h.input(rnd.normal(cols, 1), cols), b = h.input(rnd.normal(cols, 1), cols);
      for (boolean withBias : new boolean[] {true, false}) {
        String at = " (" + rows + ", " + cols + ")" + (withBias ? "" : " no bias");
        Pair y = h.output(rows, cols), mean = h.outputF32(rows), rstd = h.outputF32(rows);
        h.cpu.layerNorm(x.cpu(), w.cpu(), withBias ? b.cpu() : null, y.cpu(), mean.cpu(), rstd.cpu(), 1e-5);
        h.gpu.layerNorm(x.gpu(), w.gpu(), withBias ? b.gpu() : null, y.gpu(), mean.gpu(), rstd.gpu(), 1e-5);
        h.check("layerNorm y" + at, y, Tolerance.F32);
        h.check("layerNorm mean" + at, mean, Tolerance.F32);
        h.check("layerNorm rstd" + at, rstd, Tolerance.F32);
      }
      // Backward from the CPU's statistics, so both sides start from the same numbers.
      Pair y = h.output(rows, cols), mean0 = h.outputF32(rows), rstd0 = h.outputF32(rows);
      h.cpu.layerNorm(x.cpu(), w.cpu(), b.cpu(), y.cpu(), mean0.cpu(), rstd0.cpu(), 1e-5);
      Pair mean = h.f32(Random.toDoubles(mean0.cpu().toFloatArray()), rows);
      Pair rstd = h.f32(Random.toDoubles(rstd0.cpu().toFloatArray()), rows);
      Pair dy = h.input(1, rows, cols), dx = h.output(rows, cols);
      Pair dw = h.f32(rnd.normal(cols, 1), cols), db = h.f32(rnd.normal(cols, 1), cols);
      h.cpu.layerNormBackward(x.cpu(), w.cpu(), mean.cpu(), rstd.cpu(), dy.cpu(), dx.cpu(), dw.cpu(), db.cpu());
      h.gpu.layerNormBackward(x.gpu(), w.gpu(), mean.gpu(), rstd.gpu(), dy.gpu(), dx.gpu(), dw.gpu(), db.gpu());
      String at = " (" + rows + ", " + cols + ")";
      h.check("layerNormBackward dx" + at, dx, Tolerance.F32_REDUCTION);
      h.check("layerNormBackward dweight (+=)" + at, dw, Tolerance.F32_REDUCTION);
      h.check("layerNormBackward dbias (+=)" + at, db, Tolerance.F32_REDUCTION);
    }
  }

  @ParameterizedTest
  @MethodSource("rowShapes")
  void softmax(DType dtype, int rows, int cols) {
    Harness h = new Harness(dtype, 7L * rows + cols);
    try (Scope s = Scope.open()) {
      Pair x = h.input(3, rows, cols), y = h.output(rows, cols);
      h.cpu.softmax(x.cpu(), y.cpu(), 0.7);
      h.gpu.softmax(x.gpu(), y.gpu(), 0.7);
      String at = " (" + rows + ", " + cols + ")";
      h.check("softmax" + at, y, Tolerance.F32);
      Pair yIn = h.input(Random.toDoubles(y.cpu().toFloatArray()), rows, cols);
      Pair dy = h.input(1, rows, cols), dx = h.output(rows, cols);
      h.cpu.softmaxBackward(yIn.cpu(), dy.cpu(), dx.cpu(), 0.7);
      h.gpu.softmaxBackward(yIn.gpu(), dy.gpu(), dx.gpu(), 0.7);
      h.check("softmaxBackward" + at, dx, Tolerance.F32_REDUCTION);
    }
  }

  /**
   * (m, n, k) triples, each run with every transpose pair and batching mode, bf16 once per GEMM kernel
   * cap (WGMMA_SM90: no cap, so Hopper takes the wgmma kernel; MMA_SM80: the sm_80 path, forced on Hopper).
   * The odd ones take the SIMT kernel; those whose leading dimensions are multiples of 8 (but not of the
   * tiles) take a tensor-core kernel in every layout (matmul.cu's dispatch rule), which the test asserts.
   * k = 40, 136, 200 and 520 leave partial 64-deep k tiles. The large ones run bf16 and plain 2-D only
   * (their CPU reference is the slow part): 2056 x 1160 x 72 has more output tiles than an H100/H200 has SMs,
   * so the persistent wgmma kernel runs several tiles per CTA; 8192 x 136 x 72 makes weight gradients of
   * 1-2 tiles over 8192 rows (128 k-tiles deep; split-K on Hopper); 4104 x 1160 x 72 has 33 x 10 = 330
   * tiles of 128 x 128 with a short k, which takes the ping-pong schedule (at least two tiles per SM on a
   * 132-SM card; matmul/gemm_sm90.cuh pick_schedule). fp32 leaves the large ones out: it runs the SIMT kernel there as at
   * the small shapes, and a 6168-row fp32 sum with cancellation exceeds the fixed fp32 tolerance, which does
   * not scale with the reduction length.
   */
  static Stream<Arguments> matmulShapes() {
    Stream.Builder<Arguments> b = Stream.builder();
    int[][] shapes = {{1, 1, 1}, {7, 65, 63}, {65, 7, 127}, {33, 64, 200}, {136, 264, 40}, {8, 72, 520},
        {264, 8, 136}, {2056, 1160, 72}, {8192, 136, 72}, {4104, 1160, 72}};
    for (int[] s : shapes) {
      if (!isLarge(s[0], s[1], s[2])) b.add(Arguments.of(DType.F32, MatmulKernel.WGMMA_SM90, s[0], s[1], s[2]));
      for (MatmulKernel cap : new MatmulKernel[] {MatmulKernel.WGMMA_SM90, MatmulKernel.MMA_SM80}) {
        b.add(Arguments.of(DType.BF16, cap, s[0], s[1], s[2]));
      }
    }
    return b.build();
  }

  /** The kernel matmul.cu's rule picks for a plain 2-D product of freshly allocated (aligned) tensors. */
  private static MatmulKernel expectedKernel(DType dtype, MatmulKernel cap, int m, int n, int k, boolean ta,
                                            boolean tb) {
    long lda = ta ? m : k, ldb = tb ? k : n;
    if (dtype != DType.BF16 || lda % 8 != 0 || ldb % 8 != 0 || n % 8 != 0) return MatmulKernel.SIMT;
    boolean hopper = CudaRuntime.describe(0).contains("(sm_90,");
    return hopper && cap == MatmulKernel.WGMMA_SM90 ? MatmulKernel.WGMMA_SM90 : MatmulKernel.MMA_SM80;
  }

  @ParameterizedTest
  @MethodSource("matmulShapes")
  void matmul(DType dtype, MatmulKernel cap, int m, int n, int k) {
    Harness h = new Harness(dtype, m * 10_000L + n * 100L + k);
    CudaBackend.limitMatmulKernel(cap);
    try {
      matmulCases(h, dtype, cap, m, n, k);
    } finally {
      CudaBackend.limitMatmulKernel(MatmulKernel.WGMMA_SM90);
    }
  }

  private static boolean isLarge(int m, int n, int k) {
    return (long) m * n * k > 50_000_000L;
  }

  /**
   * One layout of a matmul case: batch mode (0 plain 2-D; 1 both batched; 2 B broadcast, a Linear; 3 A
   * broadcast; batch 3 when batched), the transposes, the dims of A, B and C, and the assertion label.
   */
  private record Layout(int mode, boolean ta, boolean tb, long[] aDims, long[] bDims, long[] cDims, String at) {}

  /** Every layout of (m, n, k): the four batch modes (plain 2-D only for a large product) x both transposes. */
  private static List<Layout> layouts(int m, int n, int k, MatmulKernel cap) {
    List<Layout> out = new ArrayList<>();
    for (int mode = 0; mode < (isLarge(m, n, k) ? 1 : 4); mode++) {
      for (boolean ta : new boolean[] {false, true}) {
        for (boolean tb : new boolean[] {false, true}) {
          int batch = mode == 0 ? 1 : 3;
          long[] aDims = ta ? new long[] {k, m} : new long[] {m, k};
          long[] bDims = tb ? new long[] {n, k} : new long[] {k, n};
          if (mode == 1 || mode == 2) aDims = prepend(batch, aDims);
          if (mode == 1 || mode == 3) bDims = prepend(batch, bDims);
          long[] cDims = mode == 0 ? new long[] {m, n} : new long[] {batch, m, n};
          String at = String.format(" m=%d n=%d k=%d mode=%d ta=%b tb=%b cap=%s", m, n, k, mode, ta, tb, cap);
          out.add(new Layout(mode, ta, tb, aDims, bDims, cDims, at));
        }
      }
    }
    return out;
  }

  private void matmulCases(Harness h, DType dtype, MatmulKernel cap, int m, int n, int k) {
    for (Layout l : layouts(m, n, k, cap)) {
      try (Scope s = Scope.open()) {
        int mode = l.mode();
        boolean ta = l.ta(), tb = l.tb();
        long[] aDims = l.aDims(), bDims = l.bDims(), cDims = l.cDims();
        String at = l.at();
        Pair a = h.input(1, aDims), b = h.input(1, bDims), bias = h.input(1, n);
        Pair c = h.output(cDims);
        if (mode == 0) {
          assertEquals(expectedKernel(dtype, cap, m, n, k, ta, tb),
              ((CudaBackend) h.gpu).matmulKernel(a.gpu(), b.gpu(), bias.gpu(), c.gpu(), ta, tb), "kernel" + at);
        }
        h.cpu.matmul(a.cpu(), b.cpu(), bias.cpu(), c.cpu(), ta, tb, 0.5, false);
        h.gpu.matmul(a.gpu(), b.gpu(), bias.gpu(), c.gpu(), ta, tb, 0.5, false);
        h.check("matmul" + at, c, Tolerance.F32_REDUCTION);
        h.resync(c);
        h.cpu.matmul(a.cpu(), b.cpu(), null, c.cpu(), ta, tb, 1.0, true);
        h.gpu.matmul(a.gpu(), b.gpu(), null, c.gpu(), ta, tb, 1.0, true);
        h.check("matmul accumulated" + at, c, Tolerance.F32_REDUCTION);

        Pair dc = h.input(1, cDims);
        Pair da = h.input(1, aDims);
        Pair db = h.f32(h.rnd.normal(Math.toIntExact(Harness.count(bDims)), 1), bDims);
        Pair dbias = h.f32(h.rnd.normal(n, 1), n);
        h.cpu.matmulBackward(a.cpu(), b.cpu(), dc.cpu(), da.cpu(), db.cpu(), dbias.cpu(), ta, tb, 0.5, true, true);
        h.gpu.matmulBackward(a.gpu(), b.gpu(), dc.gpu(), da.gpu(), db.gpu(), dbias.gpu(), ta, tb, 0.5, true, true);
        h.check("matmulBackward da (+=)" + at, da, Tolerance.F32_REDUCTION);
        h.check("matmulBackward db (+=)" + at, db, Tolerance.F32_REDUCTION);
        h.check("matmulBackward dbias (+=)" + at, dbias, Tolerance.F32_REDUCTION);
        Pair da2 = h.output(aDims), db2 = h.outputF32(bDims);
        h.cpu.matmulBackward(a.cpu(), b.cpu(), dc.cpu(), da2.cpu(), db2.cpu(), null, ta, tb, 1.0, false, false);
        h.gpu.matmulBackward(a.gpu(), b.gpu(), dc.gpu(), da2.gpu(), db2.gpu(), null, ta, tb, 1.0, false, false);
        h.check("matmulBackward da (=)" + at, da2, Tolerance.F32_REDUCTION);
        h.check("matmulBackward db (=)" + at, db2, Tolerance.F32_REDUCTION);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("matmulShapes")
  void matmulGelu(DType dtype, MatmulKernel cap, int m, int n, int k) {
    Harness h = new Harness(dtype, m * 10_000L + n * 100L + k + 7);
    CudaBackend.limitMatmulKernel(cap);
    try {
      matmulGeluCases(h, cap, m, n, k);
    } finally {
      CudaBackend.limitMatmulKernel(MatmulKernel.WGMMA_SM90);
    }
  }

  /**
   * The GELU epilogue (Backend.matmulGelu / matmulGeluBackward) in every layout and batch mode of matmul:
   * the forward's c and its aux store pre (with bias and pre, then neither), and the backward from the CPU's
   * pre (rounded to the tested dtype on both sides), accumulating then writing. In bf16 the naive form of
   * the backward is the unfused one: dpre = dc gelu'(pre) rounded to bf16 (gelu's backward writes a bf16
   * gradient), the products from it, each result rounded.
   */
  private void matmulGeluCases(Harness h, MatmulKernel cap, int m, int n, int k) {
    for (Layout l : layouts(m, n, k, cap)) {
      try (Scope s = Scope.open()) {
        boolean ta = l.ta(), tb = l.tb();
        long[] aDims = l.aDims(), bDims = l.bDims(), cDims = l.cDims();
        String at = l.at();
        Pair a = h.input(1, aDims), b = h.input(1, bDims), bias = h.input(1, n);
        Pair c = h.output(cDims), pre = h.output(cDims);
        h.cpu.matmulGelu(a.cpu(), b.cpu(), bias.cpu(), c.cpu(), pre.cpu(), ta, tb, 0.5);
        h.gpu.matmulGelu(a.gpu(), b.gpu(), bias.gpu(), c.gpu(), pre.gpu(), ta, tb, 0.5);
        h.check("matmulGelu c" + at, c, Tolerance.F32_REDUCTION);
        h.check("matmulGelu pre" + at, pre, Tolerance.F32_REDUCTION);
        Pair c2 = h.output(cDims);
        h.cpu.matmulGelu(a.cpu(), b.cpu(), null, c2.cpu(), null, ta, tb, 1.0);
        h.gpu.matmulGelu(a.gpu(), b.gpu(), null, c2.gpu(), null, ta, tb, 1.0);
        h.check("matmulGelu c, no bias, no pre" + at, c2, Tolerance.F32_REDUCTION);

        h.resync(pre);
        Pair dc = h.input(1, cDims);
        Pair da = h.input(1, aDims);
        Pair db = h.f32(h.rnd.normal(Math.toIntExact(Harness.count(bDims)), 1), bDims);
        Pair dbias = h.f32(h.rnd.normal(n, 1), n);
        double[][] naive = h.bf16()
            ? naiveGeluBackward(a, b, pre, dc, da.cpu(), db.cpu(), dbias.cpu(), ta, tb, 0.5, true) : null;
        h.cpu.matmulGeluBackward(a.cpu(), b.cpu(), pre.cpu(), dc.cpu(), da.cpu(), db.cpu(), dbias.cpu(), ta, tb,
            0.5, true, true);
        h.gpu.matmulGeluBackward(a.gpu(), b.gpu(), pre.gpu(), dc.gpu(), da.gpu(), db.gpu(), dbias.gpu(), ta, tb,
            0.5, true, true);
        h.check("matmulGeluBackward da (+=)" + at, da, Tolerance.F32_REDUCTION, naive == null ? null : naive[0]);
        h.check("matmulGeluBackward db (+=)" + at, db, Tolerance.F32_REDUCTION, naive == null ? null : naive[1]);
        h.check("matmulGeluBackward dbias (+=)" + at, dbias, Tolerance.F32_REDUCTION,
            naive == null ? null : naive[2]);
        Pair da2 = h.output(aDims), db2 = h.outputF32(bDims);
        naive = h.bf16() ? naiveGeluBackward(a, b, pre, dc, da2.cpu(), db2.cpu(), null, ta, tb, 1.0, false) : null;
        h.cpu.matmulGeluBackward(a.cpu(), b.cpu(), pre.cpu(), dc.cpu(), da2.cpu(), db2.cpu(), null, ta, tb, 1.0,
            false, false);
        h.gpu.matmulGeluBackward(a.gpu(), b.gpu(), pre.gpu(), dc.gpu(), da2.gpu(), db2.gpu(), null, ta, tb, 1.0,
            false, false);
        h.check("matmulGeluBackward da (=)" + at, da2, Tolerance.F32_REDUCTION, naive == null ? null : naive[0]);
        h.check("matmulGeluBackward db (=)" + at, db2, Tolerance.F32_REDUCTION, naive == null ? null : naive[1]);
      }
    }
  }

  /**
   * The unfused bf16 backward on the CPU: dpre = dc gelu'(pre) rounded to bf16, then matmulBackward from it
   * into copies of da, db, dbias (their values before the op; dbias may be null), each result rounded to its
   * storage type: da to bf16, db and dbias stay fp32 (as the kernels write them). Rounding the fp32 results too
   * let the final rounding cancel dpre's by chance on the 1 x 1 x 1 case (H200 run 6: dbias kernel error
   * 4.7e-3 against a "naive" 1.4e-3), a bound the kernel's own fp32 result could not be held to.
   */
  private static double[][] naiveGeluBackward(Pair a, Pair b, Pair pre, Pair dc, Tensor da, Tensor db, Tensor dbias,
                                              boolean ta, boolean tb, double alpha, boolean accumulate) {
    Backend cpu = Backend.of(Device.CPU);
    try (Scope s = Scope.open()) {
      Tensor dpre = Tensor.empty(DType.F32, Device.CPU, dc.cpu().dims());
      cpu.geluBackward(pre.cpu(), dc.cpu(), dpre, true, false);
      dpre.copyFrom(Random.toFloats(Harness.round(Random.toDoubles(dpre.toFloatArray()), DType.BF16)));
      Tensor da0 = Tensor.of(da.toFloatArray(), Device.CPU, da.dims());
      Tensor db0 = Tensor.of(db.toFloatArray(), Device.CPU, db.dims());
      Tensor dbias0 = dbias == null ? null : Tensor.of(dbias.toFloatArray(), Device.CPU, dbias.dims());
      cpu.matmulBackward(a.cpu(), b.cpu(), dpre, da0, db0, dbias0, ta, tb, alpha, accumulate, accumulate);
      double[][] out = new double[3][];
      Tensor[] results = {da0, db0, dbias0};
      out[0] = Harness.round(Random.toDoubles(da0.toFloatArray()), DType.BF16);
      for (int i = 1; i < 3; i++) {
        if (results[i] != null) out[i] = Random.toDoubles(results[i].toFloatArray());
      }
      return out;
    }
  }

  private static long[] prepend(long first, long[] dims) {
    long[] out = new long[dims.length + 1];
    out[0] = first;
    System.arraycopy(dims, 0, out, 1, dims.length);
    return out;
  }

  /** batch, heads, headDim, Tq, Tk, causal, packed, masked. */
  static Stream<Arguments> attentionCases() {
    Stream.Builder<Arguments> b = Stream.builder();
    Object[][] cases = {
        {2, 2, 8, 7, 7, true, false, false},
        {1, 3, 64, 65, 65, true, true, false},
        {2, 2, 16, 1, 33, true, false, true},    // one query against a cache
        {2, 1, 40, 5, 12, true, false, true},    // fewer queries than keys: bottom-right causal
        {3, 2, 32, 17, 9, false, false, true},   // cross-attention with a key mask (batch 0 fully masked)
        {1, 2, 128, 20, 20, false, true, false},
        {1, 1, 256, 3, 5, true, false, false},
        // bf16 head dims 64 and 128 take the flash kernels (attention.cu's dispatch): odd lengths, both
        // masks, cross-attention both ways, one query against a cache (the decode kernels)
        {2, 2, 64, 97, 97, true, false, true},
        {1, 2, 64, 17, 300, true, false, false},  // bottom-right causal, Tq < Tk
        {1, 2, 128, 97, 17, true, false, false},  // Tq > Tk: the first queries see no key
        {2, 2, 128, 65, 130, false, false, true},
        {2, 2, 64, 1, 1000, true, false, true},   // decode against a 1000-token cache
        {2, 3, 128, 1, 97, false, false, false},
        {1, 2, 64, 1000, 1000, true, true, false},
        {2, 2, 128, 300, 300, true, false, true},  // several 128-row blocks at D = 128, key mask
    };
    // bf16 runs each case on the default kernels (wgmma on compute capability 9.0) and capped at mma.sync,
    // so a Hopper card checks both flash paths.
    for (DType t : new DType[] {DType.F32, DType.BF16}) {
      for (AttentionKernel cap : t == DType.BF16 ? new AttentionKernel[] {AttentionKernel.WGMMA_SM90,
          AttentionKernel.MMA_SM80} : new AttentionKernel[] {AttentionKernel.WGMMA_SM90}) {
        for (Object[] c : cases) {
          Object[] args = new Object[c.length + 2];
          args[0] = t;
          args[1] = cap;
          System.arraycopy(c, 0, args, 2, c.length);
          b.add(Arguments.of(args));
        }
      }
    }
    return b.build();
  }

  @ParameterizedTest
  @MethodSource("attentionCases")
  void attention(DType dtype, AttentionKernel cap, int batch, int heads, int dim, int tq, int tk, boolean causal,
                 boolean packed, boolean masked) {
    Harness h = new Harness(dtype, batch * 1000L + heads * 100L + dim + tq + tk);
    CudaBackend.limitAttentionKernel(cap);
    try {
      attentionCase(h, dtype, cap, batch, heads, dim, tq, tk, causal, packed, masked);
    } finally {
      CudaBackend.limitAttentionKernel(AttentionKernel.WGMMA_SM90);
    }
  }

  private void attentionCase(Harness h, DType dtype, AttentionKernel cap, int batch, int heads, int dim, int tq,
                             int tk, boolean causal, boolean packed, boolean masked) {
    if (packed) tk = tq;
    int c = heads * dim;
    AttentionSpec spec = packed ? AttentionSpec.packed(heads, dim, causal) : AttentionSpec.of(heads, dim, causal);
    String at = String.format(" B=%d H=%d D=%d Tq=%d Tk=%d causal=%b packed=%b masked=%b cap=%s", batch, heads, dim, tq,
        tk, causal, packed, masked, cap);
    try (Scope s = Scope.open()) {
      int[] maskValues = null;
      Pair mask = null;
      if (masked) {
        maskValues = new int[batch * tk];
        for (int b = 0; b < batch; b++) {
          for (int j = 0; j < tk; j++) maskValues[b * tk + j] = b == 0 ? 0 : (j % 3 == 1 ? 0 : 1);
        }
        mask = h.ints(maskValues, batch, tk);
      }
      Pair q, k, v;
      double[] qv, kv, vv;
      int qW, kW, vW;
      if (packed) {
        qv = kv = vv = Harness.round(h.rnd.normal(batch * tq * 3 * c, 1), dtype);
        q = k = v = h.input(qv, batch, tq, 3 * c);
        qW = kW = vW = 3 * c;
      } else {
        qv = Harness.round(h.rnd.normal(batch * tq * c, 1), dtype);
        kv = Harness.round(h.rnd.normal(batch * tk * c, 1), dtype);
        vv = Harness.round(h.rnd.normal(batch * tk * c, 1), dtype);
        q = h.input(qv, batch, tq, c);
        k = h.input(kv, batch, tk, c);
        v = h.input(vv, batch, tk, c);
        qW = kW = vW = c;
      }
      NaiveAttention naive = new NaiveAttention(batch, heads, dim, tq, tk, qW, kW, vW, spec.qColumn(), spec.kColumn(),
          spec.vColumn(), causal, spec.scale(), maskValues, true);
      Pair out = h.output(batch, tq, c), lse = h.outputF32(batch, heads, tq);
      h.cpu.attention(spec, q.cpu(), k.cpu(), v.cpu(), mask == null ? null : mask.cpu(), out.cpu(), lse.cpu());
      h.gpu.attention(spec, q.gpu(), k.gpu(), v.gpu(), mask == null ? null : mask.gpu(), out.gpu(), lse.gpu());
      h.check("attention out" + at, out, Tolerance.F32_REDUCTION, h.bf16() ? naive.forward(qv, kv, vv) : null);
      h.check("attention lse" + at, lse, Tolerance.F32_REDUCTION);

      // Backward from the CPU's out and lse, rounded to the tested dtype, on both sides.
      double[] outValues = Harness.round(Random.toDoubles(out.cpu().toFloatArray()), dtype);
      Pair o = h.input(outValues, batch, tq, c);
      Pair l = h.f32(Random.toDoubles(lse.cpu().toFloatArray()), batch, heads, tq);
      double[] gv = Harness.round(h.rnd.normal(batch * tq * c, 1), dtype);
      Pair dout = h.input(gv, batch, tq, c);
      double[][] nb = h.bf16() ? naive.backward(qv, kv, vv, gv) : null;
      Pair mk = mask;
      if (packed) {
        Pair dqkv = h.output(batch, tq, 3 * c);
        h.cpu.attentionBackward(spec, q.cpu(), k.cpu(), v.cpu(), null, o.cpu(), l.cpu(), dout.cpu(), dqkv.cpu(),
            dqkv.cpu(), dqkv.cpu());
        h.gpu.attentionBackward(spec, q.gpu(), k.gpu(), v.gpu(), null, o.gpu(), l.gpu(), dout.gpu(), dqkv.gpu(),
            dqkv.gpu(), dqkv.gpu());
        double[] sum = null;
        if (nb != null) {
          sum = new double[nb[0].length];
          for (int i = 0; i < sum.length; i++) sum[i] = nb[0][i] + nb[1][i] + nb[2][i];
        }
        h.check("attentionBackward dqkv" + at, dqkv, Tolerance.F32_REDUCTION, sum);
      } else {
        Pair dq = h.output(batch, tq, c), dk = h.output(batch, tk, c), dv = h.output(batch, tk, c);
        h.cpu.attentionBackward(spec, q.cpu(), k.cpu(), v.cpu(), mk == null ? null : mk.cpu(), o.cpu(), l.cpu(),
            dout.cpu(), dq.cpu(), dk.cpu(), dv.cpu());
        h.gpu.attentionBackward(spec, q.gpu(), k.gpu(), v.gpu(), mk == null ? null : mk.gpu(), o.gpu(), l.gpu(),
            dout.gpu(), dq.gpu(), dk.gpu(), dv.gpu());
        h.check("attentionBackward dq" + at, dq, Tolerance.F32_REDUCTION, nb == null ? null : nb[0]);
        h.check("attentionBackward dk" + at, dk, Tolerance.F32_REDUCTION, nb == null ? null : nb[1]);
        h.check("attentionBackward dv" + at, dv, Tolerance.F32_REDUCTION, nb == null ? null : nb[2]);
      }
    }
  }

  static Stream<Arguments> embeddingShapes() {
    return dtypesAndSizes(1, 7, 64, 65, 768);
  }

  @ParameterizedTest
  @MethodSource("embeddingShapes")
  void embedding(DType dtype, int dim) {
    Harness h = new Harness(dtype, dim);
    int vocab = 50, n = 97;
    try (Scope s = Scope.open()) {
      int[] idValues = h.rnd.ints(n, vocab);
      for (int i = 0; i < n; i += 5) idValues[i] = 3;  // a frequent token: a long run in the backward
      Pair ids = h.ints(idValues, n);
      Pair table = h.input(1, vocab, dim), out = h.output(n, dim);
      h.cpu.embedding(ids.cpu(), table.cpu(), out.cpu());
      h.gpu.embedding(ids.gpu(), table.gpu(), out.gpu());
      h.check("embedding dim=" + dim, out, Tolerance.F32);
      Pair dout = h.input(1, n, dim);
      Pair dtable = h.f32(h.rnd.normal(vocab * dim, 1), vocab, dim);
      h.cpu.embeddingBackward(ids.cpu(), dout.cpu(), dtable.cpu());
      h.gpu.embeddingBackward(ids.gpu(), dout.gpu(), dtable.gpu());
      h.check("embeddingBackward dtable (+=) dim=" + dim, dtable, Tolerance.F32);
    }
  }

  /** rows, vocab, padded width. */
  static Stream<Arguments> crossEntropyShapes() {
    Stream.Builder<Arguments> b = Stream.builder();
    int[][] shapes = {{1, 1, 1}, {7, 100, 104}, {13, 63, 65}, {3, 50257, 50304}};
    for (DType t : new DType[] {DType.F32, DType.BF16}) for (int[] s : shapes) b.add(Arguments.of(t, s[0], s[1], s[2]));
    return b.build();
  }

  @ParameterizedTest
  @MethodSource("crossEntropyShapes")
  void crossEntropy(DType dtype, int rows, int vocab, int width) {
    Harness h = new Harness(dtype, rows + vocab);
    try (Scope s = Scope.open()) {
      int[] targets = h.rnd.ints(rows, vocab);
      if (rows > 2) targets[1] = -100;  // ignored
      Pair t = h.ints(targets, rows);
      Pair logits = h.input(3, rows, width);
      Pair losses = h.outputF32(rows), loss = h.outputF32(1);
      double normalizer = rows + 2.5;
      h.cpu.crossEntropy(logits.cpu(), t.cpu(), vocab, -100, normalizer, losses.cpu(), loss.cpu());
      h.gpu.crossEntropy(logits.gpu(), t.gpu(), vocab, -100, normalizer, losses.gpu(), loss.gpu());
      String at = " rows=" + rows + " vocab=" + vocab + " width=" + width;
      h.check("crossEntropy losses" + at, losses, Tolerance.F32_REDUCTION);
      h.check("crossEntropy loss" + at, loss, Tolerance.F32_REDUCTION);
      Pair lossOnly = h.outputF32(1);
      h.cpu.crossEntropy(logits.cpu(), t.cpu(), vocab, -100, normalizer, null, lossOnly.cpu());
      h.gpu.crossEntropy(logits.gpu(), t.gpu(), vocab, -100, normalizer, null, lossOnly.gpu());
      h.check("crossEntropy loss without losses" + at, lossOnly, Tolerance.F32_REDUCTION);
      Pair dlogits = h.output(rows, width);
      h.cpu.crossEntropyBackward(logits.cpu(), t.cpu(), vocab, -100, normalizer, 1.5, dlogits.cpu());
      h.gpu.crossEntropyBackward(logits.gpu(), t.gpu(), vocab, -100, normalizer, 1.5, dlogits.gpu());
      h.check("crossEntropyBackward" + at, dlogits, Tolerance.F32_REDUCTION);
    }
  }

  /** AdamW and the gradient norm take fp32 tensors only (master weights, moments, gradients). */
  @Test
  void adamwAndGradNorm() {
    Harness h = new Harness(DType.F32, 99);
    int[] sizes = {1, 7, 4099, 100_003, 65};
    try (Scope s = Scope.open()) {
      List<Pair> p = new ArrayList<>(), g = new ArrayList<>();
      List<Pair> m = new ArrayList<>(), v = new ArrayList<>();
      boolean[] decay = new boolean[sizes.length];
      for (int i = 0; i < sizes.length; i++) {
        p.add(h.f32(h.rnd.normal(sizes[i], 1), sizes[i]));
        g.add(h.f32(h.rnd.normal(sizes[i], 0.1), sizes[i]));
        m.add(h.f32(new double[sizes[i]], sizes[i]));
        v.add(h.f32(new double[sizes[i]], sizes[i]));
        decay[i] = i % 2 == 0;
      }
      for (int step = 1; step <= 3; step++) {
        AdamWStep hyper = new AdamWStep(1e-2, 0.9, 0.95, 1e-8, 0.1, step, 0.8);
        h.cpu.adamw(side(p, true), side(g, true), side(m, true), side(v, true), decay, hyper);
        h.gpu.adamw(side(p, false), side(g, false), side(m, false), side(v, false), decay, hyper);
      }
      for (int i = 0; i < sizes.length; i++) {
        h.check("adamw params[" + i + "]", p.get(i), Tolerance.F32);
        h.check("adamw m[" + i + "]", m.get(i), Tolerance.F32);
        h.check("adamw v[" + i + "]", v.get(i), Tolerance.F32);
      }
      double cpuNorm = h.cpu.gradNorm(side(g, true));
      double gpuNorm = h.gpu.gradNorm(side(g, false));
      Assertions.assertClose("gradNorm", new double[] {cpuNorm}, new double[] {gpuNorm},
          new Tolerance(1e-12, 1e-9));
    }
  }

  private static List<Tensor> side(List<Pair> pairs, boolean cpu) {
    List<Tensor> out = new ArrayList<>();
    for (Pair p : pairs) out.add(cpu ? p.cpu() : p.gpu());
    return out;
  }
}
