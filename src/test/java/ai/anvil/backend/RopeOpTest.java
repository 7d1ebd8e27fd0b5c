package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertAllWritten;
import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Poison;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.RopeReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * rope forward and backward (the inverse rotation) against {@link RopeReference}: odd head counts and
 * sequence lengths, head widths from one pair to 128, position offsets as in decoding (up to 4093, where
 * the fp32 angles of transformers differ visibly from exact ones), out of place and in place.
 */
class RopeOpTest {
  private final Backend cpu = Backend.of(Device.CPU);

  @ParameterizedTest
  @CsvSource({
      "1, 1, 1, 2, 0, 10000",
      "2, 7, 3, 6, 0, 10000",
      "1, 63, 4, 64, 5, 10000",
      "3, 65, 2, 128, 0, 500000",
      "2, 1, 5, 8, 4093, 10000",
      "1, 127, 1, 16, 1000, 1000"})
  void matchesReference(int batch, int seq, int heads, int headDim, long offset, double theta) {
    String what = "rope B" + batch + " T" + seq + " H" + heads + " D" + headDim + " @" + offset;
    Random rnd = new Random(batch * 1000L + seq * 10L + headDim);
    int n = batch * seq * heads * headDim;
    double[] x = Random.roundToFloat(rnd.normal(n, 1)), dy = Random.roundToFloat(rnd.normal(n, 1));
    double[] y = RopeReference.forward(x, batch, seq, heads, headDim, offset, theta, false);
    double[] dx = RopeReference.backward(dy, batch, seq, heads, headDim, offset, theta);
    try (Scope s = Scope.open()) {
      Tensor tx = Random.tensor(x, batch, seq, heads * headDim);
      Tensor out = Poison.nan(batch, seq, heads * headDim);
      cpu.rope(tx, out, heads, headDim, offset, theta);
      assertAllWritten(what + " y", out);
      assertClose(what + " y", y, out, Tolerance.F32);
      Tensor tdy = Random.tensor(dy, batch, seq, heads * headDim);
      Tensor tdx = Poison.nan(batch, seq, heads * headDim);
      cpu.ropeBackward(tdy, tdx, heads, headDim, offset, theta);
      assertAllWritten(what + " dx", tdx);
      assertClose(what + " dx", dx, tdx, Tolerance.F32);
      // In place gives the same values.
      cpu.rope(tx, tx, heads, headDim, offset, theta);
      assertArrayEquals(out.toFloatArray(), tx.toFloatArray(), what + " in place");
      cpu.ropeBackward(tdy, tdy, heads, headDim, offset, theta);
      assertArrayEquals(tdx.toFloatArray(), tdy.toFloatArray(), what + " bwd in place");
    }
  }

  /** Decoding one token at position p gives what the whole prefix gives at row p. */
  @Test
  void offsetMatchesPositionInLongerSequence() {
    int seq = 9, heads = 2, headDim = 8;
    Random rnd = new Random(5);
    double[] x = Random.roundToFloat(rnd.normal(seq * heads * headDim, 1));
    try (Scope s = Scope.open()) {
      Tensor all = Poison.nan(1, seq, heads * headDim);
      cpu.rope(Random.tensor(x, 1, seq, heads * headDim), all, heads, headDim, 0, 10000);
      for (int p = 0; p < seq; p++) {
        double[] row = java.util.Arrays.copyOfRange(x, p * heads * headDim, (p + 1) * heads * headDim);
        Tensor one = Poison.nan(1, 1, heads * headDim);
        cpu.rope(Random.tensor(row, 1, 1, heads * headDim), one, heads, headDim, p, 10000);
        assertArrayEquals(all.reshape(seq, heads * headDim).slice(p, p + 1).toFloatArray(), one.toFloatArray(),
            "position " + p);
      }
    }
  }

  @Test
  void refusesBadArguments() {
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, Device.CPU, 1, 2, 12);
      assertThrows(IllegalArgumentException.class, () -> cpu.rope(x, Poison.nan(1, 2, 12), 4, 3, 0, 10000));
      assertThrows(IllegalArgumentException.class, () -> cpu.rope(x, Poison.nan(1, 2, 12), 2, 4, 0, 10000));
      assertThrows(IllegalArgumentException.class, () -> cpu.rope(x, Poison.nan(1, 2, 12), 2, 6, -1, 10000));
      assertThrows(IllegalArgumentException.class, () -> cpu.rope(x, Poison.nan(1, 2, 12), 2, 6, 0, 0));
      // Partly overlapping input and output (in place is only the exact same tensor).
      Tensor rows = Tensor.zeros(DType.F32, Device.CPU, 3, 12);
      Tensor first = rows.slice(0, 2).reshape(1, 2, 12), second = rows.slice(1, 3).reshape(1, 2, 12);
      assertThrows(IllegalArgumentException.class, () -> cpu.rope(first, second, 2, 6, 0, 10000));
    }
  }
}
