package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.train.checkpoint.Checkpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * N steps straight give exactly the losses of k steps, a checkpoint, a fresh process-like restore and
 * N-k more (CPU, pinned threads). Dropout and gradient accumulation are on, so the RNG state, the data
 * cursor, the AdamW moments and step count and the schedule position must all come back exactly.
 */
class ResumeTest {
  @TempDir Path dir;

  private static final int N = 24, K = 10;
  private static final TrainConfig CONFIG = TrainConfig.defaults().with("n_layer", 2, "n_head", 2, "n_embd", 32,
      "block_size", 16, "batch_size", 4, "grad_accum", 2, "dropout", 0.1, "max_steps", N, "warmup_steps", 5,
      "eval_interval", 1000, "eval_iters", 2);

  @Test
  void resumedRunRepeatsTheStraightRunBitForBit() throws IOException {
    CpuBackend.setThreads(2);
    double[] straight = new double[N];
    float[] straightWeights;
    try (Gpt gpt = GptRuns.model(CONFIG); Trainer t = GptRuns.trainer(gpt, CONFIG)) {
      for (int i = 0; i < N; i++) straight[i] = t.step();
      straightWeights = gpt.namedParameters().get("transformer.h.1.mlp.c_proj.weight").value().toFloatArray();
    }
    double[] resumed = new double[N];
    try (Gpt gpt = GptRuns.model(CONFIG); Trainer t = GptRuns.trainer(gpt, CONFIG)) {
      for (int i = 0; i < K; i++) resumed[i] = t.step();
      Checkpoint.save(dir, gpt, GptRuns.Kjv.TOKENIZER, t);
      // Move on past the checkpoint, so a restore that changed nothing would show.
      t.step();
    }
    // A different init seed: everything must come from the checkpoint.
    TrainConfig other = CONFIG.with(Map.of("seed", 99L));
    try (Gpt gpt = GptRuns.model(other); Trainer t = GptRuns.trainer(gpt, CONFIG)) {
      Checkpoint.restore(Checkpoint.resolve(dir), gpt, t);
      assertEquals(K, t.state().step());
      for (int i = K; i < N; i++) resumed[i] = t.step();
      assertArrayEquals(straightWeights, gpt.namedParameters().get("transformer.h.1.mlp.c_proj.weight").value().toFloatArray());
    }
    assertArrayEquals(straight, resumed, 0.0);
  }
}
