package ai.anvil.models.gpt;

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
 * GPT-2 against transformers' GPT2LMHeadModel (golden files from tools/golden/make_gpt2_llama_golden.py):
 * a tiny model with a tied head and a vocabulary of 83 padded to 128 inside, loaded from the folder
 * transformers saved (Conv1D weights stored (in, out)). Logits, loss, every gradient, 10 AdamW steps
 * and cached greedy decoding, on the CPU in fp32, within 1e-5 of the fp64 golden values (normwise
 * relative error; see {@link GoldenCausalLm}). Also writes Anvil's saves for the script's --check-anvil.
 */
class Gpt2GoldenTest {
  private static final double TOLERANCE = 1e-5;
  private GoldenCausalLm golden;

  @BeforeEach
  void open() throws Exception {
    golden = GoldenCausalLm.open("gpt2");
  }

  @AfterEach
  void close() throws Exception {
    if (!golden.errors().isEmpty()) System.out.println(golden.summary());
    golden.close();
  }

  private Gpt load() throws Exception {
    CausalLm lm = AutoModel.loadCausalLm(golden.modelDir(), Device.CPU);
    return assertInstanceOf(Gpt.class, lm);
  }

  /** An Anvil gradient in transformers' layout: Conv1D weights transposed, the token table cut to vocab rows. */
  private static float[] toHf(Gpt model, String name, Tensor grad) {
    float[] g = grad.toFloatArray();
    long[] d = grad.dims();
    if (name.equals("transformer.wte.weight")) {
      int vocab = model.config().vocabSize(), c = model.config().nEmbd();
      float[] padding = Arrays.copyOfRange(g, vocab * c, g.length);
      assertArrayEquals(new float[padding.length], padding, "padding rows of the token table get no gradient");
      return Arrays.copyOf(g, vocab * c);
    }
    boolean conv1d = name.endsWith(".weight") && (name.contains(".attn.c_attn.") || name.contains(".attn.c_proj.")
        || name.contains(".mlp.c_fc.") || name.contains(".mlp.c_proj."));
    return conv1d ? GptCheckpoint.transpose(g, (int) d[0], (int) d[1]) : g;
  }

  @Test
  void logitsLossAndGradients() throws Exception {
    try (Gpt model = load()) {
      assertEquals(83, model.config().vocabSize());
      assertEquals(128, model.config().paddedVocab());
      golden.checkBatch(model, (name, grad) -> toHf(model, name, grad), TOLERANCE);
    }
  }

  @Test
  void adamWStepsAndSavesForTransformers() throws Exception {
    try (Gpt model = load()) {
      golden.saveForTransformers(model, "initial", null);
      double last = golden.checkAdamW(model, TOLERANCE);
      golden.saveForTransformers(model, "trained", Map.of("loss", last));
    }
  }

  @Test
  void greedyDecodingWithTheCache() throws Exception {
    try (Gpt model = load()) {
      model.train(false);
      golden.checkGreedy(model, TOLERANCE);
    }
  }
}
