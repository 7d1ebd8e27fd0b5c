package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Precision;
import ai.anvil.tensor.Device;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The precision setting of a training run (issue 7) where it runs without a GPU: its JSON key and its
 * values, auto resolving per device, and bf16 refused on the CPU before any step runs. bf16 steps themselves
 * are checked on the GPU (backend.cuda.CudaBf16StepTest).
 */
class TrainPrecisionTest {
  private static final int VOCAB = 13, COLS = 9;
  private static final int[] TOKENS = TestSources.corpus(2000, VOCAB, 3);

  @Test
  void settingResolvesPerDeviceAndRefusesUnknownValues() {
    TrainConfig c = TrainConfig.defaults();
    assertEquals("auto", c.precision());
    assertEquals(Precision.FP32, c.precisionOn(Device.CPU));
    assertEquals(Precision.BF16, c.precisionOn(Device.cuda(0)));
    assertEquals(Precision.FP32, c.with("precision", "fp32").precisionOn(Device.cuda(0)));
    assertEquals(Precision.BF16, c.with(Map.of("precision", "bf16")).precisionOn(Device.cuda(0)));
    assertEquals("bf16", c.with("precision", "bf16").toMap().get("precision"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.with("precision", "fp16"));
    assertTrue(e.getMessage().contains("precision must be one of [auto, fp32, bf16]"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> c.with("precision", "bf16").precisionOn(Device.CPU));
    assertTrue(e.getMessage().contains("fp32 only"), e.getMessage());
  }

  @Test
  void aTrainerOnTheCpuRunsFp32AndRefusesBf16() {
    TrainConfig base = TrainConfig.defaults().with("block_size", COLS, "batch_size", 4, "max_steps", 3, "warmup_steps", 1,
        "eval_interval", 3, "eval_iters", 2);
    try (TinyLm model = new TinyLm(VOCAB, 8, 1)) {
      try (Trainer t = trainer(model, base)) {
        assertEquals(Precision.FP32, t.precision());
        assertTrue(Double.isFinite(t.step()));
      }
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> trainer(model, base.with("precision", "bf16")));
      assertTrue(e.getMessage().contains("bf16 needs a CUDA device"), e.getMessage());
    }
  }

  private static Trainer trainer(TinyLm model, TrainConfig c) {
    return new Trainer(model, model, c, new TestSources.Windows(TOKENS, c.batchSize(), COLS, 1),
        new TestSources.Windows(TOKENS, 4, COLS, 2), RandomState.NONE);
  }
}
