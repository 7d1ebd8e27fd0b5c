package ai.anvil.models.gpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hugging Face GPT-2 layout on disk: names, Conv1D transposes, unpadded vocabulary, config.json. */
class GptCheckpointTest {
  private static final GptConfig CONFIG = GptConfig.of(2, 2, 32, 16, 70);

  private static float[] logits(Gpt model) {
    try (Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      return model.logits(Tensor.ofInts(new int[] {1, 5, 69, 0, 33}, 1, 5)).toFloatArray();
    }
  }

  @Test
  void saveThenLoadGivesTheSameModel(@TempDir Path dir) throws IOException {
    for (GptConfig c : new GptConfig[] {CONFIG, CONFIG.withTiedEmbeddings(false).withBias(false)}) {
      Path d = dir.resolve(c.tiedEmbeddings() ? "tied" : "untied");
      try (Gpt model = new Gpt(c, 4, Device.CPU)) {
        GptCheckpoint.save(model, d);
        try (Gpt loaded = GptCheckpoint.load(d, Device.CPU)) {
          assertEquals(c, loaded.config());
          assertArrayEquals(logits(model), logits(loaded));
        }
      }
    }
  }

  @Test
  void filesFollowTheGpt2Layout(@TempDir Path dir) throws IOException {
    try (Gpt model = new Gpt(CONFIG, 4, Device.CPU)) {
      GptCheckpoint.save(model, dir);
      try (Safetensors.Reader r = Safetensors.Reader.open(dir.resolve(GptCheckpoint.WEIGHTS))) {
        assertArrayEquals(new long[] {32, 96}, r.entry("transformer.h.0.attn.c_attn.weight").shape());
        assertArrayEquals(new long[] {128, 32}, r.entry("transformer.h.1.mlp.c_proj.weight").shape());
        assertArrayEquals(new long[] {70, 32}, r.entry("transformer.wte.weight").shape());
        assertArrayEquals(new long[] {96}, r.entry("transformer.h.0.attn.c_attn.bias").shape());
        assertFalse(r.entries().containsKey("lm_head.weight"), "a tied head is not stored");
        // (in, out) on disk is the transpose of Anvil's (out, in).
        float[] inside = model.namedParameters().get("transformer.h.0.attn.c_attn.weight").value().toFloatArray();
        float[] onDisk = r.floats("transformer.h.0.attn.c_attn.weight");
        for (int o = 0; o < 96; o++) {
          for (int i = 0; i < 32; i++) assertEquals(inside[o * 32 + i], onDisk[i * 96 + o]);
        }
        assertEquals("pt", r.metadata().get("format"));
      }
      Map<String, Object> json = Json.parseObject(Files.readString(dir.resolve(GptCheckpoint.CONFIG)));
      assertEquals(2L, json.get("n_layer"));
      assertEquals(2L, json.get("n_head"));
      assertEquals(32L, json.get("n_embd"));
      assertEquals(16L, json.get("n_positions"));
      assertEquals(70L, json.get("vocab_size"));
      assertEquals("gpt2", json.get("model_type"));
    }
  }

  @Test
  void readsHubStyleFiles(@TempDir Path dir) throws IOException {
    // The hub's gpt2 files: no "transformer." prefix, causal-mask buffers, and a stored tied head.
    try (Gpt model = new Gpt(CONFIG, 4, Device.CPU)) {
      GptCheckpoint.save(model, dir);
      Path hub = dir.resolve("hub");
      Files.createDirectories(hub);
      Files.copy(dir.resolve(GptCheckpoint.CONFIG), hub.resolve(GptCheckpoint.CONFIG));
      Safetensors.Writer w = new Safetensors.Writer();
      try (Safetensors.Reader r = Safetensors.Reader.open(dir.resolve(GptCheckpoint.WEIGHTS))) {
        for (Safetensors.Entry e : r.entries().values()) {
          w.add(e.name().replaceFirst("^transformer\\.", ""), r.floats(e.name()), e.shape());
        }
        w.add("lm_head.weight", r.floats("transformer.wte.weight"), 70, 32);
      }
      w.add("h.0.attn.bias", new float[16 * 16], 1, 1, 16, 16);
      w.add("h.1.attn.masked_bias", new float[] {-1e4f});
      w.write(hub.resolve(GptCheckpoint.WEIGHTS));
      try (Gpt loaded = GptCheckpoint.load(hub, Device.CPU)) {
        assertArrayEquals(logits(model), logits(loaded));
      }
    }
  }

  @Test
  void refusesFilesThatDoNotFit(@TempDir Path dir) throws IOException {
    try (Gpt model = new Gpt(CONFIG, 4, Device.CPU)) {
      GptCheckpoint.save(model, dir);
    }
    // Another width in config.json than in the weights.
    Files.writeString(dir.resolve(GptCheckpoint.CONFIG), GptConfig.of(2, 2, 64, 16, 70).toJsonString());
    IOException e = assertThrows(IOException.class, () -> GptCheckpoint.load(dir, Device.CPU));
    assertTrue(e.getMessage().contains("shape"), e.getMessage());
    // A missing tensor.
    Files.writeString(dir.resolve(GptCheckpoint.CONFIG), GptConfig.of(3, 2, 32, 16, 70).toJsonString());
    e = assertThrows(IOException.class, () -> GptCheckpoint.load(dir, Device.CPU));
    assertTrue(e.getMessage().contains("transformer.h.2"), e.getMessage());
  }

  @Test
  void configReadsHuggingFaceFields() {
    String hf = """
        {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
         "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
         "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
         "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "vocab_size": 50257}""";
    GptConfig c = GptConfig.fromJson(hf);
    assertEquals(new GptConfig(12, 12, 768, 1024, 50257, true, 0.1, true, 1e-5), c);
    assertEquals(c, GptConfig.fromJson(c.toJsonString()));
    assertThrows(IllegalArgumentException.class, () -> GptConfig.fromJson("{\"model_type\": \"bert\"}"));
    assertThrows(IllegalArgumentException.class, () -> GptConfig.fromJson("{\"activation_function\": \"relu\"}"));
    assertThrows(IllegalArgumentException.class, () -> GptConfig.of(2, 3, 32, 16, 70));
  }
}
