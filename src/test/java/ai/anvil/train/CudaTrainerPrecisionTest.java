package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.autograd.Precision;
import ai.anvil.backend.cuda.CudaRuntime;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import ai.anvil.testkit.Tolerance;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Trainer on the GPU (issue 7): precision auto resolves to bf16 there, and 30 bf16 steps of a small GPT
 * follow the same run in the fp32 mode within the testkit's bf16 tolerance per step (the curve band of
 * backend.cuda.CudaBf16StepTest), while the model learns.
 */
@Tag("gpu")
class CudaTrainerPrecisionTest {
  private static final Device GPU = Device.cuda(0);
  private static final int VOCAB = 61, COLS = 32, STEPS = 30;
  private static final int[] TOKENS = TestSources.corpus(6000, VOCAB, 17);

  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  @Test
  void bf16StepsFollowTheFp32Steps() {
    TrainConfig base = TrainConfig.defaults().with("block_size", COLS, "batch_size", 4, "max_steps", STEPS,
        "warmup_steps", 3, "lr", 3e-3, "eval_interval", STEPS, "eval_iters", 2);
    double[] fp32 = run(base.with("precision", "fp32"), Precision.FP32);
    double[] bf16 = run(base, Precision.BF16);  // auto
    for (int s = 0; s < STEPS; s++) {
      assertEquals(fp32[s], bf16[s], Tolerance.BF16.rtol() * Math.max(1, Math.abs(fp32[s])), "loss of step " + (s + 1));
    }
    assertTrue(bf16[STEPS - 1] < bf16[0] - 0.5, "the bf16 run learns: " + bf16[0] + " -> " + bf16[STEPS - 1]);
  }

  private static double[] run(TrainConfig c, Precision expected) {
    // 2 heads of 64 (the flash-attention head size), 128 wide
    GptConfig config = GptConfig.of(2, 2, 128, COLS, VOCAB);
    double[] losses = new double[STEPS];
    try (Gpt gpt = new Gpt(config, 7, GPU);
         Trainer t = new Trainer(gpt, gpt::loss, c, new TestSources.Windows(TOKENS, c.batchSize(), COLS, 1),
             new TestSources.Windows(TOKENS, 4, COLS, 2), RandomState.NONE)) {
      assertEquals(expected, t.precision());
      for (int s = 0; s < STEPS; s++) losses[s] = t.step();
    }
    return losses;
  }
}
