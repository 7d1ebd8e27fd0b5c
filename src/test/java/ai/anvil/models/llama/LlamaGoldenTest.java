package ai.anvil.models.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import ai.anvil.models.AutoModel;
import ai.anvil.models.CausalLm;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.GoldenCausalLm;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Llama against transformers' LlamaForCausalLM (golden files from tools/golden/make_gpt2_llama_golden.py):
 * grouped-query attention (4 query heads, 2 key/value heads of width 6), rope_theta 1000, an untied head
 * and a vocabulary of 83 padded to 128 inside, loaded from the folder transformers saved (transformers 5's
 * rope_parameters). Logits, loss, every gradient, 10 AdamW steps and cached greedy decoding, on the CPU
 * in fp32, within 1e-5 of the fp64 golden values (normwise relative error; see {@link GoldenCausalLm}).
 */
class LlamaGoldenTest {
  private static final double TOLERANCE = 1e-5;
  private GoldenCausalLm golden;

  @BeforeEach
  void open() throws Exception {
    golden = GoldenCausalLm.open("llama");
  }

  @AfterEach
  void close() throws Exception {
    if (!golden.errors().isEmpty()) System.out.println(golden.summary());
    golden.close();
  }

  private Llama load() throws Exception {
    CausalLm lm = AutoModel.loadCausalLm(golden.modelDir(), Device.CPU);
    return assertInstanceOf(Llama.class, lm);
  }

  /** An Anvil gradient in transformers' layout: the token table and head cut to vocab rows. */
  private static float[] toHf(Llama model, String name, Tensor grad) {
    float[] g = grad.toFloatArray();
    if (name.equals("model.embed_tokens.weight") || name.equals("lm_head.weight")) {
      int vocab = model.config().vocabSize(), c = model.config().hiddenSize();
      float[] padding = Arrays.copyOfRange(g, vocab * c, g.length);
      assertArrayEquals(new float[padding.length], padding, name + ": padding rows get no gradient");
      return Arrays.copyOf(g, vocab * c);
    }
    return g;
  }

  @Test
  void configAsTransformersWroteIt() throws Exception {
    LlamaConfig c = LlamaCheckpoint.readConfig(golden.modelDir());
    assertEquals(new LlamaConfig(83, 24, 40, 2, 4, 2, 6, 32, 1e-6, 1000.0, false, false, false), c);
    assertEquals(2, c.groups());
  }

  @Test
  void logitsLossAndGradients() throws Exception {
    try (Llama model = load()) {
      golden.checkBatch(model, (name, grad) -> toHf(model, name, grad), TOLERANCE);
    }
  }

  @Test
  void adamWStepsAndSavesForTransformers() throws Exception {
    try (Llama model = load()) {
      golden.saveForTransformers(model, "initial", null);
      double last = golden.checkAdamW(model, TOLERANCE);
      golden.saveForTransformers(model, "trained", Map.of("loss", last));
    }
  }

  @Test
  void greedyDecodingWithTheCache() throws Exception {
    try (Llama model = load()) {
      model.train(false);
      golden.checkGreedy(model, TOLERANCE);
    }
  }
}
