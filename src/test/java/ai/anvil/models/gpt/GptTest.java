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
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.MemoryStats;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Tolerance;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** GPT structure (names, count, layout), forward shapes, learning, dropout and cache-vs-recompute. */
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
      Tensor loss = model.loss(ids, ids, 10);
      // A fresh model predicts near-uniformly: loss close to ln(70).
      assertEquals(Math.log(70), loss.item(), 0.3);
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
