package ai.anvil.backend;

import static ai.anvil.testkit.Assertions.assertAllWritten;
import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Poison;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.AttentionReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * CPU attention forward and backward against {@link AttentionReference} at fp32 tolerance: awkward
 * lengths, Tq != Tk both ways, decoding (Tq = 1), causal and not, key masks with fully masked rows,
 * packed qkv and packed kv. Outputs are NaN-poisoned; queries that see no key must give exact zeros.
 */
class AttentionOpTest {
  private final Backend cpu = Backend.of(Device.CPU);

  /** Key masks: none, ~30% of keys off (batch 0 fully masked when batch > 1), or left padding. */
  enum Mask { NONE, RANDOM, LEFT_PAD }

  /** How q, k, v are laid out: three tensors, one packed qkv (Tq = Tk), or q plus a packed kv. */
  enum Layout { SEPARATE, PACKED_QKV, PACKED_KV }

  static Stream<Arguments> cases() {
    Stream.Builder<Arguments> b = Stream.builder();
    for (int t : Random.AWKWARD) {
      for (boolean causal : new boolean[] {false, true}) {
        b.add(Arguments.of(2, 2, 32, t, t, causal, Mask.NONE, t % 2 == 1 ? Layout.PACKED_QKV : Layout.SEPARATE));
        b.add(Arguments.of(2, 3, 16, t, t, causal, Mask.RANDOM, Layout.PACKED_QKV));
      }
    }
    for (boolean causal : new boolean[] {false, true}) {
      b.add(Arguments.of(2, 2, 32, 7, 65, causal, Mask.NONE, Layout.PACKED_KV));    // prefix / cache: Tq < Tk
      b.add(Arguments.of(2, 2, 32, 65, 7, causal, Mask.RANDOM, Layout.SEPARATE));   // Tq > Tk: first rows see nothing
      b.add(Arguments.of(3, 2, 64, 1, 1024, causal, Mask.LEFT_PAD, Layout.PACKED_KV));  // decoding
      b.add(Arguments.of(2, 1, 5, 63, 63, causal, Mask.LEFT_PAD, Layout.PACKED_QKV));   // odd head size
      b.add(Arguments.of(1, 2, 80, 127, 130, causal, Mask.RANDOM, Layout.SEPARATE));
    }
    b.add(Arguments.of(12, 4, 32, 64, 64, true, Mask.NONE, Layout.PACKED_QKV));  // the small GPT's shape
    return b.build();
  }

  @ParameterizedTest(name = "B={0} H={1} D={2} Tq={3} Tk={4} causal={5} mask={6} {7}")
  @MethodSource("cases")
  void matchesReference(int batch, int heads, int dim, int tq, int tk, boolean causal, Mask mask, Layout layout) {
    String what = "attention B=" + batch + " H=" + heads + " D=" + dim + " Tq=" + tq + " Tk=" + tk + " causal="
        + causal + " mask=" + mask + " " + layout;
    Random rnd = new Random(1000L * tq + 10L * tk + dim + (causal ? 1 : 0));
    int c = heads * dim;
    double scale = 1 / Math.sqrt(dim);
    int[] keyMask = keyMask(mask, batch, tk, rnd);
    AttentionSpec spec;
    AttentionReference.Shape shape;
    double[] q, k, v;
    switch (layout) {
      case PACKED_QKV -> {
        spec = new AttentionSpec(heads, dim, causal, scale, 0, c, 2 * c);
        shape = AttentionReference.Shape.packed(spec, batch, tq, keyMask);
        q = k = v = Random.roundToFloat(rnd.normal(batch * tq * 3 * c, 1));
      }
      case PACKED_KV -> {
        spec = new AttentionSpec(heads, dim, causal, scale, 0, 0, c);
        shape = new AttentionReference.Shape(spec, batch, tq, tk, c, 2 * c, 2 * c, keyMask);
        q = Random.roundToFloat(rnd.normal(batch * tq * c, 1));
        k = v = Random.roundToFloat(rnd.normal(batch * tk * 2 * c, 1));
      }
      default -> {
        spec = new AttentionSpec(heads, dim, causal, scale, 0, 0, 0);
        shape = AttentionReference.Shape.separate(spec, batch, tq, tk, keyMask);
        q = Random.roundToFloat(rnd.normal(batch * tq * c, 1));
        k = Random.roundToFloat(rnd.normal(batch * tk * c, 1));
        v = Random.roundToFloat(rnd.normal(batch * tk * c, 1));
      }
    }
    double[] dout = Random.roundToFloat(rnd.normal(batch * tq * c, 1));
    AttentionReference.Forward ref = AttentionReference.forward(shape, q, k, v);
    AttentionReference.Backward grad = AttentionReference.backward(shape, q, k, v, dout);

    try (Scope s = Scope.open()) {
      Tensor tq3 = Random.tensor(q, batch, tq, shape.qWidth());
      Tensor tk3 = layout == Layout.PACKED_QKV ? tq3 : Random.tensor(k, batch, tk, shape.kWidth());
      Tensor tv3 = layout == Layout.SEPARATE ? Random.tensor(v, batch, tk, shape.vWidth()) : tk3;
      Tensor tmask = keyMask == null ? null : Tensor.ofInts(keyMask, batch, tk);
      Tensor out = Poison.nan(batch, tq, c), lse = Poison.nan(batch, heads, tq);
      cpu.attention(spec, tq3, tk3, tv3, tmask, out, lse);
      assertAllWritten(what + " out", out);
      assertClose(what + " out", ref.out(), out, Tolerance.F32);
      assertClose(what + " lse", ref.lse(), lse, Tolerance.F32);
      float[] lseValues = lse.toFloatArray();
      assertZeroWhereUnseen(what + " out", lseValues, out.toFloatArray(), batch, heads, tq, dim, c);

      // The backward takes the kernel's own out and lse, as autograd does.
      Tensor g = Random.tensor(dout, batch, tq, c);
      switch (layout) {
        case PACKED_QKV -> {
          Tensor dqkv = Poison.nan(batch, tq, 3 * c);
          cpu.attentionBackward(spec, tq3, tk3, tv3, tmask, out, lse, g, dqkv, dqkv, dqkv);
          assertAllWritten(what + " dqkv", dqkv);
          assertClose(what + " dqkv", grad.sum(), dqkv, Tolerance.F32);
          assertZeroWhereUnseen(what + " dq", lseValues, dqkv.toFloatArray(), batch, heads, tq, dim, 3 * c);
        }
        case PACKED_KV -> {
          Tensor dq = Poison.nan(batch, tq, c), dkv = Poison.nan(batch, tk, 2 * c);
          cpu.attentionBackward(spec, tq3, tk3, tv3, tmask, out, lse, g, dq, dkv, dkv);
          assertAllWritten(what + " dq", dq);
          assertAllWritten(what + " dkv", dkv);
          assertClose(what + " dq", grad.dq(), dq, Tolerance.F32);
          double[] dkv0 = grad.dk().clone();
          for (int i = 0; i < dkv0.length; i++) dkv0[i] += grad.dv()[i];
          assertClose(what + " dkv", dkv0, dkv, Tolerance.F32);
          assertZeroWhereUnseen(what + " dq", lseValues, dq.toFloatArray(), batch, heads, tq, dim, c);
        }
        default -> {
          Tensor dq = Poison.nan(batch, tq, c), dk = Poison.nan(batch, tk, c), dv = Poison.nan(batch, tk, c);
          cpu.attentionBackward(spec, tq3, tk3, tv3, tmask, out, lse, g, dq, dk, dv);
          for (Tensor t : new Tensor[] {dq, dk, dv}) assertAllWritten(what + " gradient", t);
          assertClose(what + " dq", grad.dq(), dq, Tolerance.F32);
          assertClose(what + " dk", grad.dk(), dk, Tolerance.F32);
          assertClose(what + " dv", grad.dv(), dv, Tolerance.F32);
          assertZeroWhereUnseen(what + " dq", lseValues, dq.toFloatArray(), batch, heads, tq, dim, c);
        }
      }
    }
  }

  private static int[] keyMask(Mask mask, int batch, int tk, Random rnd) {
    if (mask == Mask.NONE) return null;
    int[] m = new int[batch * tk];
    for (int b = 0; b < batch; b++) {
      for (int j = 0; j < tk; j++) {
        if (mask == Mask.LEFT_PAD) m[b * tk + j] = j >= tk / 3 ? 1 : 0;
        else m[b * tk + j] = batch > 1 && b == 0 ? 0 : rnd.nextInt(10) < 3 ? 0 : 1 + rnd.nextInt(4);
      }
    }
    return m;
  }

  /**
   * Where lse is -inf (the query saw no key), head h's columns of row (b, i) of values (B, Tq, width),
   * the first H*D columns, must be exactly 0.
   */
  private static void assertZeroWhereUnseen(String what, float[] lse, float[] values, int batch, int heads, int tq,
                                            int dim, int width) {
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < tq; i++) {
          if (lse[(b * heads + h) * tq + i] != Float.NEGATIVE_INFINITY) continue;
          for (int e = 0; e < dim; e++) {
            float x = values[(b * tq + i) * width + h * dim + e];
            if (x != 0) throw new AssertionError(what + ": query " + i + " of batch " + b + " head " + h
                + " sees no key but has " + x + " at " + e);
          }
        }
      }
    }
  }

  @Test
  void withoutLseTheOutputIsTheSame() {
    AttentionSpec spec = AttentionSpec.packed(3, 16, true);
    Random rnd = new Random(7);
    try (Scope s = Scope.open()) {
      Tensor qkv = Random.tensor(rnd.normal(2 * 33 * 144, 1), 2, 33, 144);
      Tensor a = Poison.nan(2, 33, 48), b = Poison.nan(2, 33, 48), lse = Poison.nan(2, 3, 33);
      cpu.attention(spec, qkv, qkv, qkv, null, a, lse);
      cpu.attention(spec, qkv, qkv, qkv, null, b, null);
      assertArrayEquals(a.toFloatArray(), b.toFloatArray());
    }
  }

  @Test
  void resultsDoNotDependOnTheThreadCount() {
    // Tasks split heads and query blocks, never a sum: one thread and several give the same bits.
    int saved = CpuBackend.threads();
    AttentionSpec spec = new AttentionSpec(3, 32, true, 0.2, 0, 0, 96);
    Random rnd = new Random(8);
    try (Scope s = Scope.open()) {
      Tensor q = Random.tensor(rnd.normal(2 * 130 * 96, 1), 2, 130, 96);
      Tensor kv = Random.tensor(rnd.normal(2 * 200 * 192, 1), 2, 200, 192);
      Tensor g = Random.tensor(rnd.normal(2 * 130 * 96, 1), 2, 130, 96);
      float[][] runs = new float[2][];
      int[] threads = {1, Math.max(2, saved)};
      for (int r = 0; r < 2; r++) {
        CpuBackend.setThreads(threads[r]);
        Tensor out = Poison.nan(2, 130, 96), lse = Poison.nan(2, 3, 130);
        Tensor dq = Poison.nan(2, 130, 96), dkv = Poison.nan(2, 200, 192);
        cpu.attention(spec, q, kv, kv, null, out, lse);
        cpu.attentionBackward(spec, q, kv, kv, null, out, lse, g, dq, dkv, dkv);
        runs[r] = concat(out.toFloatArray(), lse.toFloatArray(), dq.toFloatArray(), dkv.toFloatArray());
      }
      assertArrayEquals(runs[0], runs[1], "1 thread vs " + threads[1]);
    } finally {
      CpuBackend.setThreads(saved);
    }
  }

  @Test
  void scaleIsApplied() {
    // scale 0 makes every visible score equal: out is the plain mean of the values.
    AttentionSpec spec = new AttentionSpec(1, 4, false, 0.0, 0, 0, 0);
    Random rnd = new Random(9);
    double[] v = Random.roundToFloat(rnd.normal(5 * 4, 1));
    try (Scope s = Scope.open()) {
      Tensor q = Random.tensor(rnd.normal(4, 1), 1, 1, 4), k = Random.tensor(rnd.normal(5 * 4, 1), 1, 5, 4);
      Tensor out = Poison.nan(1, 1, 4), lse = Poison.nan(1, 1, 1);
      cpu.attention(spec, q, k, Random.tensor(v, 1, 5, 4), null, out, lse);
      double[] mean = new double[4];
      for (int j = 0; j < 5; j++) for (int e = 0; e < 4; e++) mean[e] += v[j * 4 + e] / 5;
      assertClose("mean of values", mean, out, Tolerance.F32);
      assertEquals(Math.log(5), lse.toFloatArray()[0], 1e-6);
    }
  }

  private static float[] concat(float[]... parts) {
    int n = 0;
    for (float[] p : parts) n += p.length;
    float[] all = new float[n];
    int o = 0;
    for (float[] p : parts) {
      System.arraycopy(p, 0, all, o, p.length);
      o += p.length;
    }
    return all;
  }
}
