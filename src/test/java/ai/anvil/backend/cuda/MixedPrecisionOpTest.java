package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.autograd.Autocast;
import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Precision;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.cuda.Harness.Pair;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The bf16 step's fused memory-bound paths on CUDA (kernels/NOTES.md, "The memory-bound work around the
 * GEMMs"), against the CPU backend through {@link Harness} and against the unfused CUDA path they replace:
 * the add of a bf16 branch into an fp32 stream (exact), LayerNorm with a bf16 output and a bf16 output
 * gradient (forward by the 2x-naive-error rule, backward fp32 tolerances), its backward adding into dx and
 * overwriting dweight/dbias, the bias gradient's column sums at GPT-2's shape, and, through the autograd,
 * layerNormForLinear + linear + residual add bit for bit equal to layerNorm + cast + linear + cast + add.
 */
@Tag("gpu")
class MixedPrecisionOpTest {
  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  /** out (fp32) = a (fp32) + b (bf16) equals the CPU's fp32 add of the same values bit for bit. */
  @ParameterizedTest
  @ValueSource(ints = {1, 7, 63, 65, 4099, 100_003})
  void widenedAdd(int n) {
    Harness h = new Harness(DType.F32, n);
    try (Scope s = Scope.open()) {
      Pair a = h.f32(h.rnd.normal(n + 1, 1), n + 1);
      Pair b = h.of(h.rnd.normal(n + 1, 1), DType.BF16, n + 1);
      for (boolean shift : new boolean[] {false, true}) {
        Pair x = shift ? Harness.shifted(a) : a, y = shift ? Harness.shifted(b) : b;
        Pair out = h.outputF32(x.numel());
        h.cpu.add(x.cpu(), y.cpu(), out.cpu());
        h.gpu.add(x.gpu(), y.gpu(), out.gpu());
        assertArrayEquals(out.cpu().toFloatArray(), out.gpu().toFloatArray(), "add fp32 + bf16, n " + n + " shift " + shift);
      }
    }
  }

  /** LayerNorm of fp32 x with a bf16 y, then its backward from a bf16 dy into fp32 dx (+=), dweight, dbias. */
  @ParameterizedTest
  @ValueSource(ints = {1, 7, 64, 65, 768})
  void layerNormWithBf16Output(int cols) {
    for (int rows : new int[] {1, 7, 130}) {
      Harness hb = new Harness(DType.BF16, 13L * rows + cols), h32 = new Harness(DType.F32, 17L * rows + cols);
      try (Scope s = Scope.open()) {
        Pair x = h32.f32(h32.rnd.normal(rows * cols, 2), rows, cols);
        Pair w = h32.f32(h32.rnd.normal(cols, 1), cols), b = h32.f32(h32.rnd.normal(cols, 1), cols);
        Pair y = hb.output(rows, cols), mean = h32.outputF32(rows), rstd = h32.outputF32(rows);
        h32.cpu.layerNorm(x.cpu(), w.cpu(), b.cpu(), y.cpu(), mean.cpu(), rstd.cpu(), 1e-5);
        h32.gpu.layerNorm(x.gpu(), w.gpu(), b.gpu(), y.gpu(), mean.gpu(), rstd.gpu(), 1e-5);
        String at = " (" + rows + ", " + cols + ")";
        hb.check("layerNorm bf16 y" + at, y, Tolerance.F32);
        h32.check("layerNorm mean" + at, mean, Tolerance.F32);
        h32.check("layerNorm rstd" + at, rstd, Tolerance.F32);

        Pair m = h32.f32(Random.toDoubles(mean.cpu().toFloatArray()), rows);
        Pair r = h32.f32(Random.toDoubles(rstd.cpu().toFloatArray()), rows);
        Pair dy = h32.of(h32.rnd.normal(rows * cols, 1), DType.BF16, rows, cols);
        for (boolean flags : new boolean[] {false, true}) {
          Pair dx = h32.f32(h32.rnd.normal(rows * cols, 1), rows, cols);
          Pair dw = h32.f32(h32.rnd.normal(cols, 1), cols), db = h32.f32(h32.rnd.normal(cols, 1), cols);
          h32.cpu.layerNormBackward(x.cpu(), w.cpu(), m.cpu(), r.cpu(), dy.cpu(), dx.cpu(), dw.cpu(), db.cpu(), flags, flags);
          h32.gpu.layerNormBackward(x.gpu(), w.gpu(), m.gpu(), r.gpu(), dy.gpu(), dx.gpu(), dw.gpu(), db.gpu(), flags, flags);
          String how = at + (flags ? " dx +=, params =" : " dx =, params +=");
          h32.check("layerNormBackward bf16 dy: dx" + how, dx, Tolerance.F32_REDUCTION);
          h32.check("layerNormBackward bf16 dy: dweight" + how, dw, Tolerance.F32_REDUCTION);
          h32.check("layerNormBackward bf16 dy: dbias" + how, db, Tolerance.F32_REDUCTION);
        }
        // The same flags on the fp32 and bf16 kernels (x, dy, dx of one dtype).
        for (Harness h : new Harness[] {h32, hb}) {
          Pair xs = h.input(2, rows, cols), dys = h.input(1, rows, cols), dx = h.input(1, rows, cols);
          Pair dw = h.f32(h.rnd.normal(cols, 1), cols), db = h.f32(h.rnd.normal(cols, 1), cols);
          Pair m2 = h.outputF32(rows), r2 = h.outputF32(rows), y2 = h.output(rows, cols);
          h.cpu.layerNorm(xs.cpu(), w.cpu(), b.cpu(), y2.cpu(), m2.cpu(), r2.cpu(), 1e-5);
          Pair m3 = h.f32(Random.toDoubles(m2.cpu().toFloatArray()), rows);
          Pair r3 = h.f32(Random.toDoubles(r2.cpu().toFloatArray()), rows);
          Pair wt = h.input(Random.toDoubles(w.cpu().toFloatArray()), cols);
          h.cpu.layerNormBackward(xs.cpu(), wt.cpu(), m3.cpu(), r3.cpu(), dys.cpu(), dx.cpu(), dw.cpu(), db.cpu(), true, true);
          h.gpu.layerNormBackward(xs.gpu(), wt.gpu(), m3.gpu(), r3.gpu(), dys.gpu(), dx.gpu(), dw.gpu(), db.gpu(), true, true);
          h.check("layerNormBackward dx +=" + at, dx, Tolerance.F32_REDUCTION);
          new Harness(DType.F32, 0).check("layerNormBackward dweight =" + at, dw, Tolerance.F32_REDUCTION);
          new Harness(DType.F32, 0).check("layerNormBackward dbias =" + at, db, Tolerance.F32_REDUCTION);
        }
      }
    }
  }

  /** A linear's bias gradient at GPT-2's shapes (128 row splits, 16-byte loads) and on the scalar path. */
  @Test
  void biasGradientColumnSums() {
    int[][] shapes = {{8192, 768, 16}, {8192, 3072, 16}, {1000, 9, 8}, {65, 264, 8}};
    for (int[] sh : shapes) {
      int rows = sh[0], n = sh[1], k = sh[2];
      for (DType t : new DType[] {DType.BF16, DType.F32}) {
        Harness h = new Harness(t, rows + n), h32 = new Harness(DType.F32, 1);
        try (Scope s = Scope.open()) {
          Pair a = h.input(1, rows, k), w = h.input(1, n, k), dc = h.input(1, rows, n);
          Pair dbias = h.f32(h.rnd.normal(n, 1), n);
          h.cpu.matmulBackward(a.cpu(), w.cpu(), dc.cpu(), null, null, dbias.cpu(), false, true, 1.0, false, true);
          h.gpu.matmulBackward(a.gpu(), w.gpu(), dc.gpu(), null, null, dbias.gpu(), false, true, 1.0, false, true);
          h32.check("dbias += column sums " + t + " (" + rows + ", " + n + ")", dbias, Tolerance.F32_REDUCTION);
        }
      }
    }
  }

  /**
   * One pre-LN residual branch through the autograd under a bf16 Autocast, x + linear(layerNorm(x)), both
   * ways: layerNormForLinear (bf16 LayerNorm output, the widened add, the gradient passed on) and the
   * composition it replaces (fp32 LayerNorm, the linear's cast, a cast of the branch back to fp32). The
   * values are the same roundings, so the output and every gradient must agree bit for bit.
   */
  @Test
  void layerNormForLinearEqualsTheCastPath() {
    Device gpu = Device.cuda(0);
    long rows = 2 * 130, c = 64;
    Random rnd = new Random(5);
    float[] xv = Random.toFloats(rnd.normal((int) (rows * c), 1.5)), wv = Random.toFloats(rnd.normal((int) c, 1));
    float[] bv = Random.toFloats(rnd.normal((int) c, 1)), lw = Random.toFloats(rnd.normal((int) (c * c), 0.1));
    float[] lb = Random.toFloats(rnd.normal((int) c, 0.1)), seed = Random.toFloats(rnd.normal((int) (rows * c), 1));
    float[][] results = new float[2][];
    float[][][] grads = new float[2][][];
    for (int way = 0; way < 2; way++) {
      try (Scope s = Scope.open()) {
        Tensor x = Tensor.of(xv, gpu, 2, rows / 2, c).setRequiresGrad(true);
        Tensor w = Tensor.of(wv, gpu, c).setRequiresGrad(true), b = Tensor.of(bv, gpu, c).setRequiresGrad(true);
        Tensor weight = Tensor.of(lw, gpu, c, c).setRequiresGrad(true), bias = Tensor.of(lb, gpu, c).setRequiresGrad(true);
        try (Autocast ac = Autocast.open(Precision.BF16, gpu); Tape tape = Tape.record()) {
          Tensor h = way == 0 ? Ops.layerNormForLinear(x, w, b, 1e-5) : Ops.layerNorm(x, w, b, 1e-5);
          Tensor out = Ops.add(x, Ops.linear(h, weight, bias));
          tape.backward(out, Tensor.of(seed, gpu, 2, rows / 2, c));
          results[way] = out.toFloatArray();
        }
        Tensor[] leaves = {x, w, b, weight, bias};
        grads[way] = new float[leaves.length][];
        for (int i = 0; i < leaves.length; i++) {
          grads[way][i] = leaves[i].grad().toFloatArray();
          leaves[i].grad().close();
        }
      }
    }
    assertArrayEquals(results[1], results[0], "output");
    String[] names = {"x", "ln weight", "ln bias", "linear weight", "linear bias"};
    for (int i = 0; i < names.length; i++) assertArrayEquals(grads[1][i], grads[0][i], "gradient of " + names[i]);
  }
}
