package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertAllWritten;
import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Poison;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.CrossEntropyReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * crossEntropy forward (per-row losses, loss = sum / normalizer) and backward (dlogits written, zero on
 * padding and ignored rows) against {@link CrossEntropyReference}. Padding logits are NaN: a kernel that
 * reads them fails.
 */
class CrossEntropyOpTest {
  private static final int IGNORE = -100;
  private final Backend cpu = Backend.of(Device.CPU);

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 63, 65, 127})
  void matchesReference(int vocab) {
    for (int rows : Random.AWKWARD) check(rows, vocab, (vocab + 15) / 16 * 16, Tolerance.F32);
  }

  @Test
  void gpt2PaddedVocabulary() {
    check(5, 50_257, 50_304, Tolerance.F32_REDUCTION);
  }

  private void check(int rows, int vocab, int stride, Tolerance tol) {
    String what = "crossEntropy " + rows + "x" + vocab + "/" + stride;
    Random rnd = new Random(7L * rows + vocab);
    double[] logits = Random.roundToFloat(rnd.normal(rows * stride, 3));
    int[] targets = rnd.ints(rows, vocab);
    for (int r = 0; r < rows; r++) {
      for (int j = vocab; j < stride; j++) logits[r * stride + j] = Double.NaN;
    }
    if (rows > 2) {
      targets[1] = IGNORE;
      logits[2 * stride + targets[2]] = 25;  // a confident row: p_t - 1 is tiny
    }
    int counted = 0;
    for (int t : targets) counted += t == IGNORE ? 0 : 1;
    double normalizer = counted + 3;  // as if other micro-batches of the window held 3 more tokens
    double grad = 0.75;
    CrossEntropyReference.Forward f = CrossEntropyReference.forward(logits, targets, vocab, stride, IGNORE,
        normalizer);
    try (Scope s = Scope.open()) {
      Tensor tl = Random.tensor(logits, rows, stride), tt = Tensor.ofInts(targets, rows);
      Tensor losses = Poison.nan(rows), loss = Poison.nan(1), dlogits = Poison.nan(rows, stride);
      cpu.crossEntropy(tl, tt, vocab, IGNORE, normalizer, losses, loss);
      assertAllWritten(what + " losses", losses);
      assertClose(what + " losses", f.losses(), losses, tol);
      assertClose(what + " loss", new double[] {f.loss()}, loss, tol);
      cpu.crossEntropyBackward(tl, tt, vocab, IGNORE, normalizer, grad, dlogits);
      assertAllWritten(what + " dlogits", dlogits);
      assertClose(what + " dlogits",
          CrossEntropyReference.backward(logits, targets, vocab, stride, IGNORE, normalizer, grad), dlogits, tol);
    }
  }

  @Test
  void badTargetIsRefused() {
    try (Scope s = Scope.open()) {
      Tensor logits = Tensor.zeros(DType.F32, Device.CPU, 3, 4), loss = Poison.nan(1);
      Tensor targets = Tensor.ofInts(new int[] {0, 4, IGNORE}, 3), dlogits = Poison.nan(3, 4);
      AnvilException fwd = assertThrows(AnvilException.class,
          () -> cpu.crossEntropy(logits, targets, 4, IGNORE, 2, null, loss));
      assertEquals(1, fwd.code());
      assertTrue(fwd.getMessage().contains("target 4 at row 1"), fwd.getMessage());
      assertTrue(Float.isNaN(loss.item()), "nothing written");
      assertThrows(AnvilException.class, () -> cpu.crossEntropyBackward(logits, targets, 4, IGNORE, 2, 1, dlogits));
      assertTrue(Float.isNaN(dlogits.toFloatArray()[0]), "nothing written");
    }
  }

  /** Rows are independent and the loss sums them in order: bit-identical for 1 and 2 threads. */
  @Test
  void resultsDoNotDependOnThreadCount() {
    int rows = 64, vocab = 50_257, stride = 50_304;
    Random rnd = new Random(23);
    double[] logits = rnd.normal(rows * stride, 3);
    int[] targets = rnd.ints(rows, vocab);
    float[][] one = run(1, logits, targets, vocab, stride), two = run(2, logits, targets, vocab, stride);
    for (int i = 0; i < one.length; i++) assertArrayEquals(one[i], two[i], "output " + i + " of 1 vs 2 threads");
  }

  private float[][] run(int threads, double[] logits, int[] targets, int vocab, int stride) {
    int before = CpuBackend.threads();
    CpuBackend.setThreads(threads);
    try (Scope s = Scope.open()) {
      int rows = targets.length;
      Tensor tl = Random.tensor(logits, rows, stride), tt = Tensor.ofInts(targets, rows);
      Tensor losses = Poison.nan(rows), loss = Poison.nan(1), dlogits = Poison.nan(rows, stride);
      cpu.crossEntropy(tl, tt, vocab, IGNORE, rows, losses, loss);
      cpu.crossEntropyBackward(tl, tt, vocab, IGNORE, rows, 1, dlogits);
      return new float[][] {losses.toFloatArray(), loss.toFloatArray(), dlogits.toFloatArray()};
    } finally {
      CpuBackend.setThreads(before);
    }
  }
}
