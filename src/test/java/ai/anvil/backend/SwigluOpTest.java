package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertAllWritten;
import static ai.anvil.testkit.Assertions.assertClose;

import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Poison;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.SwigluReference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * swiglu forward and backward (written and accumulated, each side alone) against
 * {@link SwigluReference}, with gates from -100 to 100 (both tails of the sigmoid) plus exact zeros.
 */
class SwigluOpTest {
  private final Backend cpu = Backend.of(Device.CPU);

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 63, 65, 127, 4099, 70001})
  void matchesReference(int n) {
    String what = "swiglu n" + n;
    Random rnd = new Random(n);
    double[] a = Random.roundToFloat(rnd.uniform(n, 12));
    for (int i = 0; i < n; i += 17) a[i] = (float) ((i % 2 == 0 ? 1 : -1) * (20 + (i % 80)));
    for (int i = 5; i < n; i += 31) a[i] = 0;
    double[] b = Random.roundToFloat(rnd.normal(n, 1)), dout = Random.roundToFloat(rnd.normal(n, 1));
    double[] da0 = Random.roundToFloat(rnd.normal(n, 1)), db0 = Random.roundToFloat(rnd.normal(n, 1));
    double[] out = SwigluReference.forward(a, b);
    SwigluReference.Backward g = SwigluReference.backward(a, b, dout);
    try (Scope s = Scope.open()) {
      Tensor ta = Random.tensor(a, n), tb = Random.tensor(b, n), td = Random.tensor(dout, n);
      Tensor tout = Poison.nan(n);
      cpu.swiglu(ta, tb, tout);
      assertAllWritten(what + " out", tout);
      assertClose(what + " out", out, tout, Tolerance.F32);
      Tensor da = Poison.nan(n), db = Poison.nan(n);
      cpu.swigluBackward(ta, tb, td, da, db, false);
      assertAllWritten(what + " da", da);
      assertAllWritten(what + " db", db);
      assertClose(what + " da", g.da(), da, Tolerance.F32);
      assertClose(what + " db", g.db(), db, Tolerance.F32);
      Tensor da2 = Random.tensor(da0, n), db2 = Random.tensor(db0, n);
      cpu.swigluBackward(ta, tb, td, da2, null, true);
      cpu.swigluBackward(ta, tb, td, null, db2, true);
      assertClose(what + " da +=", plus(da0, g.da()), da2, Tolerance.F32);
      assertClose(what + " db +=", plus(db0, g.db()), db2, Tolerance.F32);
    }
  }

  private static double[] plus(double[] a, double[] b) {
    double[] c = new double[a.length];
    for (int i = 0; i < a.length; i++) c[i] = a[i] + b[i];
    return c;
  }
}
