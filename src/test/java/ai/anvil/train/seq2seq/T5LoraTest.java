package ai.anvil.train.seq2seq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.infer.Sampler;
import ai.anvil.infer.SamplingConfig;
import ai.anvil.infer.Seq2seqGenerator;
import ai.anvil.models.t5.T5;
import ai.anvil.models.t5.T5Config;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.lora.LoraConfig;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRA on the T5: only A and B train, the terms act in cached decoding as in the full forward, save and load. */
class T5LoraTest {
  private static final T5Config SMALL = T5Config.of(70, 32, 2, 2, 16, 0, 1);

  @Test
  void termsApplyInBothDecoderPathsAndSurviveSaveAndLoad(@TempDir Path dir) throws Exception {
    int[] src = {5, 9, 14, 2, 33, 1};
    SamplingConfig greedy = new SamplingConfig(10, 0.0, 0, 1.0, 0, List.of(), List.of(), false);
    int[] adapted;
    // The adapter owns its base (closing one closes the other), so each base lives in its adapter's block.
    try (Scope s = Scope.open(); T5 base = new T5(SMALL, 2, Device.CPU)) {
      base.train(false);
      int[] plain = new Seq2seqGenerator(base).generate(src, greedy);
      try (T5Lora lora = new T5Lora(base, LoraConfig.of(4, 8).withTargets("q", "k", "v", "o", "wi", "wo"), 3)) {
        for (java.util.Map.Entry<String, Parameter> e : lora.namedParameters().entrySet()) {
          assertEquals(e.getKey().contains("lora_"), e.getValue().trainable(), e.getKey() + ": only LoRA matrices train");
        }
        // B starts at zero; random B makes the terms matter.
        SplittableRandom r = new SplittableRandom(4);
        for (java.util.Map.Entry<String, Parameter> e : lora.namedParameters().entrySet()) {
          if (!e.getKey().endsWith("lora_B.weight")) continue;
          float[] v = new float[(int) e.getValue().value().numel()];
          for (int i = 0; i < v.length; i++) v[i] = (float) (0.5 * r.nextGaussian());
          e.getValue().value().copyFrom(v);
        }
        lora.train(false);
        adapted = new Seq2seqGenerator(base).generate(src, greedy);
        assertFalse(Arrays.equals(plain, adapted), "the adapter changes the output");
        int[] dec = new int[adapted.length];
        dec[0] = SMALL.decoderStartId();
        System.arraycopy(adapted, 0, dec, 1, adapted.length - 1);
        float[] logits = base.logits(Tensor.ofInts(src, Device.CPU, 1, src.length), null,
            Tensor.ofInts(dec, Device.CPU, 1, dec.length)).toFloatArray();
        for (int t = 0; t < adapted.length; t++) {
          assertEquals(Sampler.argmax(logits, t * SMALL.paddedVocab(), SMALL.vocabSize()), adapted[t], "step " + t);
        }
        lora.save(dir);
      }
    }
    // The same base weights (same seed) with the saved adapter decode the same tokens.
    try (Scope s = Scope.open(); T5 copy = new T5(SMALL, 2, Device.CPU); T5Lora loaded = T5Lora.load(copy, dir)) {
      copy.train(false);
      assertEquals(Arrays.toString(adapted), Arrays.toString(new Seq2seqGenerator(copy).generate(src, greedy)));
    }
    try (T5 other = new T5(SMALL, 2, Device.CPU)) {
      assertThrows(IllegalArgumentException.class, () -> new T5Lora(other, LoraConfig.of(4, 8).withTargets("c_attn"), 1));
    }
  }
}
