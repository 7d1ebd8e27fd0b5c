package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertClose;

import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.AdamWReference;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * adamw over a list of tensors of awkward sizes (decay on every other one, a clipping scale) for three
 * steps, against {@link AdamWReference}.
 */
class AdamWOpTest {
  private final Backend cpu = Backend.of(Device.CPU);

  @Test
  void threeStepsMatchReference() {
    int[] sizes = {1, 7, 63, 65, 127, 100_003};
    boolean[] decay = new boolean[sizes.length];
    Random rnd = new Random(29);
    double[][] p = new double[sizes.length][], g = new double[sizes.length][], m = new double[sizes.length][],
        v = new double[sizes.length][];
    for (int k = 0; k < sizes.length; k++) {
      decay[k] = k % 2 == 1;
      p[k] = Random.roundToFloat(rnd.normal(sizes[k], 1));
      g[k] = Random.roundToFloat(rnd.normal(sizes[k], 0.1));
      m[k] = Random.roundToFloat(rnd.normal(sizes[k], 0.01));
      v[k] = Random.roundToFloat(rnd.normal(sizes[k], 1e-3));
      for (int i = 0; i < sizes[k]; i++) v[k][i] = (float) (v[k][i] * v[k][i]);
    }
    try (Scope s = Scope.open()) {
      List<Tensor> tp = new ArrayList<>(), tg = new ArrayList<>(), tm = new ArrayList<>(), tv = new ArrayList<>();
      for (int k = 0; k < sizes.length; k++) {
        tp.add(Random.tensor(p[k], sizes[k]));
        tg.add(Random.tensor(g[k], sizes[k]));
        tm.add(Random.tensor(m[k], sizes[k]));
        tv.add(Random.tensor(v[k], sizes[k]));
      }
      for (long step = 1; step <= 3; step++) {
        AdamWStep hyper = new AdamWStep(3e-3, 0.9, 0.95, 1e-8, 0.1, step, 0.5);
        cpu.adamw(tp, tg, tm, tv, decay, hyper);
        for (int k = 0; k < sizes.length; k++) AdamWReference.step(p[k], g[k], m[k], v[k], decay[k], hyper);
      }
      for (int k = 0; k < sizes.length; k++) {
        String what = "adamw tensor " + k + " (" + sizes[k] + (decay[k] ? ", decay)" : ")");
        assertClose(what + " p", p[k], tp.get(k), Tolerance.F32);
        assertClose(what + " m", m[k], tm.get(k), Tolerance.F32);
        assertClose(what + " v", v[k], tv.get(k), Tolerance.F32);
      }
    }
  }
}
