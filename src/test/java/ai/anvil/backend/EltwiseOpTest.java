package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertAllWritten;
import static ai.anvil.testkit.Assertions.assertClose;

import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Poison;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.tensor.Device;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** add, mul, scale, axpy and their backwards against plain fp64 math, at awkward sizes. */
class EltwiseOpTest {
  private final Backend cpu = Backend.of(Device.CPU);

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 63, 65, 127, 100_003})
  void forwardMatchesReference(int n) {
    Random rnd = new Random(n);
    double[] a = Random.roundToFloat(rnd.uniform(n, 2));
    double[] b = Random.roundToFloat(rnd.uniform(n, 2));
    double[] sum = new double[n], prod = new double[n], scaled = new double[n], axpy = new double[n];
    for (int i = 0; i < n; i++) {
      sum[i] = a[i] + b[i];
      prod[i] = a[i] * b[i];
      scaled[i] = -1.5 * a[i];
      axpy[i] = b[i] + 0.25 * a[i];
    }
    try (Scope s = Scope.open()) {
      Tensor ta = Random.tensor(a, n), tb = Random.tensor(b, n);
      Tensor out = Poison.nan(n);
      cpu.add(ta, tb, out);
      assertAllWritten("add", out);
      assertClose("add", sum, out, Tolerance.F32);
      cpu.mul(ta, tb, out);
      assertClose("mul", prod, out, Tolerance.F32);
      cpu.scale(ta, -1.5, out);
      assertClose("scale", scaled, out, Tolerance.F32);
      cpu.copy(tb, out);
      cpu.axpy(0.25, ta, out);
      assertClose("axpy", axpy, out, Tolerance.F32);
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 65, 4097})
  void backwardMatchesReferenceAndAccumulates(int n) {
    Random rnd = new Random(7 * n);
    double[] a = Random.roundToFloat(rnd.uniform(n, 1));
    double[] b = Random.roundToFloat(rnd.uniform(n, 1));
    double[] d = Random.roundToFloat(rnd.uniform(n, 1));
    double[] da = new double[n], db = new double[n], twice = new double[n];
    for (int i = 0; i < n; i++) {
      da[i] = d[i] * b[i];
      db[i] = d[i] * a[i];
      twice[i] = 2 * da[i];
    }
    try (Scope s = Scope.open()) {
      Tensor ta = Random.tensor(a, n), tb = Random.tensor(b, n), td = Random.tensor(d, n);
      Tensor ga = Poison.nan(n), gb = Poison.nan(n);
      cpu.mulBackward(ta, tb, td, ga, gb, false);
      assertClose("mul da", da, ga, Tolerance.F32);
      assertClose("mul db", db, gb, Tolerance.F32);
      cpu.mulBackward(ta, tb, td, ga, null, true);
      assertClose("mul da accumulated", twice, ga, Tolerance.F32);
      cpu.addBackward(td, ga, gb, false);
      assertClose("add da", d, ga, Tolerance.F32);
      assertClose("add db", d, gb, Tolerance.F32);
    }
  }
}
