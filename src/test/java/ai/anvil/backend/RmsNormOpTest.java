package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertAllWritten;
import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Poison;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.RmsNormReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * rmsNorm forward (y, rstd) and backward (dx written, dweight accumulated) against
 * {@link RmsNormReference}, on rows with a large common offset (a fp32 sum of squares in one long chain
 * would lose digits there).
 */
class RmsNormOpTest {
  private static final double EPS = 1e-6;
  private final Backend cpu = Backend.of(Device.CPU);

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 63, 65, 127, 768})
  void matchesReference(int cols) {
    for (int rows : Random.AWKWARD) check(rows, cols);
  }

  private void check(int rows, int cols) {
    String what = "rmsNorm " + rows + "x" + cols;
    Random rnd = new Random(31L * rows + cols);
    double[] x = Random.roundToFloat(rnd.normal(rows * cols, 2));
    for (int i = 0; i < x.length; i += 3) x[i] = (float) (x[i] + 20);
    double[] weight = Random.roundToFloat(rnd.normal(cols, 1));
    double[] dy = Random.roundToFloat(rnd.normal(rows * cols, 1));
    double[] dweight0 = Random.roundToFloat(rnd.normal(cols, 1));
    RmsNormReference.Forward f = RmsNormReference.forward(x, weight, rows, cols, EPS);
    RmsNormReference.Backward b = RmsNormReference.backward(x, weight, dy, rows, cols, EPS);
    try (Scope s = Scope.open()) {
      Tensor tx = Random.tensor(x, rows, cols), tw = Random.tensor(weight, cols);
      Tensor y = Poison.nan(rows, cols), rstd = Poison.nan(rows);
      cpu.rmsNorm(tx, tw, y, rstd, EPS);
      assertAllWritten(what + " y", y);
      assertAllWritten(what + " rstd", rstd);
      assertClose(what + " y", f.y(), y, Tolerance.F32);
      assertClose(what + " rstd", f.rstd(), rstd, Tolerance.F32);

      Tensor dx = Poison.nan(rows, cols), dweight = Random.tensor(dweight0, cols);
      cpu.rmsNormBackward(tx, tw, rstd, Random.tensor(dy, rows, cols), dx, dweight, EPS);
      assertAllWritten(what + " dx", dx);
      assertClose(what + " dx", b.dx(), dx, Tolerance.F32);
      assertClose(what + " dweight +=", plus(dweight0, b.dweight()), dweight, Tolerance.F32);

      // Inference: no rstd; only the weight gradient; only dx.
      Tensor y2 = Poison.nan(rows, cols);
      cpu.rmsNorm(tx, tw, y2, null, EPS);
      assertArrayEquals(y.toFloatArray(), y2.toFloatArray(), what + " y without rstd");
      Tensor dweight2 = Random.tensor(dweight0, cols);
      cpu.rmsNormBackward(tx, tw, rstd, Random.tensor(dy, rows, cols), null, dweight2, EPS);
      assertArrayEquals(dweight.toFloatArray(), dweight2.toFloatArray(), what + " dweight without dx");
      Tensor dx2 = Poison.nan(rows, cols);
      cpu.rmsNormBackward(tx, tw, rstd, Random.tensor(dy, rows, cols), dx2, null, EPS);
      assertArrayEquals(dx.toFloatArray(), dx2.toFloatArray(), what + " dx without dweight");
    }
  }

  /** The dweight column sums are fixed-order: bit-identical for 1 and 2 threads. */
  @Test
  void weightGradientDoesNotDependOnThreadCount() {
    int rows = 1000, cols = 768;
    Random rnd = new Random(12);
    double[] x = rnd.normal(rows * cols, 1), weight = rnd.normal(cols, 1), dy = rnd.normal(rows * cols, 1);
    float[][] one = run(1, x, weight, dy, rows, cols), two = run(2, x, weight, dy, rows, cols);
    for (int i = 0; i < one.length; i++) assertArrayEquals(one[i], two[i], "output " + i + " of 1 vs 2 threads");
  }

  @Test
  void refusesBadArguments() {
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(ai.anvil.tensor.DType.F32, Device.CPU, 2, 4);
      assertThrows(IllegalArgumentException.class, () -> cpu.rmsNorm(x, Tensor.zeros(ai.anvil.tensor.DType.F32,
          Device.CPU, 3), Poison.nan(2, 4), null, EPS));
      assertThrows(IllegalArgumentException.class, () -> cpu.rmsNorm(x, Tensor.zeros(ai.anvil.tensor.DType.F32,
          Device.CPU, 4), Poison.nan(2, 4), Poison.nan(3), EPS));
      assertThrows(IllegalArgumentException.class, () -> cpu.rmsNorm(x, Tensor.zeros(ai.anvil.tensor.DType.F32,
          Device.CPU, 4), x, null, EPS));
      assertThrows(IllegalArgumentException.class, () -> cpu.rmsNormBackward(x, Tensor.zeros(ai.anvil.tensor.DType.F32,
          Device.CPU, 4), null, x, Poison.nan(2, 4), null, EPS));
    }
  }

  private float[][] run(int threads, double[] x, double[] weight, double[] dy, int rows, int cols) {
    int before = CpuBackend.threads();
    CpuBackend.setThreads(threads);
    try (Scope s = Scope.open()) {
      Tensor tx = Random.tensor(x, rows, cols), tw = Random.tensor(weight, cols);
      Tensor y = Poison.nan(rows, cols), rstd = Poison.nan(rows), dx = Poison.nan(rows, cols), dweight = Poison.nan(cols);
      cpu.fill(dweight, 0);
      cpu.rmsNorm(tx, tw, y, rstd, EPS);
      cpu.rmsNormBackward(tx, tw, rstd, Random.tensor(dy, rows, cols), dx, dweight, EPS);
      return new float[][] {y.toFloatArray(), dx.toFloatArray(), dweight.toFloatArray()};
    } finally {
      CpuBackend.setThreads(before);
    }
  }

  private static double[] plus(double[] a, double[] b) {
    double[] c = new double[a.length];
    for (int i = 0; i < a.length; i++) c[i] = a[i] + b[i];
    return c;
  }
}
