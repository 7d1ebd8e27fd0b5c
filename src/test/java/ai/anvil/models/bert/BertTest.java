package ai.anvil.models.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.OneCpuThread;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** BERT structure (HF names and counts), config.json, padding masks, pooling, dropout and both checkpoint layouts. */
@ExtendWith(OneCpuThread.class)
class BertTest {
  static final Device CPU = Device.CPU;
  /** vocabulary 50, 16 wide, 2 layers, 2 heads, feed-forward 24, 16 positions, no dropout. */
  static final BertConfig SMALL = BertConfig.of(50, 16, 2, 2, 24).withMaxPositions(16).withDropout(0, 0);
  @Test
  void parameterNamesAndCountsFollowHuggingFace() {
    assertEquals(109_482_240L, BertConfig.base().parameterCount(true));
    assertEquals(22_713_216L, new BertConfig(30522, 384, 6, 12, 1536, 512, 2, 1e-12, "gelu", 0.1, 0.1, 0.02, 0)
        .parameterCount(true));
    try (Bert model = new Bert(SMALL, true, 1, CPU); BertForMaskedLM mlm = new BertForMaskedLM(SMALL, 1, CPU)) {
      List<String> names = new ArrayList<>(model.namedParameters().keySet());
      assertEquals(List.of("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
          "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
          "encoder.layer.0.attention.self.query.weight", "encoder.layer.0.attention.self.query.bias",
          "encoder.layer.0.attention.self.key.weight", "encoder.layer.0.attention.self.key.bias",
          "encoder.layer.0.attention.self.value.weight", "encoder.layer.0.attention.self.value.bias",
          "encoder.layer.0.attention.output.dense.weight", "encoder.layer.0.attention.output.dense.bias",
          "encoder.layer.0.attention.output.LayerNorm.weight", "encoder.layer.0.attention.output.LayerNorm.bias",
          "encoder.layer.0.intermediate.dense.weight", "encoder.layer.0.intermediate.dense.bias",
          "encoder.layer.0.output.dense.weight", "encoder.layer.0.output.dense.bias",
          "encoder.layer.0.output.LayerNorm.weight", "encoder.layer.0.output.LayerNorm.bias"), names.subList(0, 21));
      assertEquals(List.of("pooler.dense.weight", "pooler.dense.bias"), names.subList(names.size() - 2, names.size()));
      assertEquals(5 + 16 * 2 + 2, names.size());
      assertEquals(SMALL.parameterCount(true), model.parameterCount(false));
      List<String> head = new ArrayList<>(mlm.namedParameters().keySet());
      assertEquals("bert.embeddings.word_embeddings.weight", head.get(0));
      assertEquals(List.of("cls.predictions.bias", "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
          "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias"),
          head.subList(head.size() - 5, head.size()));
      assertEquals(SMALL.maskedLmParameterCount(), mlm.parameterCount(false));
      // HF's init: the padding row of the word table is zero.
      float[] table = model.wordEmbeddings().toFloatArray();
      for (int i = 0; i < 16; i++) assertEquals(0f, table[i]);
    }
  }

  @Test
  void configJsonRoundTripsAndRefusesWhatIsNotImplemented() {
    BertConfig c = new BertConfig(30522, 384, 6, 12, 1536, 512, 2, 1e-12, "gelu", 0.1, 0.1, 0.02, 0);
    assertEquals(c, BertConfig.fromJson(c.toJsonString("BertModel")));
    assertEquals(List.of("BertForMaskedLM"), c.toJson("BertForMaskedLM").get("architectures"));
    String json = c.toJsonString("BertModel");
    assertThrows(IllegalArgumentException.class, () -> BertConfig.fromJson(json.replace("\"absolute\"", "\"relative_key\"")));
    assertThrows(IllegalArgumentException.class, () -> BertConfig.fromJson(json.replace("\"gelu\"", "\"relu\"")));
    assertThrows(IllegalArgumentException.class, () -> BertConfig.fromJson(json.replace("\"bert\"", "\"roberta\"")));
    assertThrows(IllegalArgumentException.class, () -> BertConfig.fromJson(json.replace("\"num_attention_heads\": 12",
        "\"num_attention_heads\": 7")));
    assertTrue(c.withDropout(0, 0).tanhGelu() == false);
  }

  /** Right-padded rows give, at their real positions, what each row gives alone; pad ids do not matter. */
  @Test
  void paddingIsMaskedOut() {
    try (Bert model = new Bert(SMALL, true, 3, CPU); Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      model.train(false);
      int t = 9;
      int[] lengths = {9, 5, 2};
      SplittableRandom r = new SplittableRandom(11);
      int[] ids = new int[3 * t], types = new int[3 * t], mask = new int[3 * t];
      for (int b = 0; b < 3; b++) {
        for (int i = 0; i < t; i++) {
          boolean real = i < lengths[b];
          ids[b * t + i] = real ? 1 + r.nextInt(49) : r.nextInt(50);       // padding holds junk ids
          types[b * t + i] = real && i >= lengths[b] / 2 ? 1 : 0;
          mask[b * t + i] = real ? 1 : 0;
        }
      }
      float[] batch = model.forward(Tensor.ofInts(ids, 3, t), Tensor.ofInts(types, 3, t), Tensor.ofInts(mask, 3, t)).toFloatArray();
      float[] means = Pooling.mean(model.forward(Tensor.ofInts(ids, 3, t), Tensor.ofInts(types, 3, t), Tensor.ofInts(mask, 3, t)),
          Tensor.ofInts(mask, 3, t)).toFloatArray();
      for (int b = 0; b < 3; b++) {
        int n = lengths[b];
        int[] rowIds = java.util.Arrays.copyOfRange(ids, b * t, b * t + n);
        int[] rowTypes = java.util.Arrays.copyOfRange(types, b * t, b * t + n);
        Tensor hidden = model.forward(Tensor.ofInts(rowIds, 1, n), Tensor.ofInts(rowTypes, 1, n), null);
        float[] alone = hidden.toFloatArray();
        float[] mean = Pooling.mean(hidden, null).toFloatArray();
        for (int i = 0; i < n * 16; i++) assertEquals(alone[i], batch[b * t * 16 + i], 2e-5, "row " + b + " value " + i);
        for (int i = 0; i < 16; i++) assertEquals(mean[i], means[b * 16 + i], 2e-5, "mean of row " + b);
        float[] cls = Pooling.cls(hidden).toFloatArray();
        assertArrayEquals(java.util.Arrays.copyOf(alone, 16), cls, "CLS pooling is the first token exactly");
      }
      // Without the mask the padding is attended to and the outputs change.
      float[] unmasked = model.forward(Tensor.ofInts(ids, 3, t), Tensor.ofInts(types, 3, t), null).toFloatArray();
      assertFalse(Math.abs(unmasked[t * 16] - batch[t * 16]) < 1e-6, "the mask has an effect");
      assertThrows(IllegalArgumentException.class, () -> model.forward(Tensor.ofInts(new int[17], 1, 17), null, null));
      assertThrows(IllegalArgumentException.class, () -> model.forward(Tensor.ofInts(ids, 3, t), Tensor.ofInts(new int[t], 1, t), null));
    }
  }

  @Test
  void tanhThroughSoftmaxIsTanh() {
    float[] z = {-30f, -3f, -1f, -0.5f, -1e-3f, 0f, 1e-4f, 0.25f, 1f, 2.5f, 9f, 40f};
    try (Scope s = Scope.open()) {
      float[] y = Pooling.tanh(Tensor.of(z, 3, 4)).toFloatArray();
      for (int i = 0; i < z.length; i++) assertEquals(Math.tanh(z[i]), y[i], 2e-7, "tanh(" + z[i] + ")");
    }
  }

  @Test
  void hiddenDropoutActsOnlyWhileTrainingUnderATape() {
    try (Bert model = new Bert(SMALL.withDropout(0.3, 0.0), false, 2, CPU); Scope s = Scope.open()) {
      Tensor ids = Tensor.ofInts(new int[] {1, 5, 7, 9, 3, 2}, 1, 6);
      float[] plain;
      try (Tape.NoGrad ng = Tape.noGrad()) {
        plain = model.forward(ids, null, null).toFloatArray();
      }
      try (Tape tape = Tape.record()) {
        model.train(false);
        assertArrayEquals(plain, model.forward(ids, null, null).toFloatArray());
        model.train(true);
        long[] state = model.randomState();
        float[] a = model.forward(ids, null, null).toFloatArray();
        model.restoreRandomState(state);
        assertArrayEquals(a, model.forward(ids, null, null).toFloatArray());
        assertFalse(java.util.Arrays.equals(plain, a));
      }
    }
  }

  /** An MLM folder loads as BertModel (prefix stripped, head skipped); a BertModel folder lacks the MLM head. */
  @Test
  void bothLayoutsLoadIntoEitherModelAsTransformersDoes(@TempDir Path dir) throws IOException {
    try (BertForMaskedLM mlm = new BertForMaskedLM(SMALL, 4, CPU); Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      mlm.train(false);
      BertCheckpoint.save(mlm, dir.resolve("mlm"));
      Tensor ids = Tensor.ofInts(new int[] {2, 7, 9, 11, 4}, 1, 5);
      float[] expected = mlm.bert().forward(ids, null, null).toFloatArray();
      try (Bert base = BertCheckpoint.loadModel(dir.resolve("mlm"), CPU)) {
        assertFalse(base.hasPooler());
        assertArrayEquals(expected, base.forward(ids, null, null).toFloatArray());
        BertCheckpoint.save(base, dir.resolve("base"));
      }
      try (Bert base = BertCheckpoint.loadModel(dir.resolve("base"), CPU)) {
        assertArrayEquals(expected, base.forward(ids, null, null).toFloatArray());
      }
      IOException e = assertThrows(IOException.class, () -> BertCheckpoint.loadMaskedLM(dir.resolve("base"), CPU));
      assertTrue(e.getMessage().contains("missing tensor cls.predictions.bias"), e.getMessage());
      assertTrue(e.getMessage().contains(dir.resolve("base").resolve("model.safetensors").toString()), e.getMessage());
      Map<String, Object> config = ai.anvil.io.Json.parseObject(java.nio.file.Files.readString(dir.resolve("mlm/config.json")));
      assertEquals(List.of("BertForMaskedLM"), config.get("architectures"));
    }
  }
}
