package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.models.gpt.Gpt;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** CI-sized pre-training: a tiny GPT learns char-level KJV in a few hundred steps. */
class GptTrainingTest {
  @Test
  void tinyGptLearnsCharLevelKjv() {
    CpuBackend.setThreads(2);
    TrainConfig c = TrainConfig.defaults().with(Map.of("n_layer", 2, "n_head", 2, "n_embd", 64, "block_size", 32,
        "batch_size", 8, "max_steps", 300, "warmup_steps", 30, "lr", 3e-3, "eval_interval", 300, "eval_iters", 20));
    try (Gpt gpt = GptRuns.model(c); Trainer t = GptRuns.trainer(gpt, c)) {
      double start = t.evaluate().valLoss();
      Trainer.Result r = t.fit();
      System.out.printf("tiny GPT: val loss %.4f -> %.4f in %d steps, %.0f tokens/s%n", start, r.finalValLoss(), r.steps(),
          r.tokensPerSecond());
      assertTrue(r.finalValLoss() < 2.6, "val loss " + r.finalValLoss());
    }
  }
}
