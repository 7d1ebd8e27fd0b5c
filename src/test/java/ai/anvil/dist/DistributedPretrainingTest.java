package ai.anvil.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.Corpora;
import ai.anvil.train.Pretraining;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainListener;
import ai.anvil.train.report.MetricsLog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data parallelism through the whole pre-training run (Pretraining, checkpoints, metrics): a 2-rank job
 * whose rank 0 dies after its step-4 checkpoint fails on both ranks; only rank 0 wrote the run folder;
 * resuming that checkpoint on one process with the 2-rank global batch finishes the run with the losses
 * of an uninterrupted single-process run (the data cursor converts between world sizes).
 */
class DistributedPretrainingTest {
  private static final int B = 4;
  private static Path corpus;

  @TempDir static Path tmp;

  @BeforeAll
  static void setUp() throws Exception {
    Assumptions.assumeTrue(GlooGroup.unavailableReason() == null, GlooGroup.unavailableReason());
    corpus = tmp.resolve("kjv-excerpt.txt");
    Files.writeString(corpus, Corpora.embeddedKjv().substring(0, 150_000));
  }

  private static TrainConfig config(Path out, int batch) {
    return TrainConfig.defaults().with("corpus", corpus.toString(), "n_layer", 2, "n_head", 2, "n_embd", 32,
        "block_size", 16, "batch_size", batch, "max_steps", 8, "warmup_steps", 2, "lr", 3e-3, "eval_interval", 4,
        "eval_iters", 2, "device", "cpu", "sample_tokens", 0, "out", out.toString());
  }

  private static List<double[]> trainLosses(Path out) throws Exception {
    return MetricsLog.read(out.resolve("metrics.jsonl")).train();
  }

  @Test
  void aDeadRankFailsTheJobAndTheRunResumesOnAnotherWorldSize() throws Exception {
    Path single = tmp.resolve("single");
    Pretraining.Outcome reference = Pretraining.run(config(single, 2 * B), new TrainListener() {});
    List<double[]> expected = trainLosses(single);
    assertEquals(8, expected.size());

    // Two ranks; rank 0 dies right after writing its step-4 checkpoint.
    Path dp = tmp.resolve("dp");
    TrainListener dieAfterCheckpoint = new TrainListener() {
      @Override
      public void onCheckpoint(long step, Path dir) {
        if (step == 4) throw new IllegalStateException("rank 0 killed by the test");
      }
    };
    List<Object> ranks = LoopbackRanks.outcomes(2, Duration.ofSeconds(30),
        g -> Pretraining.run(config(dp, B), dieAfterCheckpoint, new Distributed(g)));
    assertTrue(ranks.get(0) instanceof IllegalStateException e && e.getMessage().contains("killed by the test"), "rank 0: " + ranks.get(0));
    // Rank 1's next collective lost its peer: a clear failure, not a hang.
    assertTrue(ranks.get(1) instanceof CollectiveException e && e.getMessage().contains("rank 1 of 2"), "rank 1: " + ranks.get(1));
    assertTrue(Files.isDirectory(dp.resolve("checkpoint")));
    try (var files = Files.list(dp)) {
      List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
      assertEquals(List.of("checkpoint", "metrics.jsonl", "tokens.shard", "train_config.json"), names, "only rank 0 writes");
    }
    List<double[]> firstHalf = trainLosses(dp);
    assertEquals(4, firstHalf.size(), "one metrics line per step: rank 1 logs nothing");
    for (int s = 0; s < 4; s++) assertEquals(expected.get(s)[1], firstHalf.get(s)[1], 5e-6, "step " + (s + 1));

    // Resume on one process with the same global batch (2B rows): steps 5..8 as the uninterrupted run.
    Pretraining.Outcome resumed = Pretraining.run(config(dp, 2 * B).with("resume", dp.toString()),
        new TrainListener() {});
    List<double[]> all = trainLosses(dp);
    assertEquals(8, all.size());
    for (int s = 4; s < 8; s++) assertEquals(expected.get(s)[1], all.get(s)[1], 5e-6, "step " + (s + 1));
    assertEquals(reference.result().finalValLoss(), resumed.result().finalValLoss(), 5e-6);
    assertFalse(Double.isNaN(resumed.result().finalValLoss()));
  }
}
