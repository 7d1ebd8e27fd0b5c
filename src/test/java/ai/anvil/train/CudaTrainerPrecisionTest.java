package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.autograd.Precision;
import ai.anvil.backend.cuda.CudaRuntime;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.testkit.Tolerance;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Trainer on the GPU (issue 7): precision auto resolves to bf16 there, and 30 bf16 steps of a small GPT
 * follow the same run in the fp32 mode within the testkit's bf16 tolerance per step (the curve band of
 * backend.cuda.CudaBf16StepTest), while the model learns; the step captured in a CUDA graph against the same
 * step uncaptured and against the CPU, with gradient accumulation and a log interval; cuda_graph on
 * refusing what it cannot capture.
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

  /**
   * The Trainer's CUDA step (CudaTrainStep, two micro-batches per window) captured in a CUDA graph after its
   * first update gives the losses of the same step run eagerly (same kernels: within bf16 noise, in practice
   * equal), and both stay within the band above of the CPU's fp32 run from the same weights; with a log
   * interval of 5, fit() reports the mean of each 5 steps' losses, read from the device only then.
   */
  @Test
  void capturedStepsFollowTheEagerStepsAndTheCpu() {
    TrainConfig base = TrainConfig.defaults().with("block_size", COLS, "batch_size", 4, "grad_accum", 2, "max_steps", STEPS,
        "warmup_steps", 3, "lr", 3e-3, "eval_interval", STEPS, "eval_iters", 2);
    GptConfig config = GptConfig.of(2, 2, 128, COLS, VOCAB);
    double[] cpu, eager, graph;
    try (Gpt reference = new Gpt(config, 7, Device.CPU); Gpt a = copyOf(reference, config);
         Gpt b = copyOf(reference, config)) {
      eager = steps(a, base.with("cuda_graph", "off"), false);
      graph = steps(b, base.with("cuda_graph", "on"), true);
      cpu = steps(reference, base.with("device", "cpu"), false);
    }
    double worstEager = 0, worstCpu = 0;
    for (int s = 0; s < STEPS; s++) {
      worstEager = Math.max(worstEager, Math.abs(graph[s] - eager[s]) / Math.max(1, Math.abs(eager[s])));
      worstCpu = Math.max(worstCpu, Math.abs(graph[s] - cpu[s]) / Math.max(1, Math.abs(cpu[s])));
    }
    System.out.printf("CUDA graph vs eager: worst %.2e; vs CPU fp32: worst %.4f (band %.3f); loss %.4f -> %.4f%n",
        worstEager, worstCpu, Tolerance.BF16.rtol(), graph[0], graph[STEPS - 1]);
    for (int s = 0; s < STEPS; s++) {
      double band = Tolerance.BF16.rtol() * Math.max(1, Math.abs(cpu[s]));
      assertEquals(eager[s], graph[s], band, "captured vs eager, loss of step " + (s + 1));
      assertEquals(cpu[s], graph[s], band, "captured vs CPU fp32, loss of step " + (s + 1));
      assertEquals(cpu[s], eager[s], band, "eager vs CPU fp32, loss of step " + (s + 1));
    }
    assertTrue(graph[STEPS - 1] < graph[0] - 0.5, "the captured run learns: " + graph[0] + " -> " + graph[STEPS - 1]);

    // fit() with a log interval: one report per 5 steps, each the mean of those steps' losses; evaluations
    // of another batch shape (3 rows) between replays leave the captured step's inputs alone
    List<TrainListener.StepReport> reports = new ArrayList<>();
    TrainConfig logged = base.with("cuda_graph", "on", "log_interval", 5, "eval_interval", 10);
    try (Gpt fresh = new Gpt(config, 7, Device.CPU); Gpt c = copyOf(fresh, config);
         Trainer t = new Trainer(c, c::loss, logged, new TestSources.Windows(TOKENS, logged.batchSize(), COLS, 1),
             new TestSources.Windows(TOKENS, 3, COLS, 2), RandomState.NONE)) {
      t.listener(new TrainListener() {
        @Override
        public void onStep(StepReport report) {
          reports.add(report);
        }
      });
      t.fit();
      assertTrue(t.replaysGraph(), "fit() replayed a captured step");
    }
    assertEquals(STEPS / 5, reports.size(), "reports every 5 steps (evaluations at 10, 20, 30 fall on them)");
    for (int r = 0; r < reports.size(); r++) {
      double mean = 0;
      for (int s = 5 * r; s < 5 * r + 5; s++) mean += graph[s] / 5;
      assertEquals(5L * (r + 1), reports.get(r).step());
      assertEquals(mean, reports.get(r).loss(), Tolerance.BF16.rtol() * Math.max(1, Math.abs(mean)),
          "mean loss of steps " + (5 * r + 1) + ".." + (5 * r + 5));
      assertTrue(Double.isFinite(reports.get(r).gradNorm()) && reports.get(r).gradNorm() > 0, "norm reported");
    }
  }

  /** cuda_graph on refuses, naming the reason, a step it cannot capture (dropout in the model); auto trains on uncaptured. */
  @Test
  void cudaGraphOnRefusesDropoutAndAutoFallsBack() {
    GptConfig config = GptConfig.of(1, 2, 128, COLS, VOCAB).withDropout(0.1);
    TrainConfig base = TrainConfig.defaults().with("block_size", COLS, "batch_size", 4, "max_steps", 3, "warmup_steps", 1,
        "eval_interval", 3, "eval_iters", 1);
    try (Gpt gpt = new Gpt(config, 7, GPU); Trainer t = trainer(gpt, base.with("cuda_graph", "on"))) {
      IllegalStateException e = assertThrows(IllegalStateException.class, t::step);
      assertTrue(e.getMessage().contains("dropout"), e.getMessage());
    }
    try (Gpt gpt = new Gpt(config, 7, GPU); Trainer t = trainer(gpt, base)) {
      for (int s = 0; s < 3; s++) assertTrue(Double.isFinite(t.step()));
      assertFalse(t.replaysGraph(), "auto does not capture a step with dropout");
    }
  }

  /** STEPS losses of Trainer.step() (each read at once). */
  private static double[] steps(Gpt gpt, TrainConfig c, boolean captured) {
    double[] losses = new double[STEPS];
    try (Trainer t = trainer(gpt, c)) {
      for (int s = 0; s < STEPS; s++) losses[s] = t.step();
      assertEquals(captured, t.replaysGraph(), "captured: " + c.cudaGraph());
    }
    return losses;
  }

  private static Trainer trainer(Gpt gpt, TrainConfig c) {
    return new Trainer(gpt, gpt::loss, c, new TestSources.Windows(TOKENS, c.batchSize(), COLS, 1),
        new TestSources.Windows(TOKENS, 4, COLS, 2), RandomState.NONE);
  }

  /** A model on the GPU with the weights of from. */
  private static Gpt copyOf(Gpt from, GptConfig config) {
    Gpt to = new Gpt(config, 99, GPU);
    Map<String, Parameter> dst = to.namedParameters();
    for (Map.Entry<String, Parameter> e : from.namedParameters().entrySet()) {
      dst.get(e.getKey()).value().copyFrom(e.getValue().value().toFloatArray());
    }
    return to;
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
