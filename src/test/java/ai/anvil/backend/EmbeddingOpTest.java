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
import ai.anvil.testkit.reference.EmbeddingReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** embedding gather and scatter-add against {@link EmbeddingReference}; out-of-range ids refused. */
class EmbeddingOpTest {
  private final Backend cpu = Backend.of(Device.CPU);

  @ParameterizedTest
  @ValueSource(ints = {1, 7, 63, 65, 127})
  void matchesReference(int dim) {
    for (int n : Random.AWKWARD) {
      for (int vocab : new int[] {1, 5, 127}) {  // few ids: many repeats, whose gradients add
        String what = "embedding n=" + n + " vocab=" + vocab + " dim=" + dim;
        Random rnd = new Random(13L * n + 7L * vocab + dim);
        int[] ids = rnd.ints(n, vocab);
        double[] table = Random.roundToFloat(rnd.normal(vocab * dim, 1));
        double[] dout = Random.roundToFloat(rnd.normal(n * dim, 1));
        double[] dtable0 = Random.roundToFloat(rnd.normal(vocab * dim, 1));
        double[] expected = EmbeddingReference.backward(ids, dout, vocab, dim);
        for (int i = 0; i < expected.length; i++) expected[i] += dtable0[i];
        try (Scope s = Scope.open()) {
          Tensor tids = Tensor.ofInts(ids, n), out = Poison.nan(n, dim);
          cpu.embedding(tids, Random.tensor(table, vocab, dim), out);
          assertAllWritten(what + " out", out);
          assertClose(what + " out", EmbeddingReference.forward(ids, table, dim), out, new Tolerance(0, 0));
          Tensor dtable = Random.tensor(dtable0, vocab, dim);
          cpu.embeddingBackward(tids, Random.tensor(dout, n, dim), dtable);
          assertClose(what + " dtable +=", expected, dtable, Tolerance.F32);
        }
      }
    }
  }

  @Test
  void outOfRangeIdIsRefusedBeforeAnythingIsWritten() {
    try (Scope s = Scope.open()) {
      Tensor ids = Tensor.ofInts(new int[] {0, 2, 7, 1}, 4), table = Tensor.zeros(DType.F32,
          Device.CPU, 3, 4);
      Tensor out = Poison.nan(4, 4), dtable = Tensor.zeros(DType.F32, Device.CPU, 3, 4);
      AnvilException fwd = assertThrows(AnvilException.class, () -> cpu.embedding(ids, table, out));
      assertEquals(1, fwd.code());
      assertTrue(fwd.getMessage().contains("id 7 at position 2"), fwd.getMessage());
      assertTrue(Float.isNaN(out.toFloatArray()[0]), "nothing written");
      Tensor negative = Tensor.ofInts(new int[] {0, -1, 1, 1}, 4);
      AnvilException bwd = assertThrows(AnvilException.class,
          () -> cpu.embeddingBackward(negative, Tensor.zeros(DType.F32, Device.CPU, 4, 4), dtable));
      assertTrue(bwd.getMessage().contains("id -1 at position 1"), bwd.getMessage());
      assertArrayEquals(new float[12], dtable.toFloatArray(), "nothing accumulated");
    }
  }

  /** Each thread owns a block of columns and adds tokens in order: bit-identical for 1 and 2 threads. */
  @Test
  void scatterAddDoesNotDependOnThreadCount() {
    int n = 4000, vocab = 50, dim = 768;
    Random rnd = new Random(17);
    int[] ids = rnd.ints(n, vocab);
    double[] dout = rnd.normal(n * dim, 1);
    float[] one = scatter(1, ids, dout, vocab, dim), two = scatter(2, ids, dout, vocab, dim);
    assertArrayEquals(one, two, "dtable of 1 vs 2 threads");
  }

  private float[] scatter(int threads, int[] ids, double[] dout, int vocab, int dim) {
    int before = CpuBackend.threads();
    CpuBackend.setThreads(threads);
    try (Scope s = Scope.open()) {
      Tensor dtable = Tensor.zeros(DType.F32, Device.CPU, vocab, dim);
      cpu.embeddingBackward(Tensor.ofInts(ids, ids.length), Random.tensor(dout, ids.length, dim), dtable);
      return dtable.toFloatArray();
    } finally {
      CpuBackend.setThreads(before);
    }
  }
}
