package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.backend.AdamWStep;
import ai.anvil.autograd.Precision;
import ai.anvil.backend.Backend;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.BFloat16;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.MemoryStats;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.train.AdamW;
import ai.anvil.train.Batch;
import ai.anvil.train.CudaTrainStep;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The pieces of the GPU training step (issue 7) against the CPU: the fused AdamW (device table, on-device
 * clipping, bf16 copies, frozen entries) against the CPU AdamW with the clip scale computed on the host; a
 * captured CUDA graph replayed against the same ops run eagerly, with no pool growth over replays; the
 * product's {@link CudaTrainStep} captured against eager, with micro-batches against one larger batch, with
 * a non-finite gradient (skipped and counted), and 200 replays against the CPU's loss curve; and the
 * device sampler's argmax against the host's.
 */
@Tag("gpu")
class CudaTrainStepTest {
  private static final Device GPU = Device.cuda(0);
  private static final long[] SIZES = {1, 7, 63, 4096, 4097, 9001, 300};

  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  @Test
  void fusedAdamWMatchesTheCpuAdamW() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    Backend cpu = Backend.of(Device.CPU);
    Random rnd = new Random(3);
    double clip = 1.0, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    try (Scope s = Scope.open()) {
      List<FusedAdamW.Entry> entries = new ArrayList<>();
      List<Tensor> cp = new ArrayList<>(), cg = new ArrayList<>(), cm = new ArrayList<>(), cv = new ArrayList<>();
      List<Boolean> decay = new ArrayList<>();
      for (int i = 0; i < SIZES.length; i++) {
        int n = (int) SIZES[i];
        float[] p = Random.toFloats(rnd.normal(n, 1.0)), g = Random.toFloats(rnd.normal(n, 3.0));
        boolean frozen = i == SIZES.length - 1;
        entries.add(new FusedAdamW.Entry("t" + i, Tensor.of(p, GPU, n), Tensor.of(g, GPU, n), Tensor.zeros(DType.F32, GPU, n),
            Tensor.zeros(DType.F32, GPU, n), i % 2 == 0 ? Tensor.empty(DType.BF16, GPU, n) : null, i % 3 != 0, frozen));
        if (frozen) continue;
        cp.add(Tensor.of(p, n));
        cg.add(Tensor.of(g, n));
        cm.add(Tensor.zeros(DType.F32, Device.CPU, n));
        cv.add(Tensor.zeros(DType.F32, Device.CPU, n));
        decay.add(i % 3 != 0);
      }
      boolean[] flags = new boolean[decay.size()];
      for (int i = 0; i < flags.length; i++) flags[i] = decay.get(i);
      float[] frozenBefore = entries.get(SIZES.length - 1).param().toFloatArray();
      try (FusedAdamW opt = new FusedAdamW(gpu, entries, b1, b2, eps, wd, clip, 1.0)) {
        for (int step = 1; step <= 3; step++) {
          double lr = 1e-3 * step;
          double norm = cpu.gradNorm(cg);
          double scale = norm > clip ? clip / (norm + 1e-6) : 1.0;
          cpu.adamw(cp, cg, cm, cv, flags, new AdamWStep(lr, b1, b2, eps, wd, step, scale));
          opt.schedule(lr, step);
          opt.step();
          Assertions.assertClose("norm at step " + step, new double[] {norm}, new double[] {opt.norm()}, Tolerance.F64);
          assertEquals(scale, opt.clipScale(), 1e-12);
        }
      }
      int k = 0;
      for (int i = 0; i < SIZES.length - 1; i++) {
        FusedAdamW.Entry e = entries.get(i);
        float[] got = e.param().toFloatArray();
        Assertions.assertClose("param t" + i, Random.toDoubles(cp.get(k).toFloatArray()), e.param(), Tolerance.F32);
        Assertions.assertClose("m t" + i, Random.toDoubles(cm.get(k).toFloatArray()), e.m(), Tolerance.F32);
        Assertions.assertClose("v t" + i, Random.toDoubles(cv.get(k).toFloatArray()), e.v(), Tolerance.F32);
        if (e.copy() != null) {
          float[] copy = e.copy().toFloatArray();
          for (int j = 0; j < got.length; j++) assertEquals(BFloat16.round(got[j]), copy[j], 0.0f, "copy t" + i + "[" + j + "]");
        }
        k++;
      }
      assertArrayEquals(frozenBefore, entries.get(SIZES.length - 1).param().toFloatArray(), "a frozen entry is untouched");
    }
  }

  @Test
  void aStepBeforeScheduleIsRefused() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.zeros(DType.F32, GPU, 8);
      List<FusedAdamW.Entry> one = List.of(new FusedAdamW.Entry("t", t, t, Tensor.zeros(DType.F32, GPU, 8),
          Tensor.zeros(DType.F32, GPU, 8), null, false, false));
      try (FusedAdamW opt = new FusedAdamW(gpu, one, 0.9, 0.95, 1e-8, 0.0, 0.0, 1.0)) {
        assertThrows(IllegalStateException.class, opt::step);
        assertThrows(IllegalArgumentException.class, () -> opt.schedule(1e-3, 0));
      }
    }
  }

  @Test
  void aCapturedGraphReplaysTheSameWorkWithoutAllocating() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    Random rnd = new Random(5);
    int n = 4097;
    float[] a = Random.toFloats(rnd.normal(n, 1.0)), b = Random.toFloats(rnd.normal(n, 1.0));
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.of(a, GPU, n), y = Tensor.of(b, GPU, n), acc = Tensor.zeros(DType.F32, GPU, n);
      // the body: t = x + y (a temporary made and freed inside), acc += t
      Runnable body = () -> {
        try (Scope inner = Scope.open()) {
          Tensor t = Tensor.empty(DType.F32, GPU, n);
          gpu.add(x, y, t);
          gpu.axpy(1.0, t, acc);
        }
      };
      body.run();  // eager once: acc = x + y
      try (CudaGraph graph = CudaGraph.capture(gpu, body)) {
        gpu.synchronize();
        long reserved = gpu.poolStats().reservedBytes();
        for (int i = 0; i < 5; i++) graph.launch();
        gpu.synchronize();
        assertTrue(gpu.poolStats().reservedBytes() <= reserved, "replays must not grow the pool");
      }
      float[] got = acc.toFloatArray();
      for (int i = 0; i < n; i++) assertEquals(6.0f * (a[i] + b[i]), got[i], 1e-5f * (1 + Math.abs(got[i])), "acc[" + i + "]");
      assertTrue(MemoryStats.liveBytes(GPU) > 0);
    }
  }

  @Test
  void aCaptureThatSynchronizesFailsCleanly() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, GPU, 4);
      assertThrows(RuntimeException.class, () -> CudaGraph.capture(gpu, x::toFloatArray));
      assertEquals(0.0f, x.toFloatArray()[0], "the stream works after a failed capture");
    }
  }

  @Test
  void deviceArgmaxMatchesTheHost() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    Random rnd = new Random(9);
    int rows = 5, vocab = 50257, ld = 50304;
    float[] logits = Random.toFloats(rnd.normal(rows * ld, 2.0));
    try (Scope s = Scope.open()) {
      Tensor l = Tensor.of(logits, GPU, rows, ld), out = Tensor.empty(DType.I32, GPU, rows);
      DeviceSampler.sample(gpu, l, vocab, 1, 1.0, 1, 0, out);
      int[] ids = out.toIntArray();
      for (int r = 0; r < rows; r++) {
        int best = 0;
        for (int c = 1; c < vocab; c++) if (logits[r * ld + c] > logits[r * ld + best]) best = c;
        assertEquals(best, ids[r], "row " + r);
      }
      DeviceSampler.sample(gpu, l, vocab, 40, 0.8, 7, 0, out);
      for (int id : out.toIntArray()) assertTrue(id >= 0 && id < vocab);
    }
  }

  @Test
  void crossEntropyBackwardWithADeviceGradientMatchesTheHostOne() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    Random rnd = new Random(13);
    int rows = 9, vocab = 97, width = 104;
    int[] targets = rnd.ints(rows, vocab);
    targets[4] = -1;
    try (Scope s = Scope.open()) {
      Tensor logits = Tensor.of(Random.toFloats(rnd.normal(rows * width, 2.0)), GPU, rows, width);
      Tensor t = Tensor.ofInts(targets, GPU, rows);
      Tensor host = Tensor.empty(DType.F32, GPU, rows, width), dev = Tensor.empty(DType.F32, GPU, rows, width);
      gpu.crossEntropyBackward(logits, t, vocab, -1, 8.0, 0.375, host);
      gpu.crossEntropyBackwardDeviceGrad(logits, t, vocab, -1, 8.0, Tensor.full(0.375, DType.F32, GPU, 1), dev);
      assertArrayEquals(host.toFloatArray(), dev.toFloatArray(), "bit for bit");
      assertThrows(IllegalArgumentException.class, () -> gpu.crossEntropyBackwardDeviceGrad(logits, t, vocab, -1, 8.0,
          Tensor.zeros(DType.F32, GPU, 2), dev));
    }
  }

  @Test
  void aCapturedGptStepReplaysLikeEagerSteps() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    GptConfig config = GptConfig.of(2, 2, 64, 32, 97);
    Random rnd = new Random(17);
    int[] ids = rnd.ints(3 * 32, 97), targets = rnd.ints(3 * 32, 97);
    targets[7] = Gpt.IGNORE_INDEX;
    List<Batch> window = window(ids, targets, 1, 3, 32);
    try (Gpt eager = new Gpt(config, 5, GPU); Gpt graphed = new Gpt(config, 5, GPU);
         AdamW ma = moments(eager); AdamW mb = moments(graphed);
         CudaTrainStep a = new CudaTrainStep(eager, eager::loss, ma, 1.0, Precision.FP32, 1);
         CudaTrainStep b = new CudaTrainStep(graphed, graphed::loss, mb, 1.0, Precision.FP32, 1)) {
      a.load(window, 3 * 32 - 1);
      b.load(window, 3 * 32 - 1);
      for (int i = 0; i < 4; i++) {  // b: the first update eager, then captured and replayed
        a.run(1e-3, false);
        b.run(1e-3, true);
      }
      assertTrue(b.captured() && !a.captured());
      gpu.synchronize();
      long reserved = gpu.poolStats().reservedBytes();
      b.run(1e-3, true);
      a.run(1e-3, false);
      gpu.synchronize();
      assertTrue(gpu.poolStats().reservedBytes() <= reserved, "a replay must not grow the pool");
      assertEquals(5, ma.steps());
      assertEquals(5, mb.steps());
      double la = a.takeLoss(), lb = b.takeLoss();
      assertEquals(la, lb, 1e-6 * Math.abs(la), "losses of 5 updates");
      assertEquals(0.0, b.takeLoss(), "takeLoss resets the sum");
      var pa = eager.namedParameters();
      graphed.namedParameters().forEach((name, p) -> assertArrayEquals(pa.get(name).value().toFloatArray(),
          p.value().toFloatArray(), "parameter " + name + " after 5 updates"));
    }
  }

  @Test
  void twoMicroBatchesMakeTheUpdateOfOneBatchTwiceAsLarge() {
    GptConfig config = GptConfig.of(2, 2, 64, 32, 97);
    Random rnd = new Random(23);
    int[] ids = rnd.ints(4 * 32, 97), targets = rnd.ints(4 * 32, 97);
    targets[40] = Gpt.IGNORE_INDEX;
    try (Gpt whole = new Gpt(config, 8, GPU); Gpt split = new Gpt(config, 8, GPU);
         AdamW mw = moments(whole); AdamW ms = moments(split);
         CudaTrainStep one = new CudaTrainStep(whole, whole::loss, mw, 1.0, Precision.FP32, 1);
         CudaTrainStep two = new CudaTrainStep(split, split::loss, ms, 1.0, Precision.FP32, 2)) {
      one.load(window(ids, targets, 1, 4, 32), 4 * 32 - 1);
      two.load(window(ids, targets, 2, 2, 32), 4 * 32 - 1);
      for (int i = 0; i < 3; i++) {
        one.run(1e-3, false);
        two.run(1e-3, true);  // two micro-batches captured in one graph
      }
      double lo = one.takeLoss(), lt = two.takeLoss();
      assertEquals(lo, lt, 1e-5 * Math.abs(lo), "summed window losses");
      var pw = whole.namedParameters();
      split.namedParameters().forEach((name, p) -> Assertions.assertClose("parameter " + name,
          Random.toDoubles(pw.get(name).value().toFloatArray()), p.value(), Tolerance.F32_REDUCTION));
    }
  }

  /** A NaN gradient (from a NaN weight) skips the update on the device; the count reaches the host when asked. */
  @Test
  void aNonFiniteGradientSkipsTheUpdateAndIsCounted() {
    GptConfig config = GptConfig.of(1, 2, 64, 16, 97);
    Random rnd = new Random(31);
    int[] ids = rnd.ints(2 * 16, 97), targets = rnd.ints(2 * 16, 97);
    try (Gpt gpt = new Gpt(config, 4, GPU); AdamW m = moments(gpt);
         CudaTrainStep step = new CudaTrainStep(gpt, gpt::loss, m, 0.0, Precision.FP32, 1)) {
      step.load(window(ids, targets, 1, 2, 16), 2 * 16);
      step.run(1e-3, false);
      assertEquals(0, step.takeSkipped());
      Parameter ln = gpt.namedParameters().get("transformer.ln_f.weight");
      float[] poisoned = ln.value().toFloatArray();
      poisoned[0] = Float.NaN;
      ln.value().copyFrom(poisoned);
      float[] before = gpt.namedParameters().get("transformer.wte.weight").value().toFloatArray();
      step.run(1e-3, false);
      assertEquals(1, step.takeSkipped(), "the update with a NaN gradient is counted as skipped");
      assertArrayEquals(before, gpt.namedParameters().get("transformer.wte.weight").value().toFloatArray(),
          "a skipped update changes no weight");
      assertTrue(Double.isNaN(step.takeLoss()), "the loss sum shows the NaN");
    }
  }

  private static AdamW moments(Gpt gpt) {
    return new AdamW(gpt.namedParameters(), 0.9, 0.95, 1e-8, 0.1);
  }

  /** micro batches of rows x cols from micro x rows x cols ids and targets. */
  static List<Batch> window(int[] ids, int[] targets, int micro, int rows, int cols) {
    List<Batch> out = new ArrayList<>();
    int n = rows * cols;
    for (int k = 0; k < micro; k++) {
      out.add(new Batch(rows, cols, java.util.Arrays.copyOfRange(ids, k * n, (k + 1) * n),
          java.util.Arrays.copyOfRange(targets, k * n, (k + 1) * n)));
    }
    return out;
  }

  /**
   * The loss curve of 200 updates (one repeated batch, clip 1.0) of the captured GPU step (the product's
   * {@link CudaTrainStep}, its loss read after every replay) against the CPU's
   * Ops/Tape path with the CPU AdamW and host-side clipping: fp32 on both, so within 5e-3 per step.
   */
  @Test
  void twoHundredGraphReplaysFollowTheCpuLossCurve() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    Backend cpu = Backend.of(Device.CPU);
    GptConfig config = GptConfig.of(2, 2, 64, 32, 97);
    Random rnd = new Random(29);
    int[] ids = rnd.ints(4 * 32, 97), targets = rnd.ints(4 * 32, 97);
    double lr = 3e-3, clip = 1.0;
    try (Gpt host = new Gpt(config, 3, Device.CPU); Gpt device = new Gpt(config, 3, GPU);
         AdamW hostOpt = new AdamW(host.namedParameters(), 0.9, 0.95, 1e-8, 0.1); AdamW m = moments(device);
         CudaTrainStep step = new CudaTrainStep(device, device::loss, m, clip, Precision.FP32, 1)) {
      double[] cpuLoss = new double[200], gpuLoss = new double[200];
      for (int k = 0; k < 200; k++) {
        try (Scope s = Scope.open(); ai.anvil.autograd.Tape tape = ai.anvil.autograd.Tape.record()) {
          Tensor loss = host.loss(Tensor.ofInts(ids, 4, 32), Tensor.ofInts(targets, 4, 32), 4 * 32);
          tape.backward(loss);
          cpuLoss[k] = loss.item();
        }
        double norm = cpu.gradNorm(hostOpt.gradients());
        hostOpt.step(lr, norm > clip ? clip / (norm + 1e-6) : 1.0);
        host.zeroGrad();
      }
      step.load(window(ids, targets, 1, 4, 32), 4 * 32);
      for (int k = 0; k < 200; k++) {
        step.run(lr, true);  // update 1 eager, then the captured step replayed
        gpuLoss[k] = step.takeLoss();
      }
      assertTrue(step.captured());
      for (int k = 0; k < 200; k++) {
        assertEquals(cpuLoss[k], gpuLoss[k], 5e-3 * Math.max(1, Math.abs(cpuLoss[k])), "loss at update " + (k + 1));
      }
      assertTrue(cpuLoss[199] < cpuLoss[0] - 1.0, "the model learns the batch: " + cpuLoss[0] + " -> " + cpuLoss[199]);
    }
  }
}
