package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.backend.cuda.CudaBackend;
import ai.anvil.backend.cuda.CudaRuntime;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.MemoryStats;
import ai.anvil.train.report.MetricsLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CUDA training step through the whole pre-training run (issue 7), as {@code anvil pretrain --device cuda
 * --cuda-graph on --log-interval 5 --recompute true} runs it: a captured step with gradient accumulation and
 * per-block recompute, metrics every 5 steps, evaluations and checkpoints, then a resume from the
 * checkpoint on the GPU; and the memory of a captured run over many replays.
 */
@Tag("gpu")
class CudaPretrainingTest {
  private static final Device GPU = Device.cuda(0);

  @TempDir Path dir;

  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  @Test
  void aCapturedRunLogsEveryIntervalCheckpointsAndResumes() throws IOException {
    Path out = dir.resolve("run");
    TrainConfig c = TrainConfig.defaults().with("device", "cuda", "cuda_graph", "on", "log_interval", 5, "recompute", true,
        "n_layer", 2, "n_head", 2, "n_embd", 128, "block_size", 64, "batch_size", 4, "grad_accum", 2, "max_steps", 20,
        "warmup_steps", 2, "lr", 3e-3, "eval_interval", 10, "eval_iters", 2, "sample_tokens", 0, "out", out.toString());
    Pretraining.Outcome first = Pretraining.run(c, new TrainListener() {});
    assertEquals(20, first.result().steps());
    assertEquals(0, first.result().skipped());
    assertTrue(Double.isFinite(first.result().finalValLoss()), "val loss " + first.result().finalValLoss());
    MetricsLog.Curves curves = MetricsLog.read(first.metrics());
    assertEquals(4, curves.train().size(), "a step line every 5 steps");
    for (int i = 0; i < 4; i++) {
      assertEquals(5.0 * (i + 1), curves.train().get(i)[0]);
      assertTrue(Double.isFinite(curves.train().get(i)[1]), "loss at step " + 5 * (i + 1));
    }
    assertEquals(2, curves.val().size(), "evaluations at 10 and 20");
    assertTrue(curves.train().get(3)[1] < curves.train().get(0)[1], "the run learns: " + curves.train().get(0)[1] + " -> "
        + curves.train().get(3)[1]);
    assertTrue(first.result().checkpoint() != null && Files.isDirectory(first.result().checkpoint()));

    Pretraining.Outcome resumed = Pretraining.run(c.with("max_steps", 30, "resume", out.toString()), new TrainListener() {});
    assertEquals(30, resumed.result().steps());
    assertTrue(Double.isFinite(resumed.result().finalValLoss()));
    assertEquals(6, MetricsLog.read(resumed.metrics()).train().size(), "the resumed run appends steps 25 and 30");
  }

  /** After the capture, replays and evaluations leave the live device bytes and the pool where they were. */
  @Test
  void capturedStepsKeepDeviceMemoryFlat() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    int[] tokens = TestSources.corpus(6000, 61, 5);
    TrainConfig c = TrainConfig.defaults().with("block_size", 32, "batch_size", 4, "grad_accum", 2, "max_steps", 500,
        "eval_interval", 500, "eval_iters", 2, "cuda_graph", "on", "log_interval", 10);
    try (Gpt gpt = new Gpt(GptConfig.of(2, 2, 128, 32, 61), 3, GPU);
         Trainer t = new Trainer(gpt, gpt::loss, c, new TestSources.Windows(tokens, 4, 32, 1),
             new TestSources.Windows(tokens, 4, 32, 2), RandomState.NONE)) {
      for (int i = 0; i < 3; i++) t.step();
      t.evaluate();
      gpu.synchronize();
      long live = MemoryStats.liveBytes(GPU), reserved = gpu.poolStats().reservedBytes();
      for (int i = 0; i < 200; i++) t.step();
      t.evaluate();
      gpu.synchronize();
      assertTrue(t.replaysGraph());
      assertEquals(live, MemoryStats.liveBytes(GPU), "live device bytes after 200 replays");
      assertTrue(gpu.poolStats().reservedBytes() <= reserved, "the pool grew over 200 replays: " + reserved + " -> "
          + gpu.poolStats().reservedBytes());
    }
  }
}
