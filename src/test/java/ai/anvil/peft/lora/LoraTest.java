package ai.anvil.peft.lora;

import static ai.anvil.peft.TinyModels.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.io.Json;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.AdapterFiles;
import ai.anvil.peft.TinyModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraTest {
  private static final int B = 2, T = 7;

  /** Random non-zero A and B, so the adapter does something. */
  static void randomize(LoraModel lora, long seed) {
    for (LoraLayer l : lora.layers().values()) {
      TinyModels.randomize(l.loraA(), 0.3, seed++);
      TinyModels.randomize(l.loraB(), 0.3, seed++);
    }
  }

  @Test
  void targetsByNamePatternOrAllLinearLayers() {
    try (Gpt gpt = TinyModels.gpt(1)) {
      try (LoraModel lora = LoraModel.attach(gpt, LoraConfig.of(4, 8), 1)) {
        assertEquals(List.of("transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"), List.copyOf(lora.layers().keySet()));
        assertTrue(lora.adapterParameters().containsKey("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"));
        assertEquals(List.of(4L, 32L), List.of(lora.layers().get("transformer.h.0.attn.c_attn").loraA().dims()[0], 32L));
        assertEquals(2 * (4 * 32 + 96 * 4), lora.parameterCount(true), "only A and B train");
        assertTrue(gpt.namedParameters().values().stream().noneMatch(Parameter::trainable), "the base is frozen");
      }
      assertTrue(gpt.namedParameters().values().stream().allMatch(Parameter::trainable), "closing unfreezes the base");
      try (LoraModel lora = LoraModel.attach(gpt, LoraConfig.of(2, 4).withTargets(LoraConfig.ALL_LINEAR), 1)) {
        assertEquals(8, lora.layers().size());
      }
      try (LoraModel lora = LoraModel.attach(gpt, LoraConfig.of(2, 4).withTargets(".*\\.h\\.1\\.mlp\\.c_(fc|proj)"), 1)) {
        assertEquals(List.of("transformer.h.1.mlp.c_fc", "transformer.h.1.mlp.c_proj"), List.copyOf(lora.layers().keySet()));
      }
      assertThrows(IllegalArgumentException.class, () -> LoraModel.attach(gpt, LoraConfig.of(2, 4).withTargets("q_proj"), 1));
    }
  }

  @Test
  void scalingIsAlphaOverRankOrOverItsRootWithRsLora() {
    assertEquals(2.0, LoraConfig.of(8, 16).scaling());
    assertEquals(16 / Math.sqrt(8), LoraConfig.of(8, 16).withRsLora(true).scaling(), 1e-15);
  }

  @Test
  void aNewAdapterChangesNothingBitForBit() {
    int[] ids = TinyModels.ids(B * T, 3);
    try (Gpt gpt = TinyModels.gpt(2)) {
      float[] base = TinyModels.logits(gpt, ids, B);
      try (LoraModel lora = LoraModel.attach(gpt, LoraConfig.of(4, 8).withTargets(LoraConfig.ALL_LINEAR), 7)) {
        assertArrayEquals(base, TinyModels.logits(gpt, ids, B));
      }
    }
  }

  @Test
  void mergedAndUnmergedForwardsAgreeAndUnmergeRestoresTheBase() {
    int[] ids = TinyModels.ids(B * T, 4);
    try (Gpt gpt = TinyModels.gpt(3)) {
      Map<String, float[]> before = weights(gpt);
      float[] base = TinyModels.logits(gpt, ids, B);
      try (LoraModel lora = LoraModel.attach(gpt, LoraConfig.of(4, 8).withTargets(LoraConfig.ALL_LINEAR).withRsLora(true), 7)) {
        randomize(lora, 100);
        float[] unmerged = TinyModels.logits(gpt, ids, B);
        assertFalse(java.util.Arrays.equals(base, unmerged), "the adapter changes the outputs");
        lora.merge();
        assertTrue(lora.layers().values().stream().allMatch(LoraLayer::merged));
        float[] merged = TinyModels.logits(gpt, ids, B);
        assertClose("merged vs unmerged", unmerged, merged, 2e-5);
        assertClose("merged, cached decoding", unmerged, TinyModels.decoded(gpt, ids, B), 2e-5);
        lora.unmerge();
        assertClose("unmerged again", unmerged, TinyModels.logits(gpt, ids, B), 2e-5);
        for (Map.Entry<String, float[]> e : weights(gpt).entrySet()) {
          assertClose("base weight " + e.getKey() + " after merge + unmerge", before.get(e.getKey()), e.getValue(), 1e-6);
        }
        lora.merge();
      }
      // closing a merged adapter unmerges it: the base computes what it did before
      assertClose("base after close", base, TinyModels.logits(gpt, ids, B), 2e-5);
      assertNull(gpt.namedParameters().get("transformer.h.0.attn.c_attn.weight").grad());
    }
  }

  @Test
  void cachedDecodingSeesTheAdapterInEveryRowBlockOfCAttn() {
    int[] ids = TinyModels.ids(B * T, 5);
    try (Gpt gpt = TinyModels.gpt(4); LoraModel lora = LoraModel.attach(gpt, LoraConfig.of(3, 6).withTargets(LoraConfig.ALL_LINEAR), 7)) {
      randomize(lora, 200);
      assertClose("cached vs full forward", TinyModels.logits(gpt, ids, B), TinyModels.decoded(gpt, ids, B), 2e-5);
    }
  }

  @Test
  void savesInPeftLayoutAndLoadsBackWithIdenticalOutputs(@TempDir Path dir) throws Exception {
    int[] ids = TinyModels.ids(B * T, 6);
    float[] adapted;
    try (Gpt gpt = TinyModels.gpt(5); LoraModel lora = LoraModel.attach(gpt, new LoraConfig(4, 16, 0.1, List.of("c_attn", "c_fc"), false), 7)) {
      randomize(lora, 300);
      adapted = TinyModels.logits(gpt, ids, B);
      lora.save(dir);
    }
    Map<String, Object> config = Json.parseObject(Files.readString(dir.resolve(AdapterFiles.CONFIG)));
    assertEquals("LORA", config.get("peft_type"));
    assertEquals(Boolean.TRUE, config.get("fan_in_fan_out"));
    assertEquals(List.of("c_attn", "c_fc"), config.get("target_modules"));
    AdapterFiles.Contents c = AdapterFiles.read(dir);
    assertEquals(8, c.tensors().size());
    assertArrayEquals(new long[] {4, 32}, c.shapes().get("base_model.model.transformer.h.1.mlp.c_fc.lora_A.weight"));
    assertArrayEquals(new long[] {128, 4}, c.shapes().get("base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight"));
    try (Gpt gpt = TinyModels.gpt(5); LoraModel lora = LoraModel.load(gpt, dir)) {
      assertEquals(0.1, lora.config().dropout());
      assertArrayEquals(adapted, TinyModels.logits(gpt, ids, B));
    }
    try (Gpt other = new Gpt(ai.anvil.models.gpt.GptConfig.of(2, 2, 48, 24, 70), 1, ai.anvil.tensor.Device.CPU)) {
      assertThrows(java.io.IOException.class, () -> LoraModel.load(other, dir), "shapes are checked");
    }
  }

  private static Map<String, float[]> weights(Gpt gpt) {
    Map<String, float[]> out = new java.util.LinkedHashMap<>();
    for (Map.Entry<String, Parameter> e : gpt.namedParameters().entrySet()) out.put(e.getKey(), e.getValue().value().toFloatArray());
    return out;
  }
}
