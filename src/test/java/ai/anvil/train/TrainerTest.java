package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Ops;
import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.MemoryStats;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

class TrainerTest {
  private static final int VOCAB = 13, WIDTH = 8, COLS = 9;
  private static final int[] TOKENS = TestSources.corpus(4000, VOCAB, 11);

  private static TrainConfig config(Object... kv) {
    Map<String, Object> m = new java.util.LinkedHashMap<>();
    m.put("block_size", COLS);
    m.put("batch_size", 4);
    m.put("max_steps", 50);
    m.put("warmup_steps", 5);
    m.put("lr", 1e-2);
    m.put("eval_interval", 10);
    m.put("eval_iters", 4);
    for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
    return TrainConfig.defaults().with(m);
  }

  private static Trainer trainer(TinyLm model, Objective objective, TrainConfig c) {
    return new Trainer(model, objective, c, new TestSources.Windows(TOKENS, c.batchSize(), COLS, 1),
        new TestSources.Windows(TOKENS, 8, COLS, 2), RandomState.NONE);
  }

  @Test
  void learnsTheStructuredStream() {
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1); Trainer t = trainer(model, model, config("max_steps", 200))) {
      double before = t.evaluate().valLoss();
      Trainer.Result r = t.fit();
      assertEquals(200, r.steps());
      assertTrue(r.finalValLoss() < before - 0.8, "val loss " + before + " -> " + r.finalValLoss());
      assertTrue(r.tokensPerSecond() > 0);
    }
  }

  /**
   * k micro-batches of b rows give the same update as one batch of k*b rows: the loss normalizer is the
   * token count of the whole window and gradients accumulate. Clipping is on, so the norm of the summed
   * gradient is tested too.
   */
  @Test
  void gradientAccumulationEqualsOneBigBatch() {
    List<Batch> big = new ArrayList<>();
    TestSources.Windows w = new TestSources.Windows(TOKENS, 6, COLS, 9);
    for (int i = 0; i < 4; i++) big.add(w.next());
    // Ignored targets make the window normalizer differ from k times a micro-batch's count.
    for (Batch b : big) for (int i = 0; i < b.targets().length; i += 5) b.targets()[i] = -1;
    List<Batch> small = new ArrayList<>();
    for (Batch b : big) for (int r = 0; r < 6; r += 2) small.add(b.rows(r, r + 2));
    try (TinyLm one = new TinyLm(VOCAB, WIDTH, 5); TinyLm many = new TinyLm(VOCAB, WIDTH, 5);
         Trainer a = new Trainer(one, one, config("batch_size", 6, "grad_clip", 0.05), new ListSource(big),
             new ListSource(big), RandomState.NONE);
         Trainer b = new Trainer(many, many, config("batch_size", 2, "grad_accum", 3, "grad_clip", 0.05),
             new ListSource(small), new ListSource(big), RandomState.NONE)) {
      for (int step = 0; step < 4; step++) {
        double la = a.step(), lb = b.step();
        assertEquals(la, lb, 1e-5 * Math.abs(la), "loss of step " + step);
      }
      for (Map.Entry<String, Parameter> e : one.namedParameters().entrySet()) {
        float[] x = e.getValue().value().toFloatArray();
        float[] y = many.namedParameters().get(e.getKey()).value().toFloatArray();
        for (int i = 0; i < x.length; i++) assertEquals(x[i], y[i], 2e-6 + 2e-5 * Math.abs(x[i]), e.getKey() + "[" + i + "]");
      }
    }
  }

  @Test
  void nonFiniteLossSkipsTheStep() {
    int[] calls = {0};
    List<Long> skipped = new ArrayList<>();
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1)) {
      Objective poisoned = (in, tg, n) -> {
        Tensor loss = model.loss(in, tg, n);
        if (++calls[0] != 3) return loss;
        return Ops.add(loss, Tensor.full(Double.NaN, DType.F32, Device.CPU, 1));
      };
      try (Trainer t = trainer(model, poisoned, config("eval_interval", 1000)).listener(new TrainListener() {
        @Override
        public void onSkip(long step, String reason) {
          skipped.add(step);
        }
      })) {
        t.step();
        t.step();
        float[] before = model.namedParameters().get("head.weight").value().toFloatArray();
        assertTrue(Double.isNaN(t.step()));
        assertEquals(List.of(3L), skipped);
        assertEquals(2, t.optimizer().steps(), "no update was made");
        assertEquals(java.util.Arrays.toString(before),
            java.util.Arrays.toString(model.namedParameters().get("head.weight").value().toFloatArray()));
        assertTrue(Double.isFinite(t.step()), "the next step trains again");
        assertEquals(3, t.optimizer().steps());
        assertEquals(1, t.state().skipped());
      }
    }
  }

  /**
   * A finite loss whose gradient is not: the extra term is 0 in the forward pass, but its backward
   * multiplies by 1e38 twice (overflow to inf) and then by 0, so head.bias gets NaN. The norm catches it.
   */
  @Test
  void nonFiniteGradientNormSkipsTheStep() {
    List<String> reasons = new ArrayList<>();
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1)) {
      Tensor bias = model.namedParameters().get("head.bias").value();
      int[] calls = {0};
      Objective poisoned = (in, tg, n) -> {
        Tensor loss = model.loss(in, tg, n);
        if (++calls[0] != 2) return loss;
        Tensor zero = Ops.mul(bias, Tensor.zeros(DType.F32, Device.CPU, VOCAB));
        Tensor huge = Ops.scale(Ops.scale(zero, 1e38), 1e38);
        Tensor term = Ops.linear(Ops.reshape(huge, 1, VOCAB), Tensor.full(1.0, DType.F32, Device.CPU, 1, VOCAB), null);
        return Ops.add(loss, Ops.reshape(term, 1));
      };
      try (Trainer t = trainer(model, poisoned, config("eval_interval", 1000)).listener(new TrainListener() {
        @Override
        public void onSkip(long step, String reason) {
          reasons.add(reason);
        }
      })) {
        t.step();
        float[] before = bias.toFloatArray();
        double loss = t.step();
        assertTrue(Double.isNaN(loss), "a skipped step reports NaN");
        assertEquals(1, reasons.size());
        assertTrue(reasons.get(0).startsWith("gradient norm is"), reasons.get(0));
        assertEquals(java.util.Arrays.toString(before), java.util.Arrays.toString(bias.toFloatArray()));
        assertEquals(1, t.optimizer().steps());
        assertTrue(Double.isFinite(t.step()));
        for (float v : bias.toFloatArray()) assertTrue(Float.isFinite(v), "the NaN gradient never reached the weights");
      }
    }
  }

  @Test
  void stopsEarlyWhenValLossStalls() {
    List<Long> stops = new ArrayList<>();
    // lr 1e-30 moves no fp32 weight, so val loss never improves after the first evaluation.
    TrainConfig c = config("lr", 1e-30, "min_lr", 0.0, "eval_interval", 1, "patience", 2, "max_steps", 100);
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1); Trainer t = trainer(model, model, c).listener(new TrainListener() {
      @Override
      public void onEarlyStop(long step, double best) {
        stops.add(step);
      }
    })) {
      Trainer.Result r = t.fit();
      assertTrue(r.stoppedEarly());
      assertEquals(3, r.steps());
      assertEquals(List.of(3L), stops);
      assertEquals(r.bestValLoss(), r.finalValLoss());
    }
  }

  @Test
  void evaluationUsesTheSameBatchesEveryTime() {
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1); Trainer t = trainer(model, model, config())) {
      assertEquals(t.evaluate().valLoss(), t.evaluate().valLoss());
      assertEquals(4, t.evalBatches().size());
      assertEquals(Math.exp(t.evaluate().valLoss()), t.evaluate().perplexity(), 1e-12);
    }
  }

  @Test
  void checkpointsAfterEachEvaluationAndAtTheEnd() {
    List<Long> saved = new ArrayList<>();
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1); Trainer t = trainer(model, model, config("max_steps", 25))) {
      t.checkpointer(tr -> {
        saved.add(tr.state().step());
        return java.nio.file.Path.of("ckpt");
      });
      assertEquals(java.nio.file.Path.of("ckpt"), t.fit().checkpoint());
      assertEquals(List.of(10L, 20L, 25L), saved);
    }
  }

  /** 500 steps leave live native bytes where they were after the first steps. */
  @Test
  void memoryStaysFlatOver500Steps() {
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1); Trainer t = trainer(model, model, config("max_steps", 600))) {
      assertFlat(t, 500);
    }
  }

  /** The flatness check is itself tested: one leaked tensor per step must fail it. */
  @Test
  void flatnessCheckCatchesAnInjectedLeak() {
    List<Tensor> leaked = new ArrayList<>();
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1)) {
      Objective leaky = (in, tg, n) -> {
        leaked.add(Tensor.zeros(DType.F32, Device.CPU, 4).detachFromScope());
        return model.loss(in, tg, n);
      };
      try (Trainer t = trainer(model, leaky, config("max_steps", 600))) {
        assertThrows(AssertionFailedError.class, () -> assertFlat(t, 20));
      }
    } finally {
      leaked.forEach(Tensor::close);
    }
  }

  static void assertFlat(Trainer t, int steps) {
    for (int i = 0; i < 3; i++) t.step();
    long before = MemoryStats.liveBytes(Device.CPU);
    long storages = MemoryStats.of(Device.CPU).liveStorages();
    for (int i = 0; i < steps; i++) t.step();
    t.evaluate();
    assertEquals(before, MemoryStats.liveBytes(Device.CPU), "live bytes after " + steps + " steps");
    assertEquals(storages, MemoryStats.of(Device.CPU).liveStorages(), "live storages after " + steps + " steps");
  }

  @Test
  void rejectsAMismatchedResumeState() {
    try (TinyLm model = new TinyLm(VOCAB, WIDTH, 1); Trainer t = trainer(model, model, config())) {
      TrainState s = t.state();
      assertThrows(IllegalArgumentException.class, () -> t.restore(new TrainState(s.step(), s.bestValLoss(),
          s.lastValLoss(), 0, 0, 0, 0, s.dataCursor(), new long[] {1})));
      assertFalse(CpuBackend.threads() < 1);
    }
  }

  /** Yields the given batches in order, cycling. */
  static final class ListSource implements BatchSource {
    private final List<Batch> batches;
    private int at;

    ListSource(List<Batch> batches) {
      this.batches = batches;
    }

    @Override
    public Batch next() {
      return batches.get(at++ % batches.size());
    }

    @Override
    public long[] cursor() {
      return new long[] {at};
    }

    @Override
    public void restore(long[] cursor) {
      at = (int) cursor[0];
    }
  }
}
