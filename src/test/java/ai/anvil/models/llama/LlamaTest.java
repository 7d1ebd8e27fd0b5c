package ai.anvil.models.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.infer.Generation;
import ai.anvil.infer.LanguageModel;
import ai.anvil.infer.SamplingConfig;
import ai.anvil.infer.Score;
import ai.anvil.io.Json;
import ai.anvil.models.AutoModel;
import ai.anvil.models.CausalLm;
import ai.anvil.models.KvCache;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Tolerance;
import ai.anvil.train.AdamW;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Llama beyond the golden files: Hugging Face names and counts, the cached decode path against
 * recomputation (grouped and plain multi-head attention, several batch rows, chunked prefill), the
 * checkpoint round trip, config parsing and refusals, and that it learns.
 */
class LlamaTest {
  private static final Device CPU = Device.CPU;
  /** 3 layers, 6 query heads sharing 2 key/value heads (groups of 3), head width 8, vocabulary 70 (pad 128). */
  private static final LlamaConfig SMALL = new LlamaConfig(70, 48, 72, 3, 6, 2, 8, 32, 1e-6, 10000.0, false, false,
      false);

  @TempDir Path dir;

  @Test
  void parameterNamesAndCountFollowHuggingFace() {
    try (Llama model = new Llama(SMALL, 1, CPU)) {
      Map<String, Parameter> p = model.namedParameters();
      assertEquals(List.of(48L, 128L), List.of(p.get("model.layers.0.self_attn.q_proj.weight").value().dim(1),
          p.get("model.embed_tokens.weight").value().dim(0)));
      assertEquals(List.of(16L, 48L), List.of(p.get("model.layers.2.self_attn.k_proj.weight").value().dims()[0],
          p.get("model.layers.2.self_attn.v_proj.weight").value().dims()[1]));
      for (String n : new String[] {"model.layers.1.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight",
          "model.layers.1.self_attn.o_proj.weight", "model.layers.1.mlp.gate_proj.weight", "model.layers.1.mlp.up_proj.weight",
          "model.layers.1.mlp.down_proj.weight", "model.norm.weight", "lm_head.weight"}) {
        assertTrue(p.containsKey(n), n);
      }
      assertEquals(3 * 9 + 3, p.size());
      long real = model.parameterCount(false) - 2L * (128 - 70) * 48;
      assertEquals(SMALL.parameterCount(), real);
    }
    try (Llama tied = new Llama(SMALL.withTiedEmbeddings(true), 1, CPU)) {
      assertTrue(!tied.namedParameters().containsKey("lm_head.weight"));
      assertEquals(tied.tokenEmbedding(), tied.lmHeadWeight());
    }
  }

  @Test
  void cacheGivesTheLogitsOfRecomputation() {
    LlamaConfig mha = new LlamaConfig(70, 32, 40, 2, 4, 4, 8, 32, 1e-5, 500000.0, true, true, true);
    for (LlamaConfig c : new LlamaConfig[] {SMALL, mha}) {
      for (int batch : new int[] {1, 3}) {
        try (Llama model = new Llama(c, 7, CPU); Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
          int t = 13, v = c.paddedVocab();
          int[] flat = randomIds(batch * t, c.vocabSize(), 11);
          float[] full = model.logits(Tensor.ofInts(flat, batch, t)).toFloatArray();
          try (KvCache cache = model.newCache(batch, c.maxPositionEmbeddings())) {
            int[][] chunks = {{0, 5}, {5, 6}, {6, 9}, {9, 10}, {10, 13}};
            for (int[] ch : chunks) {
              int n = ch[1] - ch[0];
              float[] got = model.forward(Tensor.ofInts(columns(flat, batch, t, ch[0], ch[1]), batch, n), cache).toFloatArray();
              for (int b = 0; b < batch; b++) {
                for (int i = 0; i < n; i++) {
                  double[] want = new double[v];
                  float[] have = new float[v];
                  for (int j = 0; j < v; j++) {
                    want[j] = full[(b * t + ch[0] + i) * v + j];
                    have[j] = got[(b * n + i) * v + j];
                  }
                  Assertions.assertClose(c.numKeyValueHeads() + " kv heads, batch " + batch + " row " + b + " position "
                      + (ch[0] + i), want, have, Tolerance.F32_REDUCTION);
                }
              }
            }
            assertEquals(13, cache.length());
            assertEquals(2L * Float.BYTES * c.numHiddenLayers() * batch * c.maxPositionEmbeddings() * c.kvWidth(), cache.bytes());
          }
          try (KvCache cache = model.newCache(batch, 13)) {
            float[] last = model.forwardLast(Tensor.ofInts(columns(flat, batch, t, 0, 13), batch, 13), cache).toFloatArray();
            for (int b = 0; b < batch; b++) {
              double[] want = new double[v];
              float[] have = new float[v];
              for (int j = 0; j < v; j++) {
                want[j] = full[(b * t + 12) * v + j];
                have[j] = last[b * v + j];
              }
              Assertions.assertClose("forwardLast row " + b, want, have, Tolerance.F32_REDUCTION);
            }
            assertThrows(IllegalArgumentException.class, () -> model.forward(Tensor.ofInts(new int[batch], batch, 1), cache));
          }
        }
      }
    }
  }

  @Test
  void checkpointRoundTripsExactlyAndLoadsThroughAutoModel() throws IOException {
    try (Llama model = new Llama(SMALL, 3, CPU)) {
      model.save(dir);
      assertEquals("llama", AutoModel.modelType(dir));
      Map<String, Object> json = Json.parseObject(Files.readString(dir.resolve("config.json")));
      assertEquals(70L, ((Number) json.get("vocab_size")).longValue());
      assertEquals(SMALL, LlamaConfig.fromJson(json));
      try (CausalLm back = AutoModel.loadCausalLm(dir, CPU)) {
        Llama loaded = assertInstanceOf(Llama.class, back);
        for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
          assertArrayEquals(e.getValue().value().toFloatArray(),
              loaded.namedParameters().get(e.getKey()).value().toFloatArray(), e.getKey());
        }
      }
    }
  }

  @Test
  void badFilesAreRefusedWithTheirNames() throws IOException {
    try (Llama model = new Llama(SMALL, 3, CPU)) {
      model.save(dir);
    }
    Path config = dir.resolve("config.json");
    String text = Files.readString(config);
    Files.writeString(config, text.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4"));
    IOException e = assertThrows(IOException.class, () -> AutoModel.load(dir, CPU));
    assertTrue(e.getMessage().contains("num_key_value_heads"), e.getMessage());
    Files.writeString(config, text.replace("\"hidden_size\": 48", "\"hidden_size\": 40"));
    e = assertThrows(IOException.class, () -> AutoModel.load(dir, CPU));
    assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("has shape"), e.getMessage());
    Files.writeString(config, text.replace("\"model_type\": \"llama\"", "\"model_type\": \"mamba\""));
    e = assertThrows(IOException.class, () -> AutoModel.load(dir, CPU));
    assertTrue(e.getMessage().contains("mamba") && e.getMessage().contains("supported"), e.getMessage());
    Files.delete(config);
    assertThrows(IOException.class, () -> AutoModel.load(dir, CPU));
  }

  @Test
  void configReadsBothRopeSpellingsAndRefusesScaling() {
    String base = "{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"intermediate_size\": 16, "
        + "\"num_hidden_layers\": 1, \"num_attention_heads\": 2";
    assertEquals(5e5, LlamaConfig.fromJson(base + ", \"rope_theta\": 500000.0}").ropeTheta());
    assertEquals(1e3, LlamaConfig.fromJson(base + ", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000.0}}")
        .ropeTheta());
    LlamaConfig c = LlamaConfig.fromJson(base + "}");
    assertEquals(2, c.numKeyValueHeads());
    assertEquals(4, c.headDim());
    assertEquals(10000.0, c.ropeTheta());
    assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromJson(base
        + ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}"));
    assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromJson(base + ", \"hidden_act\": \"gelu\"}"));
    assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromJson(base + ", \"head_dim\": 3}"));
    assertEquals(LlamaConfig.fromJson(SMALL.toJsonString()), SMALL);
  }

  /** A Llama folder with a tokenizer serves generate and score (what the CLI's generate and eval use). */
  @Test
  void servesGenerationAndScoringThroughLanguageModel() throws IOException {
    CharTokenizer tokenizer = CharTokenizer.of("abcdefghijklmnopqrstuvwxyz ,.");
    LlamaConfig c = new LlamaConfig(tokenizer.vocabSize(), 32, 48, 2, 4, 2, 8, 24, 1e-6, 10000.0, false, false, false);
    try (Llama model = new Llama(c, 9, CPU)) {
      model.save(dir);
    }
    tokenizer.save(dir.resolve(LanguageModel.TOKENIZER));
    try (LanguageModel lm = LanguageModel.load(dir, CPU)) {
      assertInstanceOf(Llama.class, lm.model());
      Generation g = lm.generate("in the beginning", SamplingConfig.greedy(30));
      assertEquals(30, g.tokens().length);
      // Past the 24-position context the generator slides its window; greedy is reproducible.
      assertEquals(g.text(), lm.generate("in the beginning", SamplingConfig.greedy(30)).text());
      Score s = lm.score("and the earth was without form, and void.");
      assertTrue(s.tokens() > 30 && Double.isFinite(s.meanLoss()), s.toString());
    }
  }

  @Test
  void learnsARepeatedPattern() {
    LlamaConfig c = new LlamaConfig(8, 32, 64, 2, 4, 2, 8, 16, 1e-6, 10000.0, true, false, false);
    int[] pattern = {1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7, 1, 2};
    int[] ids = java.util.Arrays.copyOf(pattern, 15), targets = java.util.Arrays.copyOfRange(pattern, 1, 16);
    List<Double> losses = new ArrayList<>();
    try (Llama model = new Llama(c, 5, CPU); AdamW opt = new AdamW(model.namedParameters(), 0.9, 0.95, 1e-8, 0.0)) {
      for (int step = 0; step < 60; step++) {
        try (Scope s = Scope.open(); Tape tape = Tape.record()) {
          Tensor loss = model.loss(Tensor.ofInts(ids, 1, 15), Tensor.ofInts(targets, 1, 15), 15);
          losses.add((double) loss.item());
          tape.backward(loss);
        }
        opt.step(1e-2, 1.0);
        model.zeroGrad();
      }
    }
    assertTrue(losses.get(0) > 1.5, "initial loss " + losses.get(0));
    assertTrue(losses.get(losses.size() - 1) < 0.1, "final loss " + losses.get(losses.size() - 1));
  }

  private static int[] randomIds(int n, int vocab, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] out = new int[n];
    for (int i = 0; i < n; i++) out[i] = r.nextInt(vocab);
    return out;
  }

  /** Columns [from, to) of a (batch, t) row-major array. */
  private static int[] columns(int[] flat, int batch, int t, int from, int to) {
    int n = to - from;
    int[] out = new int[batch * n];
    for (int b = 0; b < batch; b++) System.arraycopy(flat, b * t + from, out, b * n, n);
    return out;
  }
}
