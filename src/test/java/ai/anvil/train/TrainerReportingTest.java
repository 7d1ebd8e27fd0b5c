package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.nn.Parameter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The settings of the CUDA step (cuda_graph, log_interval, recompute) on the CPU: defaults, parsing,
 * refusals that name the key and the reason, a JSON round trip; and the trainer's reports every
 * log_interval steps: the mean of the steps' losses since the last report, with training itself (weights,
 * val loss) bit for bit the same as with a report after every step.
 */
class TrainerReportingTest {
  private static final int VOCAB = 13, WIDTH = 8, COLS = 9;
  private static final int[] TOKENS = TestSources.corpus(4000, VOCAB, 11);

  @TempDir Path dir;

  private static TrainConfig config(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("block_size", COLS);
    m.put("batch_size", 4);
    m.put("max_steps", 11);
    m.put("warmup_steps", 2);
    m.put("lr", 1e-2);
    m.put("eval_interval", 5);
    m.put("eval_iters", 2);
    m.put("device", "cpu");
    for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
    return TrainConfig.defaults().with(m);
  }

  @Test
  void defaultsCaptureWhenPossibleAndReportEveryStep() {
    TrainConfig c = TrainConfig.defaults();
    assertEquals("auto", c.cudaGraph());
    assertEquals(1, c.logInterval());
    assertFalse(c.recompute());
    TrainConfig set = c.with("cuda_graph", "off", "log_interval", 10, "recompute", true);
    assertEquals("off", set.cudaGraph());
    assertEquals(10, set.logInterval());
    assertTrue(set.recompute());
    assertEquals("on", c.with("cuda_graph", "on", "device", "cuda").cudaGraph());
  }

  @Test
  void refusalsNameTheKeyAndTheReason() {
    assertMessage(() -> TrainConfig.defaults().with("cuda_graph", "always"), "cuda_graph");
    assertMessage(() -> TrainConfig.defaults().with("cuda_graph", "on", "device", "cpu"), "device is cpu");
    assertMessage(() -> TrainConfig.defaults().with("cuda_graph", "on", "device", "cuda", "dropout", 0.1), "dropout");
    assertMessage(() -> TrainConfig.defaults().with("cuda_graph", "on", "device", "cuda", "objective", "span"), "span");
    assertMessage(() -> TrainConfig.defaults().with("log_interval", 0), "log_interval");
    assertMessage(() -> TrainConfig.defaults().with("log_interval", 2.5), "log_interval");
    assertMessage(() -> TrainConfig.defaults().with("recompute", "yes"), "recompute");
    assertMessage(() -> TrainConfig.defaults().with("recompute", true, "objective", "mlm"), "recompute");
  }

  @Test
  void theSettingsSurviveAJsonRoundTrip() throws IOException {
    TrainConfig c = TrainConfig.defaults().with("cuda_graph", "off", "log_interval", 25, "recompute", true);
    Path f = dir.resolve("c.json");
    c.save(f);
    assertEquals(c, TrainConfig.load(f));
  }

  @Test
  void aTrainerOnTheCpuRefusesCudaGraphOn() {
    // device auto passes the config's check; the model's device decides
    TrainConfig c = config("device", "auto", "cuda_graph", "on");
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> trainer(model, c));
      assertTrue(e.getMessage().contains("cuda_graph on") && e.getMessage().contains("cpu"), e.getMessage());
    }
  }

  @Test
  void reportsComeEveryLogIntervalWithTheMeanSinceTheLastOne() {
    Run every = run(config());
    Run third = run(config("log_interval", 3));
    assertEquals(11, every.reports.size());
    // steps 3 and 6 (interval), 5 and 10 (evaluations), 9 (interval), 11 (the last step)
    List<Long> at = new ArrayList<>();
    for (TrainListener.StepReport r : third.reports) at.add(r.step());
    assertEquals(List.of(3L, 5L, 6L, 9L, 10L, 11L), at);
    long previous = 0;
    for (TrainListener.StepReport r : third.reports) {
      double sum = 0;
      for (long s = previous; s < r.step(); s++) sum += every.reports.get((int) s).loss();
      assertEquals(sum / (r.step() - previous), r.loss(), 0.0, "mean loss of steps " + (previous + 1) + ".." + r.step());
      assertEquals(every.reports.get((int) r.step() - 1).lr(), r.lr(), 0.0, "lr of step " + r.step());
      assertEquals(every.reports.get((int) r.step() - 1).gradNorm(), r.gradNorm(), 0.0, "norm of step " + r.step());
      previous = r.step();
    }
    assertEquals(every.valLoss, third.valLoss, 0.0, "reporting less often changes no update");
    assertEquals(every.weights.size(), third.weights.size());
    for (int i = 0; i < every.weights.size(); i++) assertArrayEquals(every.weights.get(i), third.weights.get(i));
  }

  @Test
  void stepReportsAtOnceWhateverTheInterval() {
    List<TrainListener.StepReport> reports = new ArrayList<>();
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1); Trainer t = trainer(model, config("log_interval", 4))) {
      t.listener(new TrainListener() {
        @Override
        public void onStep(StepReport report) {
          reports.add(report);
        }
      });
      double loss = t.step();
      assertEquals(1, reports.size());
      assertEquals(loss, reports.get(0).loss(), 0.0);
      assertTrue(Double.isFinite(loss));
    }
  }

  private record Run(List<TrainListener.StepReport> reports, double valLoss, List<float[]> weights) {}

  private static Run run(TrainConfig c) {
    List<TrainListener.StepReport> reports = new ArrayList<>();
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1); Trainer t = trainer(model, c)) {
      t.listener(new TrainListener() {
        @Override
        public void onStep(StepReport report) {
          reports.add(report);
        }
      });
      Trainer.Result r = t.fit();
      List<float[]> weights = new ArrayList<>();
      for (Parameter p : model.parameters()) weights.add(p.value().toFloatArray());
      return new Run(reports, r.finalValLoss(), weights);
    }
  }

  private static Trainer trainer(TinyLm model, TrainConfig c) {
    return new Trainer(model, model, c, new TestSources.Windows(TOKENS, c.batchSize(), COLS, 1),
        new TestSources.Windows(TOKENS, 8, COLS, 2), RandomState.NONE);
  }

  private static void assertMessage(Runnable r, String part) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
    assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' names " + part);
  }
}
