package ai.anvil.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.anvil.autograd.Precision;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import ai.anvil.testkit.OneCpuThread;
import ai.anvil.testkit.Tolerance;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Batched decoding on the CPU: rows of different lengths stepping together with their lengths in
 * "device" memory (DecodeChecks, the body the GPU test runs too), and {@link Generator#generateBatch}
 * giving each prompt the tokens it gets alone.
 */
@ExtendWith(OneCpuThread.class)
class BatchDecodeTest {
  private static final GptConfig CONFIG = GptConfig.of(2, 2, 32, 32, 61);

  @Test
  void raggedRowsStepLikeTheFullForward() {
    Gpt[] m = DecodeChecks.models(CONFIG, 3, Device.CPU);
    try (Gpt cpu = m[0]; Gpt same = m[1]) {
      DecodeChecks.raggedSteps(cpu, same, Precision.FP32, false, Tolerance.F32_REDUCTION);
    }
  }

  @Test
  void batchedGreedyGenerationGivesEachPromptItsOwnTokens() {
    try (Gpt model = new Gpt(CONFIG, 8, Device.CPU)) {
      model.train(false);
      Generator g = new Generator(model, null);
      SamplingConfig greedy = SamplingConfig.greedy(7).withStopAtEos(false);
      List<int[]> prompts = DecodeChecks.prompts(CONFIG.vocabSize());
      List<Generation> batch = g.generateBatch(prompts, greedy);
      assertEquals(prompts.size(), batch.size());
      for (int r = 0; r < prompts.size(); r++) {
        Generation alone = g.generate(prompts.get(r), greedy, null);
        assertArrayEquals(alone.tokens(), batch.get(r).tokens(), "prompt " + r);
        assertEquals(Generation.Finish.LENGTH, batch.get(r).finish());
      }
    }
  }

  @Test
  void aStopTokenEndsOnlyItsRow() {
    try (Gpt model = new Gpt(CONFIG, 8, Device.CPU)) {
      model.train(false);
      Generator g = new Generator(model, null);
      List<int[]> prompts = DecodeChecks.prompts(CONFIG.vocabSize());
      SamplingConfig greedy = SamplingConfig.greedy(6).withStopAtEos(false);
      int[] first = g.generate(prompts.get(0), greedy, null).tokens();
      SamplingConfig stopping = greedy.withStopTokens(first[1]);  // row 0 meets it within two tokens
      List<Generation> batch = g.generateBatch(prompts, stopping);
      assertEquals(Generation.Finish.STOP, batch.get(0).finish());
      for (int r = 0; r < prompts.size(); r++) {
        Generation alone = g.generate(prompts.get(r), stopping, null);
        assertArrayEquals(alone.tokens(), batch.get(r).tokens(), "prompt " + r);
        assertEquals(alone.finish(), batch.get(r).finish(), "prompt " + r);
      }
    }
  }
}
