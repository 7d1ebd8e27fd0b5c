package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertAllWritten;
import static ai.anvil.testkit.Assertions.assertClose;

import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Poison;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.GeluReference;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** gelu (tanh and erf forms) forward and backward against {@link GeluReference}. */
class GeluOpTest {
  private final Backend cpu = Backend.of(Device.CPU);

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 63, 65, 127, 100_003})
  void matchesReference(int n) {
    Random rnd = new Random(n);
    double[] x = Random.roundToFloat(rnd.normal(n, 3));
    double[] dy = Random.roundToFloat(rnd.normal(n, 1));
    double[] acc = Random.roundToFloat(rnd.normal(n, 1));
    for (boolean tanh : new boolean[] {true, false}) {
      String form = tanh ? "gelu tanh n=" + n : "gelu erf n=" + n;
      try (Scope s = Scope.open()) {
        Tensor tx = Random.tensor(x, n), tdy = Random.tensor(dy, n);
        Tensor y = Poison.nan(n), dx = Poison.nan(n);
        cpu.gelu(tx, y, tanh);
        assertAllWritten(form + " y", y);
        assertClose(form + " y", GeluReference.forward(x, tanh), y, Tolerance.F32);

        double[] expected = GeluReference.backward(x, dy, tanh);
        cpu.geluBackward(tx, tdy, dx, tanh, false);
        assertAllWritten(form + " dx", dx);
        assertClose(form + " dx", expected, dx, Tolerance.F32);

        Tensor sum = Random.tensor(acc, n);
        cpu.geluBackward(tx, tdy, sum, tanh, true);
        for (int i = 0; i < n; i++) expected[i] += acc[i];
        assertClose(form + " dx +=", expected, sum, Tolerance.F32);
      }
    }
  }

  /**
   * Through both tails: the kernels keep relative accuracy where the textbook 0.5 x (1 + tanh/erf)
   * cancels to 0 (it is off by 100% below x = -5 or so). Values under 1e-35 may flush to 0.
   */
  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void tailsKeepRelativeAccuracy(boolean tanh) {
    int n = 24_001;
    double[] x = new double[n];
    for (int i = 0; i < n; i++) x[i] = (float) (-12 + 24.0 * i / (n - 1));
    try (Scope s = Scope.open()) {
      Tensor y = Poison.nan(n), dx = Poison.nan(n);
      Tensor tx = Random.tensor(x, n);
      cpu.gelu(tx, y, tanh);
      assertClose("gelu tail y, tanh=" + tanh, GeluReference.forward(x, tanh), y, new Tolerance(1e-35, 1e-5));
      double[] ones = new double[n];
      Arrays.fill(ones, 1);
      cpu.geluBackward(tx, Random.tensor(ones, n), dx, tanh, false);
      // gelu' crosses 0 near x = -0.75, so the slope is judged absolutely there.
      assertClose("gelu tail slope, tanh=" + tanh, GeluReference.backward(x, ones, tanh), dx,
          new Tolerance(1e-6, 1e-5));
    }
  }
}
