package ai.anvil.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.anvil.autograd.Precision;
import ai.anvil.autograd.Tape;
import ai.anvil.models.KvCache;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The body of the batched-decode tests, run on every backend (BatchDecodeTest on the CPU,
 * backend.cuda.CudaDecodeGraphTest on a GPU, with and without a CUDA graph): prompts of different
 * lengths as one right-padded prefill, then one-token steps ({@link DecodeGraph}, {@link Gpt#step}) with
 * every row at its own position, teacher-forced, against the CPU's full forward of each row's sequence.
 */
public final class DecodeChecks {
  /** Prompt lengths of the three rows and the steps after them. */
  public static final int[] PROMPTS = {5, 1, 9};
  public static final int STEPS = 6;

  private DecodeChecks() {}

  /** A model on device with the weights of a CPU model of the same seed (the caller closes both). */
  public static Gpt[] models(GptConfig config, long seed, Device device) {
    Gpt cpu = new Gpt(config, seed, Device.CPU);
    Gpt dev = new Gpt(config, seed, device);
    var dst = dev.namedParameters();
    cpu.namedParameters().forEach((name, p) -> dst.get(name).value().copyFrom(p.value().toFloatArray()));
    cpu.train(false);
    dev.train(false);
    return new Gpt[] {cpu, dev};
  }

  /**
   * Decodes the rows on dev (precision, graph or eager steps), compares the prefill's last-token logits
   * and every step's logits with cpu's full forward within tol, and returns every step's logits, row-major
   * (for comparing graph and eager runs bit for bit).
   */
  public static List<float[]> raggedSteps(Gpt cpu, Gpt dev, Precision precision, boolean graph, Tolerance tol) {
    GptConfig config = cpu.config();
    int b = PROMPTS.length, vpad = config.paddedVocab(), longest = 0;
    for (int p : PROMPTS) longest = Math.max(longest, p);
    int[][] rows = new int[b][];
    Random rnd = new Random(29);
    double[][][] full = new double[b][][];
    try (Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      for (int r = 0; r < b; r++) {
        int total = PROMPTS[r] + STEPS;
        rows[r] = rnd.ints(total, config.vocabSize());
        float[] l = cpu.logits(Tensor.ofInts(rows[r], 1, total)).toFloatArray();
        full[r] = new double[total][vpad];
        for (int t = 0; t < total; t++) for (int v = 0; v < vpad; v++) full[r][t][v] = l[t * vpad + v];
      }
    }
    List<float[]> out = new ArrayList<>();
    try (Scope s = Scope.open(); KvCache cache = dev.newCache(b, longest + STEPS, precision);
         DecodeGraph steps = new DecodeGraph(dev, cache, graph)) {
      int[] padded = new int[b * longest];
      for (int r = 0; r < b; r++) System.arraycopy(rows[r], 0, padded, r * longest, PROMPTS[r]);
      float[] prefill = dev.forward(Tensor.ofInts(padded, dev.device(), b, longest), cache).toFloatArray();
      for (int r = 0; r < b; r++) {
        float[] got = new float[vpad];
        System.arraycopy(prefill, (r * longest + PROMPTS[r] - 1) * vpad, got, 0, vpad);
        Assertions.assertClose("prefill row " + r, full[r][PROMPTS[r] - 1], got, tol);
      }
      cache.setLengths(PROMPTS.clone());
      ByteBuffer ids = ByteBuffer.allocateDirect(4 * b).order(ByteOrder.nativeOrder());
      for (int n = 0; n < STEPS; n++) {
        ids.clear();
        for (int r = 0; r < b; r++) ids.putInt(rows[r][PROMPTS[r] + n]);
        ids.flip();
        steps.ids().copyFrom(ids);
        steps.step();
        float[] logits = steps.logits().toFloatArray();
        out.add(logits);
        for (int r = 0; r < b; r++) {
          float[] got = new float[vpad];
          System.arraycopy(logits, r * vpad, got, 0, vpad);
          Assertions.assertClose("step " + n + " row " + r + " (" + precision.label() + (graph ? ", graph" : "") + ")",
              full[r][PROMPTS[r] + n], got, tol);
        }
        for (int r = 0; r < b; r++) assertEquals(PROMPTS[r] + n + 1, cache.length(r), "host length of row " + r);
      }
      assertArrayEquals(cacheLengths(cache), cache.deviceLengths().toIntArray(), "device lengths follow the host's");
    }
    return out;
  }

  private static int[] cacheLengths(KvCache cache) {
    int[] l = new int[cache.batch()];
    for (int r = 0; r < l.length; r++) l[r] = cache.length(r);
    return l;
  }

  /** Prompts of different lengths (ids < vocab) for batched generation. */
  public static List<int[]> prompts(int vocab) {
    Random rnd = new Random(41);
    List<int[]> p = new ArrayList<>();
    for (int n : new int[] {3, 1, 8, 5}) p.add(rnd.ints(n, vocab));
    return p;
  }
}
