package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertAllWritten;
import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Poison;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.RepeatKvReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** repeatKv forward (a copy: exact) and backward (group sums, written and accumulated). */
class RepeatKvOpTest {
  private final Backend cpu = Backend.of(Device.CPU);

  @ParameterizedTest
  @CsvSource({"1, 1, 2, 1", "7, 2, 3, 6", "63, 1, 8, 64", "65, 4, 2, 7", "127, 8, 4, 128"})
  void matchesReference(int rows, int kvHeads, int groups, int headDim) {
    String what = "repeatKv rows" + rows + " kv" + kvHeads + " x" + groups + " D" + headDim;
    int in = kvHeads * headDim, out = in * groups;
    Random rnd = new Random(rows * 100L + kvHeads * 10L + groups);
    double[] x = Random.roundToFloat(rnd.normal(rows * in, 1)), dout = Random.roundToFloat(rnd.normal(rows * out, 1));
    double[] dx0 = Random.roundToFloat(rnd.normal(rows * in, 1));
    double[] dx = RepeatKvReference.backward(dout, rows, kvHeads, groups, headDim);
    try (Scope s = Scope.open()) {
      Tensor tout = Poison.nan(1, rows, out);
      cpu.repeatKv(Random.tensor(x, 1, rows, in), tout, kvHeads, groups, headDim);
      assertAllWritten(what + " out", tout);
      assertClose(what + " out", RepeatKvReference.forward(x, rows, kvHeads, groups, headDim), tout, new Tolerance(0, 0));
      Tensor tdx = Poison.nan(1, rows, in);
      cpu.repeatKvBackward(Random.tensor(dout, 1, rows, out), tdx, kvHeads, groups, headDim, false);
      assertAllWritten(what + " dx", tdx);
      assertClose(what + " dx", dx, tdx, Tolerance.F32);
      Tensor acc = Random.tensor(dx0, 1, rows, in);
      cpu.repeatKvBackward(Random.tensor(dout, 1, rows, out), acc, kvHeads, groups, headDim, true);
      double[] sum = new double[dx.length];
      for (int i = 0; i < sum.length; i++) sum[i] = dx0[i] + dx[i];
      assertClose(what + " dx +=", sum, acc, Tolerance.F32);
    }
  }

  @Test
  void refusesMismatchedWidths() {
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, Device.CPU, 2, 3, 8);
      assertThrows(IllegalArgumentException.class, () -> cpu.repeatKv(x, Poison.nan(2, 3, 16), 2, 3, 4));
      assertThrows(IllegalArgumentException.class, () -> cpu.repeatKv(x, Poison.nan(2, 3, 24), 3, 3, 4));
      assertThrows(IllegalArgumentException.class, () -> cpu.repeatKv(x, Poison.nan(3, 3, 24), 2, 3, 4));
    }
  }
}
