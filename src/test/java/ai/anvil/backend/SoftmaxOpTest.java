package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertAllWritten;
import static ai.anvil.testkit.Assertions.assertClose;

import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Poison;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.SoftmaxReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** softmax forward and backward against {@link SoftmaxReference}, with masked and fully masked rows. */
class SoftmaxOpTest {
  private final Backend cpu = Backend.of(Device.CPU);

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 63, 65, 127})
  void matchesReference(int cols) {
    for (int rows : Random.AWKWARD) {
      for (double scale : new double[] {1.0, 0.125}) {
        check(rows, cols, scale, Tolerance.F32);
      }
    }
  }

  @Test
  void vocabularyWideRows() {
    check(3, 50_257, 1.0, Tolerance.F32_REDUCTION);
  }

  private void check(int rows, int cols, double scale, Tolerance tol) {
    String what = "softmax " + rows + "x" + cols + " scale " + scale;
    Random rnd = new Random(31L * rows + cols);
    double[] x = Random.roundToFloat(rnd.normal(rows * cols, 4));
    double[] dy = Random.roundToFloat(rnd.normal(rows * cols, 1));
    for (int i = 0; i < x.length; i += 5) x[i] = Double.NEGATIVE_INFINITY;  // masked entries
    if (rows > 1) {
      for (int j = 0; j < cols; j++) x[(rows - 1) * cols + j] = Double.NEGATIVE_INFINITY;  // a fully masked row
    }
    double[] y = SoftmaxReference.forward(x, rows, cols, scale);
    try (Scope s = Scope.open()) {
      Tensor tx = Random.tensor(x, rows, cols), ty = Poison.nan(rows, cols), tdx = Poison.nan(rows, cols);
      cpu.softmax(tx, ty, scale);
      assertAllWritten(what + " y", ty);
      assertClose(what + " y", y, ty, tol);
      // The backward uses the kernel's own y, as autograd does.
      cpu.softmaxBackward(ty, Random.tensor(dy, rows, cols), tdx, scale);
      assertAllWritten(what + " dx", tdx);
      assertClose(what + " dx", SoftmaxReference.backward(y, dy, rows, cols, scale), tdx, tol);
    }
  }
}
