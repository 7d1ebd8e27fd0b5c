package ai.anvil.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.Corpora;
import ai.anvil.data.TokenDataset;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.dist.ParallelRuns.Run;
import ai.anvil.tensor.Device;
import ai.anvil.train.TrainConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The semantics of data parallelism: 2 ranks (threads, Gloo over loopback) with batch B per rank make
 * the same losses and weights as one process with batch 2B, up to the order of fp32 sums. A tiny GPT
 * on the embedded KJV, char-level, with clipping active and 2 micro-batches per step.
 */
class DataParallelTest {
  private static final int STEPS = 6;
  private static TokenDataset data;
  private static int vocab;

  @BeforeAll
  static void setUp() throws Exception {
    Assumptions.assumeTrue(GlooGroup.unavailableReason() == null, GlooGroup.unavailableReason());
    String text = Corpora.embeddedKjv().substring(0, 200_000);
    CharTokenizer tok = CharTokenizer.fromText(text);
    vocab = tok.vocabSize();
    Path shard = Files.createTempFile("dp-kjv", ".shard");
    shard.toFile().deleteOnExit();
    data = TokenDataset.build(text, tok, shard);
  }

  private static TrainConfig config(int batch) {
    return TrainConfig.defaults().with("n_layer", 2, "n_head", 2, "n_embd", 32, "block_size", 16, "batch_size", batch,
        "grad_accum", 2, "max_steps", STEPS, "warmup_steps", 2, "lr", 3e-3, "grad_clip", 0.5, "eval_interval", STEPS,
        "eval_iters", 2, "device", "cpu", "sample_tokens", 0);
  }

  private static Run train(TrainConfig c, int rank, int world, GlooGroup group, long bucket) {
    return ParallelRuns.train(c, data, vocab, Device.CPU, STEPS, rank, world, group, bucket);
  }

  @Test
  void twoRanksWithBatchBEqualOneProcessWithBatch2B() throws Exception {
    Run single = train(config(8), 0, 1, null, 0);
    // Buckets of 3000 elements: about ten of the model's 40k gradients' buckets start during the backward.
    compare(single, LoopbackRanks.run(2, Duration.ofSeconds(60), g -> train(config(4), g.rank(), 2, g, 3000)));
    // No overlap: every gradient reduced after the backward.
    compare(single, LoopbackRanks.run(2, Duration.ofSeconds(60), g -> train(config(4), g.rank(), 2, g, 0)));
  }

  @Test
  void ranksWithDifferentModelsFailClearlyBeforeAnyBulkCollective() throws Exception {
    List<Object> out = LoopbackRanks.outcomes(2, Duration.ofSeconds(20),
        g -> train(config(4).with("n_embd", g.rank() == 0 ? 32 : 48), g.rank(), 2, g, 0));
    assertTrue(out.get(1) instanceof IllegalStateException e && e.getMessage().contains("every rank must build the same model"),
        "rank 1: " + out.get(1));
    // Rank 0 went on to the broadcast and lost its peer.
    assertTrue(out.get(0) instanceof CollectiveException, "rank 0: " + out.get(0));
  }

  private static void compare(Run single, List<Run> ranks) {

    double maxLoss = 0, maxWeight = 0;
    for (int s = 0; s < STEPS; s++) {
      assertEquals(ranks.get(0).losses().get(s), ranks.get(1).losses().get(s), 0.0, "both ranks report the global loss");
      maxLoss = Math.max(maxLoss, Math.abs(single.losses().get(s) - ranks.get(0).losses().get(s)));
    }
    for (String name : single.weights().keySet()) {
      float[] a = single.weights().get(name);
      // The replicas stay bit-identical: same reduced gradients, same update.
      assertArrayEquals(ranks.get(0).weights().get(name), ranks.get(1).weights().get(name), name);
      float[] b = ranks.get(0).weights().get(name);
      for (int i = 0; i < a.length; i++) maxWeight = Math.max(maxWeight, Math.abs(a[i] - b[i]));
    }
    // Measured: losses within 2.4e-7, weights within 7.5e-7 (fp32 reduction order); 10x margin. A wrong shard,
    // a local normalizer or a missing reduction moves them by 1e-3 or more.
    assertTrue(maxLoss < 5e-6, "max loss difference " + maxLoss);
    assertTrue(maxWeight < 1e-5, "max weight difference " + maxWeight + " (lr 3e-3)");
    System.out.printf("data-parallel vs single: max |dloss| %.3g, max |dweight| %.3g%n", maxLoss, maxWeight);
    assertTrue(single.losses().get(STEPS - 1) < single.losses().get(0), "the run learns");
  }
}
