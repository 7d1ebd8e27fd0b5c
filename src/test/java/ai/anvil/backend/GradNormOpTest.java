package ai.anvil.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** gradNorm: fp64 accumulation over a list, so it matches an fp64 sum to ~1e-14, for any thread count. */
class GradNormOpTest {
  private final Backend cpu = Backend.of(Device.CPU);

  @Test
  void matchesFp64SumForAnyThreadCount() {
    int[] sizes = {1, 7, 63, 65, 127, 1 << 17, 300_001};
    Random rnd = new Random(31);
    double expected = 0;
    int before = CpuBackend.threads();
    try (Scope s = Scope.open()) {
      List<Tensor> grads = new ArrayList<>();
      for (int n : sizes) {
        double[] g = Random.roundToFloat(rnd.normal(n, 1e-3));
        for (double x : g) expected += x * x;
        grads.add(Random.tensor(g, n));
      }
      expected = Math.sqrt(expected);
      CpuBackend.setThreads(1);
      double one = cpu.gradNorm(grads);
      CpuBackend.setThreads(2);
      double two = cpu.gradNorm(grads);
      assertEquals(expected, one, 1e-12 * expected);
      assertEquals(Double.doubleToLongBits(one), Double.doubleToLongBits(two), "1 vs 2 threads bit-identical");
    } finally {
      CpuBackend.setThreads(before);
    }
  }
}
