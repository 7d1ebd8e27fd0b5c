package ai.anvil.peft;

import ai.anvil.autograd.Tape;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.models.KvCache;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import java.util.SplittableRandom;

/** Small random GPTs and helpers for the PEFT tests. */
public final class TinyModels {
  /** 2 layers, 2 heads, 32 wide, context 24, vocabulary 70 (padded to 128). */
  public static final GptConfig SMALL = GptConfig.of(2, 2, 32, 24, 70);

  private TinyModels() {}

  public static Gpt gpt(long seed) {
    Gpt g = new Gpt(SMALL, seed, Device.CPU);
    g.train(false);
    return g;
  }

  public static int[] ids(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] out = new int[n];
    for (int i = 0; i < n; i++) out[i] = r.nextInt(SMALL.vocabSize());
    return out;
  }

  /** logits of ids (rows, cols) through the training/scoring path, no tape. */
  public static float[] logits(Gpt gpt, int[] ids, int rows) {
    try (Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
      return gpt.logits(Tensor.ofInts(ids, Device.CPU, rows, ids.length / rows)).toFloatArray();
    }
  }

  /** logits of ids (rows, cols) through cached decoding: the first cols-1 tokens as a prefill, then one step. */
  public static float[] decoded(Gpt gpt, int[] ids, int rows) {
    int cols = ids.length / rows;
    try (Scope s = Scope.open(); KvCache cache = gpt.newCache(rows, cols)) {
      int[] head = new int[rows * (cols - 1)], tail = new int[rows];
      for (int r = 0; r < rows; r++) {
        System.arraycopy(ids, r * cols, head, r * (cols - 1), cols - 1);
        tail[r] = ids[r * cols + cols - 1];
      }
      float[] a = gpt.forward(Tensor.ofInts(head, Device.CPU, rows, cols - 1), cache).toFloatArray();
      float[] b = gpt.forward(Tensor.ofInts(tail, Device.CPU, rows, 1), cache).toFloatArray();
      int v = gpt.paddedVocab();
      float[] out = new float[ids.length * v];
      for (int r = 0; r < rows; r++) {
        System.arraycopy(a, r * (cols - 1) * v, out, r * cols * v, (cols - 1) * v);
        System.arraycopy(b, r * v, out, (r * cols + cols - 1) * v, v);
      }
      return out;
    }
  }

  /** Fills a tensor with Normal(0, scale) values. */
  public static void randomize(Tensor t, double scale, long seed) {
    t.copyFrom(Random.toFloats(new Random(seed).normal(Math.toIntExact(t.numel()), scale)));
  }

  /** Rows [from, to) of a (rows, cols, v) row-major array. */
  public static float[] rows(float[] all, int from, int to, int rowLength) {
    return java.util.Arrays.copyOfRange(all, from * rowLength, to * rowLength);
  }

  public static void assertClose(String what, float[] expected, float[] actual, double tol) {
    if (expected.length != actual.length) throw new AssertionError(what + ": length " + actual.length + " != " + expected.length);
    double worst = 0;
    int at = -1;
    for (int i = 0; i < expected.length; i++) {
      double err = Math.abs(expected[i] - actual[i]) / (1 + Math.abs(expected[i]));
      if (!(err <= worst)) {
        worst = err;
        at = i;
      }
    }
    if (!(worst <= tol)) {
      throw new AssertionError(what + ": max error " + worst + " at " + at + " (expected " + expected[at] + ", got " + actual[at]
          + "), tolerance " + tol);
    }
  }
}
