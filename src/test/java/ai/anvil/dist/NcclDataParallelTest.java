package ai.anvil.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.backend.cuda.CudaRuntime;
import ai.anvil.data.Corpora;
import ai.anvil.data.TokenDataset;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.dist.ParallelRuns.Run;
import ai.anvil.tensor.Device;
import ai.anvil.train.TrainConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Data-parallel training on the GPU through NCCL, on the one GPU a test machine has (NCCL refuses two
 * ranks on one device, so a world of 1): the bucketed all-reduce started during the backward (device
 * gradients handed to NCCL from the bucket thread while the backward goes on) and the reduction after it
 * must leave training exactly as it is without data parallelism. A world of 1 makes the sums identities,
 * so any difference is a race, a missed bucket, a wrong normalizer or a stream-ordering bug.
 */
@Tag("gpu")
class NcclDataParallelTest {
  private static final int STEPS = 6;
  private static TokenDataset data;
  private static int vocab;

  @BeforeAll
  static void setUp() throws Exception {
    Assumptions.assumeTrue(CudaRuntime.isUsable(), "no usable CUDA device: " + CudaRuntime.reason());
    try {
      assertTrue(NcclGroup.version() > 0);
    } catch (CollectiveException | LinkageError e) {
      Assumptions.abort("NCCL not available: " + e.getMessage());
    }
    String text = Corpora.embeddedKjv().substring(0, 200_000);
    CharTokenizer tok = CharTokenizer.fromText(text);
    vocab = tok.vocabSize();
    Path shard = Files.createTempFile("nccl-dp-kjv", ".shard");
    shard.toFile().deleteOnExit();
    data = TokenDataset.build(text, tok, shard);
  }

  private static TrainConfig config() {
    return TrainConfig.defaults().with("n_layer", 2, "n_head", 2, "n_embd", 64, "block_size", 32, "batch_size", 8,
        "grad_accum", 2, "max_steps", STEPS, "warmup_steps", 2, "lr", 3e-3, "grad_clip", 0.5, "eval_interval", STEPS,
        "eval_iters", 2, "device", "cuda", "sample_tokens", 0);
  }

  private static Run train(NcclGroup group, long bucket) {
    return ParallelRuns.train(config(), data, vocab, Device.cuda(0), STEPS, 0, 1, group, bucket);
  }

  @Test
  void aWorldOfOneOnNcclTrainsExactlyLikeNoDataParallelism() {
    Run plain = train(null, 0);
    for (long bucket : new long[] {4096, 0}) {  // ~25 buckets started during the backward; then none
      try (NcclGroup group = NcclGroup.join(NcclGroup.newUniqueId(), 0, 1, "cuda:0")) {
        Run dp = train(group, bucket);
        for (int s = 0; s < STEPS; s++) {
          assertEquals(plain.losses().get(s), dp.losses().get(s), 0.0, "bucket " + bucket + ", loss of step " + s);
        }
        for (String name : plain.weights().keySet()) {
          assertArrayEquals(plain.weights().get(name), dp.weights().get(name), "bucket " + bucket + ": " + name);
        }
      }
    }
    assertTrue(plain.losses().get(STEPS - 1) < plain.losses().get(0), "the run learns: " + plain.losses());
  }
}
