package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertAllWritten;
import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Poison;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.LayerNormReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * layerNorm forward (y, mean, rstd) and backward (dx written, dweight and dbias accumulated) against
 * {@link LayerNormReference}, on inputs with a large mean and a small spread (a one-pass fp32 variance
 * would lose most of its digits there).
 */
class LayerNormOpTest {
  private static final double EPS = 1e-5;
  private final Backend cpu = Backend.of(Device.CPU);

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 63, 65, 127, 768})
  void matchesReference(int cols) {
    for (int rows : Random.AWKWARD) {
      for (boolean withBias : new boolean[] {true, false}) {
        check(rows, cols, withBias);
      }
    }
  }

  private void check(int rows, int cols, boolean withBias) {
    String what = "layerNorm " + rows + "x" + cols + (withBias ? "" : " no bias");
    Random rnd = new Random(97L * rows + cols);
    double[] x = Random.roundToFloat(rnd.normal(rows * cols, 0.5));
    for (int i = 0; i < x.length; i++) x[i] = (float) (x[i] + 30);
    double[] weight = Random.roundToFloat(rnd.normal(cols, 1));
    double[] bias = withBias ? Random.roundToFloat(rnd.normal(cols, 1)) : null;
    double[] dy = Random.roundToFloat(rnd.normal(rows * cols, 1));
    double[] dweight0 = Random.roundToFloat(rnd.normal(cols, 1));
    double[] dbias0 = Random.roundToFloat(rnd.normal(cols, 1));
    LayerNormReference.Forward f = LayerNormReference.forward(x, weight, bias, rows, cols, EPS);
    LayerNormReference.Backward b = LayerNormReference.backward(x, weight, dy, rows, cols, EPS);
    try (Scope s = Scope.open()) {
      Tensor tx = Random.tensor(x, rows, cols), tw = Random.tensor(weight, cols);
      Tensor tb = withBias ? Random.tensor(bias, cols) : null;
      Tensor y = Poison.nan(rows, cols), mean = Poison.nan(rows), rstd = Poison.nan(rows);
      cpu.layerNorm(tx, tw, tb, y, mean, rstd, EPS);
      assertAllWritten(what + " y", y);
      assertAllWritten(what + " mean", mean);
      assertAllWritten(what + " rstd", rstd);
      assertClose(what + " y", f.y(), y, Tolerance.F32);
      assertClose(what + " mean", f.mean(), mean, Tolerance.F32);
      assertClose(what + " rstd", f.rstd(), rstd, Tolerance.F32);

      Tensor dx = Poison.nan(rows, cols), dweight = Random.tensor(dweight0, cols);
      Tensor dbias = withBias ? Random.tensor(dbias0, cols) : null;
      cpu.layerNormBackward(tx, tw, mean, rstd, Random.tensor(dy, rows, cols), dx, dweight, dbias);
      assertAllWritten(what + " dx", dx);
      assertClose(what + " dx", b.dx(), dx, Tolerance.F32);
      assertClose(what + " dweight +=", plus(dweight0, b.dweight()), dweight, Tolerance.F32);
      if (withBias) assertClose(what + " dbias +=", plus(dbias0, b.dbias()), dbias, Tolerance.F32);
    }
  }

  /** The dweight/dbias column sums are fixed-order: bit-identical for 1 and 2 threads. */
  @Test
  void parameterGradientsDoNotDependOnThreadCount() {
    int rows = 1000, cols = 768;
    Random rnd = new Random(11);
    double[] x = rnd.normal(rows * cols, 1), weight = rnd.normal(cols, 1), dy = rnd.normal(rows * cols, 1);
    float[][] one = run(1, x, weight, dy, rows, cols), two = run(2, x, weight, dy, rows, cols);
    for (int i = 0; i < one.length; i++) assertArrayEquals(one[i], two[i], "output " + i + " of 1 vs 2 threads");
  }

  private float[][] run(int threads, double[] x, double[] weight, double[] dy, int rows, int cols) {
    int before = CpuBackend.threads();
    CpuBackend.setThreads(threads);
    try (Scope s = Scope.open()) {
      Tensor tx = Random.tensor(x, rows, cols), tw = Random.tensor(weight, cols);
      Tensor y = Poison.nan(rows, cols), mean = Poison.nan(rows), rstd = Poison.nan(rows);
      Tensor dx = Poison.nan(rows, cols), dweight = Poison.nan(cols), dbias = Poison.nan(cols);
      cpu.fill(dweight, 0);
      cpu.fill(dbias, 0);
      cpu.layerNorm(tx, tw, tw, y, mean, rstd, EPS);
      cpu.layerNormBackward(tx, tw, mean, rstd, Random.tensor(dy, rows, cols), dx, dweight, dbias);
      return new float[][] {y.toFloatArray(), dx.toFloatArray(), dweight.toFloatArray(), dbias.toFloatArray()};
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
