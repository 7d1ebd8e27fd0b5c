package ai.anvil.models.gpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.backend.AdamWStep;
import ai.anvil.backend.Backend;
import ai.anvil.models.KvCache;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.OneCpuThread;
import ai.anvil.testkit.Tolerance;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** GPT structure (names, count, layout), forward shapes, learning, dropout and cache-vs-recompute. */
@ExtendWith(OneCpuThread.class)
class GptTest {
  private static final Device CPU = Device.CPU;
  /** 2 layers, 2 heads, 32 wide, context 16, vocabulary 70 (padded to 128). */
  static final GptConfig SMALL = GptConfig.of(2, 2, 32, 16, 70);
  @Test
  void gpt2SmallCountIs124M() {
    GptConfig c = GptConfig.gpt2();
    assertEquals(50304, c.paddedVocab());
    assertEquals(124_439_808L, c.parameterCount());
    assertEquals(124_439_808L + 47L * 768, c.parameterCount(c.paddedVocab()));
    assertEquals(124_439_808L + 50257L * 768, c.withTiedEmbeddings(false).parameterCount());
  }

  @Test
  void parameterNamesAndCountFollowHuggingFace() {
    try (Gpt model = new Gpt(SMALL, 1, CPU)) {
      List<String> names = new ArrayList<>(model.namedParameters().keySet());
      List<String> expected = new ArrayList<>(List.of("transformer.wte.weight", "transformer.wpe.weight"));
      for (int i = 0; i < 2; i++) {
        for (String s : List.of("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
            "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
            "mlp.c_proj.bias")) {
          expected.add("transformer.h." + i + "." + s);
        }
      }
      expected.add("transformer.ln_f.weight");
      expected.add("transformer.ln_f.bias");
      assertEquals(expected, names);
      assertEquals(SMALL.parameterCount(SMALL.paddedVocab()), model.parameterCount(false));
      // PyTorch (out, in) layout inside.
      assertArrayEquals(new long[] {96, 32}, model.namedParameters().get("transformer.h.0.attn.c_attn.weight").value().dims());
      assertArrayEquals(new long[] {128, 32}, model.tokenEmbedding().dims());
      assertTrue(model.lmHeadWeight() == model.tokenEmbedding(), "tied head is the token table");
    }
    try (Gpt untied = new Gpt(SMALL.withTiedEmbeddings(false).withBias(false), 1, CPU)) {
      assertTrue(untied.namedParameters().containsKey("lm_head.weight"));
      assertFalse(untied.namedParameters().containsKey("transformer.h.0.ln_1.bias"));
      assertEquals(SMALL.withTiedEmbeddings(false).withBias(false).parameterCount(128), untied.parameterCount(false));
    }
  }

  @Test
  void initFollowsGpt2() {
    GptConfig c = GptConfig.of(8, 2, 64, 16, 64);
    try (Gpt model = new Gpt(c, 3, CPU)) {
      double fc = std(model.namedParameters().get("transformer.h.0.mlp.c_fc.weight").value().toFloatArray());
      double proj = std(model.namedParameters().get("transformer.h.0.mlp.c_proj.weight").value().toFloatArray());
      assertEquals(0.02, fc, 0.001);
      assertEquals(0.02 / Math.sqrt(16), proj, 0.0005);
      float[] padded = new Gpt(SMALL, 3, CPU).tokenEmbedding().toFloatArray();
      for (int i = 70 * 32; i < padded.length; i++) assertEquals(0f, padded[i], "padding rows start at zero");
    }
  }

  @Test
  void logitsShapeAndLoss() {
    try (Gpt model = new Gpt(SMALL, 1, CPU); Scope s = Scope.open()) {
      Tensor ids = randomIds(2, 5, 70, 9);
      Tensor logits = model.logits(ids);
      assertArrayEquals(new long[] {2, 5, 128}, logits.dims());
      Tensor loss = model.loss(ids, randomIds(2, 5, 70, 10), 10);
      // A fresh model predicts near-uniformly: loss close to ln(70).
      assertEquals(Math.log(70), loss.item(), 0.3);
      // Ignored targets count for nothing; the normalizer divides the sum.
      int[] t = randomIds(2, 5, 70, 10).toIntArray();
      double half = model.loss(ids, Tensor.ofInts(t, 2, 5), 5).item();
      for (int i = 5; i < 10; i++) t[i] = Gpt.IGNORE_INDEX;
      double firstRow = model.loss(ids, Tensor.ofInts(t, 2, 5), 5).item();
      assertTrue(firstRow < half);
      assertEquals(2 * loss.item(), half, 1e-5);
      assertThrows(IllegalArgumentException.class, () -> model.logits(randomIds(1, 17, 70, 1)));
    }
  }

  @Test
  void cacheGivesTheLogitsOfRecomputation() {
    for (int batch : new int[] {1, 3}) {
      try (Gpt model = new Gpt(SMALL, 7, CPU); Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
        int t = 13;
        Tensor ids = randomIds(batch, t, 70, 11);
        float[] full = model.logits(ids).toFloatArray();   // (B, T, V)
        int[] flat = ids.toIntArray();
        int v = SMALL.paddedVocab();
        try (KvCache cache = model.newCache(batch, SMALL.blockSize())) {
          // Prefill 5, then one token at a time; a 3-token chunk in the middle.
          int[][] chunks = {{0, 5}, {5, 6}, {6, 9}, {9, 10}, {10, 11}, {11, 12}, {12, 13}};
          for (int[] ch : chunks) {
            int n = ch[1] - ch[0];
            Tensor part = Tensor.ofInts(columns(flat, batch, t, ch[0], ch[1]), batch, n);
            float[] got = model.forward(part, cache).toFloatArray();
            for (int b = 0; b < batch; b++) {
              for (int i = 0; i < n; i++) {
                double[] want = new double[v];
                float[] have = new float[v];
                for (int j = 0; j < v; j++) {
                  want[j] = full[(b * t + ch[0] + i) * v + j];
                  have[j] = got[(b * n + i) * v + j];
                }
                Assertions.assertClose("batch " + batch + " row " + b + " position " + (ch[0] + i), want, have, Tolerance.F32_REDUCTION);
              }
            }
          }
          assertEquals(13, cache.length());
        }
        // forwardLast: only the last position's logits, after a prefill and after a step.
        try (KvCache cache = model.newCache(batch, SMALL.blockSize())) {
          float[] last = model.forwardLast(Tensor.ofInts(columns(flat, batch, t, 0, 12), batch, 12), cache).toFloatArray();
          float[] step = model.forwardLast(Tensor.ofInts(columns(flat, batch, t, 12, 13), batch, 1), cache).toFloatArray();
          for (int b = 0; b < batch; b++) {
            for (int[] pair : new int[][] {{11, 0}, {12, 1}}) {
              double[] want = new double[v];
              float[] have = new float[v];
              for (int j = 0; j < v; j++) {
                want[j] = full[(b * t + pair[0]) * v + j];
                have[j] = (pair[1] == 0 ? last : step)[b * v + j];
              }
              Assertions.assertClose("forwardLast batch " + batch + " position " + pair[0], want, have, Tolerance.F32_REDUCTION);
            }
          }
        }
      }
    }
  }

  @Test
  void lossFallsOnARepeatedPatternAndGenerationContinuesIt() {
    GptConfig c = GptConfig.of(2, 2, 32, 16, 8);
    int[] pattern = {0, 3, 1, 4, 2};
    try (Gpt model = new Gpt(c, 11, CPU)) {
      List<Parameter> params = model.trainableParameters();
      List<Tensor> values = new ArrayList<>(), m = new ArrayList<>(), v = new ArrayList<>();
      boolean[] decay = new boolean[params.size()];
      for (int i = 0; i < params.size(); i++) {
        values.add(params.get(i).value());
        m.add(Tensor.zeros(DType.F32, CPU, params.get(i).value().dims()));
        v.add(Tensor.zeros(DType.F32, CPU, params.get(i).value().dims()));
        decay[i] = params.get(i).decay();
      }
      SplittableRandom r = new SplittableRandom(4);
      double first = 0, last = 0;
      for (int step = 1; step <= 150; step++) {
        int[] x = new int[4 * 16], y = new int[4 * 16];
        for (int row = 0; row < 4; row++) {
          int offset = r.nextInt(pattern.length);
          for (int t = 0; t < 16; t++) {
            x[row * 16 + t] = pattern[(offset + t) % pattern.length];
            y[row * 16 + t] = pattern[(offset + t + 1) % pattern.length];
          }
        }
        try (Scope s = Scope.open(); Tape tape = Tape.record()) {
          Tensor loss = model.loss(Tensor.ofInts(x, 4, 16), Tensor.ofInts(y, 4, 16), 64);
          tape.backward(loss);
          last = loss.item();
          if (step == 1) first = last;
        }
        List<Tensor> grads = new ArrayList<>();
        for (Parameter p : params) grads.add(p.grad());
        Backend.of(CPU).adamw(values, grads, m, v, decay, new AdamWStep(1e-2, 0.9, 0.99, 1e-8, 0.1, step, 1.0));
        model.zeroGrad();
      }
      assertEquals(Math.log(8), first, 0.3, "a fresh model is near uniform");
      assertTrue(last < 0.05, "loss after 150 steps: " + last);
      // Padding rows of the token table got no gradient: still zero after training (with decay).
      float[] table = model.tokenEmbedding().toFloatArray();
      for (int i = 8 * 32; i < table.length; i++) assertEquals(0f, table[i]);
      // Greedy decoding continues the pattern, beyond one context window too.
      int[] out = new ai.anvil.infer.Generator(model, null).generate(new int[] {1, 4}, ai.anvil.infer.SamplingConfig.greedy(30), null).tokens();
      for (int i = 0; i < out.length; i++) assertEquals(pattern[(i + 4) % 5], out[i], "token " + i);
      m.forEach(Tensor::close);
      v.forEach(Tensor::close);
    }
  }

  @Test
  void dropoutActsOnlyWhileTrainingUnderATape() {
    try (Gpt model = new Gpt(SMALL.withDropout(0.5), 1, CPU); Scope s = Scope.open()) {
      Tensor ids = randomIds(2, 6, 70, 3);
      float[] plain;
      try (Tape.NoGrad ng = Tape.noGrad()) {
        plain = model.logits(ids).toFloatArray();
      }
      float[] a, b, again;
      try (Tape tape = Tape.record()) {
        model.train(false);
        assertArrayEquals(plain, model.logits(ids).toFloatArray(), "eval mode: no dropout");
        model.train(true);
        long[] state = model.randomState();
        a = model.logits(ids).toFloatArray();
        b = model.logits(ids).toFloatArray();
        model.restoreRandomState(state);
        again = model.logits(ids).toFloatArray();
      }
      assertFalse(java.util.Arrays.equals(plain, a), "training under a tape drops");
      assertFalse(java.util.Arrays.equals(a, b), "each forward draws new masks");
      assertArrayEquals(a, again, "restoring the random state repeats the masks");
    }
    float[] mask = ai.anvil.autograd.Dropout.mask(100_000, 0.25, 9);
    int zeros = 0;
    for (float x : mask) {
      if (x == 0) zeros++;
      else assertEquals(1 / 0.75f, x, 1e-6f);
    }
    assertEquals(0.25, zeros / 100_000.0, 0.01);
  }

  private static int[] columns(int[] flat, int batch, int t, int from, int to) {
    int[] out = new int[batch * (to - from)];
    for (int b = 0; b < batch; b++) System.arraycopy(flat, b * t + from, out, b * (to - from), to - from);
    return out;
  }

  private static Tensor randomIds(int b, int t, int vocab, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] ids = new int[b * t];
    for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(vocab);
    return Tensor.ofInts(ids, b, t);
  }

  private static double std(float[] v) {
    double s = 0, ss = 0;
    for (float x : v) {
      s += x;
      ss += x * x;
    }
    double mean = s / v.length;
    return Math.sqrt(ss / v.length - mean * mean);
  }
}
