package ai.anvil.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.backend.Backend;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.GeluReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Ops.linearGelu (the GEMM's GELU epilogue) on the CPU: bit-identical to gelu(linear(x, W, b), true) in
 * values and in every gradient (the CPU runs the same kernels on the same floats, in the same order), and
 * within fp32 tolerance of a plain fp64 computation, so the two cannot agree on a wrong answer. Also
 * Linear.forwardGelu and the backend's refusals of a missing or mismatched pre-activation.
 */
class LinearGeluTest {
  /** x dims (the last is in), out, bias. */
  static Stream<Arguments> shapes() {
    return Stream.of(
        Arguments.of(new long[] {1, 1}, 1, true),
        Arguments.of(new long[] {7, 63}, 65, true),
        Arguments.of(new long[] {2, 7, 65}, 127, false),
        Arguments.of(new long[] {3, 5, 33}, 96, true),
        Arguments.of(new long[] {130, 40}, 72, true));
  }

  private record Result(float[] y, float[] dx, float[] dw, float[] db) {}

  /** y = f(x, W, b) under a tape, then the backward from dy; every array is a copy. */
  private static Result run(boolean fused, double[] x, long[] xDims, double[] w, double[] b, long out, double[] dy) {
    long in = xDims[xDims.length - 1];
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor xt = Random.tensor(x, xDims).setRequiresGrad(true);
      Tensor wt = Random.tensor(w, out, in).setRequiresGrad(true);
      Tensor bt = b == null ? null : Random.tensor(b, out).setRequiresGrad(true);
      Tensor y = fused ? Ops.linearGelu(xt, wt, bt) : Ops.gelu(Ops.linear(xt, wt, bt), true);
      long[] yDims = xDims.clone();
      yDims[yDims.length - 1] = out;
      tape.backward(y, Random.tensor(dy, yDims));
      return new Result(y.toFloatArray(), xt.grad().toFloatArray(), wt.grad().toFloatArray(),
          bt == null ? null : bt.grad().toFloatArray());
    }
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void fusedEqualsGeluOfLinearBitForBitAndTheFp64Math(long[] xDims, int out, boolean bias) {
    Random rnd = new Random(xDims.length * 1000L + out);
    long in = xDims[xDims.length - 1];
    int rows = 1;
    for (int i = 0; i < xDims.length - 1; i++) rows *= (int) xDims[i];
    double[] x = Random.roundToFloat(rnd.normal(rows * (int) in, 1));
    double[] w = Random.roundToFloat(rnd.normal(out * (int) in, 1 / Math.sqrt(in)));
    double[] b = bias ? Random.roundToFloat(rnd.normal(out, 0.5)) : null;
    double[] dy = Random.roundToFloat(rnd.normal(rows * out, 1));

    Result fused = run(true, x, xDims, w, b, out, dy);
    Result plain = run(false, x, xDims, w, b, out, dy);
    String at = " x " + java.util.Arrays.toString(xDims) + " out " + out + (bias ? "" : " no bias");
    assertArrayEquals(plain.y, fused.y, "y" + at);
    assertArrayEquals(plain.dx, fused.dx, "dx" + at);
    assertArrayEquals(plain.dw, fused.dw, "dweight" + at);
    if (bias) assertArrayEquals(plain.db, fused.db, "dbias" + at);
    else assertNull(fused.db);

    // fp64: pre = x W^T + b, y = gelu(pre), dpre = dy gelu'(pre), dx = dpre W, dW = dpre^T x, db = colsum dpre
    double[] pre = new double[rows * out];
    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double v = bias ? b[o] : 0;
        for (int i = 0; i < in; i++) v += x[r * (int) in + i] * w[o * (int) in + i];
        pre[r * out + o] = v;
      }
    }
    double[] dpre = GeluReference.backward(pre, dy, true);
    double[] dx = new double[rows * (int) in], dw = new double[out * (int) in], db = new double[out];
    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double g = dpre[r * out + o];
        db[o] += g;
        for (int i = 0; i < in; i++) {
          dx[r * (int) in + i] += g * w[o * (int) in + i];
          dw[o * (int) in + i] += g * x[r * (int) in + i];
        }
      }
    }
    Assertions.assertClose("y vs fp64" + at, GeluReference.forward(pre, true), fused.y, Tolerance.F32_REDUCTION);
    Assertions.assertClose("dx vs fp64" + at, dx, fused.dx, Tolerance.F32_REDUCTION);
    Assertions.assertClose("dweight vs fp64" + at, dw, fused.dw, Tolerance.F32_REDUCTION);
    if (bias) Assertions.assertClose("dbias vs fp64" + at, db, fused.db, Tolerance.F32_REDUCTION);
  }

  @Test
  void withoutATapeNoPreActivationIsKeptAndTheValuesAreTheSame() {
    Random rnd = new Random(5);
    try (Scope s = Scope.open()) {
      Tensor x = Random.tensor(rnd.normal(7 * 9, 1), 7, 9);
      Tensor w = Random.tensor(rnd.normal(5 * 9, 0.3), 5, 9);
      Tensor b = Random.tensor(rnd.normal(5, 0.3), 5);
      assertArrayEquals(Ops.gelu(Ops.linear(x, w, b), true).toFloatArray(), Ops.linearGelu(x, w, b).toFloatArray());
    }
  }

  @Test
  void linearForwardGeluIsGeluOfForwardWithAndWithoutADelta() {
    Random rnd = new Random(11);
    try (Scope s = Scope.open()) {
      Linear layer = new Linear(24, 40, true, 0.2, new Init(3), Device.CPU);
      Tensor x = Random.tensor(rnd.normal(2 * 5 * 24, 1), 2, 5, 24);
      assertArrayEquals(Ops.gelu(layer.forward(x), true).toFloatArray(), layer.forwardGelu(x).toFloatArray());
      Tensor other = Random.tensor(rnd.normal(40 * 24, 0.2), 40, 24);
      layer.setDelta((in, from, to) -> Ops.linear(in, other, null));  // a LoRA-like term
      float[] withDelta = layer.forwardGelu(x).toFloatArray();
      assertArrayEquals(Ops.gelu(layer.forward(x), true).toFloatArray(), withDelta);
      layer.setDelta(null);
    }
  }

  @Test
  void theBackendRefusesAMissingOrMismatchedPreActivation() {
    Backend cpu = Backend.of(Device.CPU);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, Device.CPU, 4, 3), w = Tensor.zeros(DType.F32, Device.CPU, 5, 3);
      Tensor y = Tensor.zeros(DType.F32, Device.CPU, 4, 5), pre = Tensor.zeros(DType.F32, Device.CPU, 4, 5);
      Tensor dy = Tensor.zeros(DType.F32, Device.CPU, 4, 5), dx = Tensor.zeros(DType.F32, Device.CPU, 4, 3);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> cpu.matmulGeluBackward(x, w, null, dy, dx, null, null, false, true, 1.0, false, false));
      assertTrue(e.getMessage().startsWith("matmulGeluBackward") && e.getMessage().contains("pre"), e.getMessage());
      Tensor small = Tensor.zeros(DType.F32, Device.CPU, 4, 4);
      e = assertThrows(IllegalArgumentException.class,
          () -> cpu.matmulGeluBackward(x, w, small, dy, dx, null, null, false, true, 1.0, false, false));
      assertTrue(e.getMessage().contains("pre must have shape"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> cpu.matmulGelu(x, w, null, y, small, false, true, 1.0));
      assertTrue(e.getMessage().startsWith("matmulGelu") && e.getMessage().contains("pre"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> cpu.matmulGelu(x, w, null, y, y, false, true, 1.0));
      assertTrue(e.getMessage().contains("overlaps"), e.getMessage());
      Tensor low = Tensor.empty(DType.BF16, Device.CPU, 4, 5);
      e = assertThrows(IllegalArgumentException.class, () -> cpu.matmulGelu(x, w, null, y, low, false, true, 1.0));
      assertTrue(e.getMessage().contains("pre is BF16"), e.getMessage());
      Tensor sq = Tensor.zeros(DType.F32, Device.CPU, 5, 5), x5 = Tensor.zeros(DType.F32, Device.CPU, 4, 5);
      e = assertThrows(IllegalArgumentException.class,
          () -> cpu.matmulGeluBackward(x5, sq, pre, dy, pre, null, null, false, true, 1.0, false, false));
      assertTrue(e.getMessage().contains("da overlaps"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> Ops.linearGelu(x, Tensor.zeros(DType.F32, Device.CPU, 5, 4), null));
      assertTrue(e.getMessage().startsWith("linearGelu"), e.getMessage());
      // pre = c would be overwritten by the GELU before anything reads it: refused
      e = assertThrows(IllegalArgumentException.class, () -> cpu.matmulGelu(x, w, null, pre, pre, false, true, 1.0));
      assertTrue(e.getMessage().contains("overlaps"), e.getMessage());
    }
  }
}
