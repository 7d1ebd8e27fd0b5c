package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.autograd.Autocast;
import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Precision;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.Backend;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.BFloat16;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.train.AdamW;
import ai.anvil.train.Batch;
import ai.anvil.train.CudaTrainStep;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The bf16 mixed-precision path (issue 7) on the GPU against the CPU's fp32: the cast kernel bit for bit
 * against {@link BFloat16}; one GPT step under a bf16 {@link Autocast} (bf16 GEMM and flash attention, fp32
 * LayerNorm, residual stream and loss) against the CPU fp32 step; and the loss curve of 200 captured bf16
 * steps of the product's {@link CudaTrainStep} (weights' bf16 copies written by the fused AdamW) against the
 * CPU fp32 curve.
 *
 * <p>Bands: the testkit's bf16 tolerance (rtol 2e-2, about 5 bf16 units in the last place: each bf16
 * rounding adds up to 2^-9 relative error, and a value passes through about five of them between the
 * weights and the loss) for the loss, for each parameter gradient as a relative L2 error, and for each
 * step of the 200-step curve (absolute below a loss of 1).
 */
@Tag("gpu")
class CudaBf16StepTest {
  private static final Device GPU = Device.cuda(0);
  /** 2 layers, 2 heads of 64 (the flash-attention head size), 128 wide, context 64, vocabulary 97. */
  private static final GptConfig CONFIG = GptConfig.of(2, 2, 128, 64, 97);
  private static final double BAND = Tolerance.BF16.rtol();

  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  @Test
  void castRoundsToNearestEvenBothWaysAtOddSizesAndOffsets() {
    Backend gpu = Backend.of(GPU);
    Random rnd = new Random(41);
    for (int n : new int[] {1, 7, 63, 65, 127, 4099, 100_003}) {
      try (Scope s = Scope.open()) {
        float[] x = Random.toFloats(rnd.normal(n + 1, 3.0));
        x[0] = 1.00390625f;  // halfway between two bf16 values: rounds to even (1.0)
        Tensor full = Tensor.of(x, GPU, n + 1);
        for (Tensor src : new Tensor[] {full.slice(0, n), full.slice(1, n + 1)}) {  // aligned, then not
          float[] in = src.toFloatArray();
          Tensor low = Tensor.empty(DType.BF16, GPU, n);
          gpu.cast(src, low, false);
          float[] got = low.toFloatArray();
          for (int i = 0; i < n; i++) assertEquals(BFloat16.round(in[i]), got[i], 0f, "bf16(x) at " + i + " of " + n);
          Tensor back = Tensor.full(0.5, DType.F32, GPU, n);
          gpu.cast(low, back, true);  // += exact bf16 values
          float[] sum = back.toFloatArray();
          for (int i = 0; i < n; i++) assertEquals(0.5f + got[i], sum[i], 0f, "0.5 + float(bf16) at " + i);
        }
      }
    }
  }

  @Test
  void opsCastCarriesTheGradientBackInTheOtherDtype() {
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      float[] x = Random.toFloats(new Random(5).normal(33, 1.0));
      Tensor leaf = Tensor.of(x, GPU, 33).setRequiresGrad(true);
      Tensor low = Ops.cast(leaf, DType.BF16);
      assertEquals(DType.BF16, low.dtype());
      Tensor y = Ops.scale(Ops.cast(low, DType.F32), 3.0);
      tape.backward(y, Tensor.full(0.25, DType.F32, GPU, 33));
      float[] g = leaf.grad().toFloatArray();
      for (int i = 0; i < 33; i++) assertEquals(0.75f, g[i], 0f, "d(3 cast(cast(x)))/dx at " + i);
      leaf.grad().close();
      leaf.close();
    }
  }

  @Test
  void aBf16GptStepMatchesTheCpuFp32Step() {
    try (Gpt cpu = new Gpt(CONFIG, 5, Device.CPU); Gpt gpu = new Gpt(CONFIG, 5, GPU)) {
      copyWeights(cpu, gpu);
      Random rnd = new Random(11);
      int[] ids = rnd.ints(4 * 64, 97), targets = rnd.ints(4 * 64, 97);
      targets[9] = Gpt.IGNORE_INDEX;
      double cpuLoss;
      try (Scope s = Scope.open(); Tape tape = Tape.record()) {
        Tensor loss = cpu.loss(Tensor.ofInts(ids, 4, 64), Tensor.ofInts(targets, 4, 64), 4 * 64 - 1);
        tape.backward(loss);
        cpuLoss = loss.item();
      }
      double gpuLoss;
      try (Scope s = Scope.open(); Autocast ac = Autocast.open(Precision.BF16, GPU); Tape tape = Tape.record()) {
        Tensor x = Tensor.ofInts(ids, GPU, 4, 64);
        Tensor logits = gpu.logits(x);
        assertEquals(DType.BF16, logits.dtype(), "the LM head runs in bf16 under Autocast");
        Tensor loss = Ops.crossEntropy(logits, Tensor.ofInts(targets, GPU, 4, 64), 97, Gpt.IGNORE_INDEX, 4 * 64 - 1);
        assertEquals(DType.F32, loss.dtype());
        tape.backward(loss);
        gpuLoss = loss.item();
        assertTrue(ac.copiesMade() > 0, "weights were cast to bf16");
      }
      assertEquals(cpuLoss, gpuLoss, BAND * Math.max(1, Math.abs(cpuLoss)), "loss");
      Map<String, Parameter> gp = gpu.namedParameters();
      for (Map.Entry<String, Parameter> e : cpu.namedParameters().entrySet()) {
        Tensor g = e.getValue().grad();
        if (g == null) continue;
        Tensor h = gp.get(e.getKey()).grad();
        assertEquals(DType.F32, h.dtype(), "gradient of " + e.getKey() + " stays fp32");
        double err = relativeL2(g.toFloatArray(), h.toFloatArray());
        assertTrue(err <= BAND, "gradient of " + e.getKey() + ": relative L2 error " + err + " > " + BAND);
      }
    }
  }

  /** The target: the first 200 steps of a small model on the GPU in bf16 within bf16 noise of the CPU fp32 curve. */
  @Test
  void twoHundredCapturedBf16StepsFollowTheCpuFp32LossCurve() {
    Backend cpu = Backend.of(Device.CPU);
    Random rnd = new Random(29);
    int[] ids = rnd.ints(4 * 64, 97), targets = rnd.ints(4 * 64, 97);
    double lr = 3e-3, clip = 1.0;
    try (Gpt host = new Gpt(CONFIG, 3, Device.CPU); Gpt device = new Gpt(CONFIG, 3, GPU);
         AdamW hostOpt = new AdamW(host.namedParameters(), 0.9, 0.95, 1e-8, 0.1)) {
      copyWeights(host, device);
      double[] cpuLoss = new double[200], gpuLoss = new double[200];
      for (int k = 0; k < 200; k++) {
        try (Scope s = Scope.open(); Tape tape = Tape.record()) {
          Tensor loss = host.loss(Tensor.ofInts(ids, 4, 64), Tensor.ofInts(targets, 4, 64), 4 * 64);
          tape.backward(loss);
          cpuLoss[k] = loss.item();
        }
        double norm = cpu.gradNorm(hostOpt.gradients());
        hostOpt.step(lr, norm > clip ? clip / (norm + 1e-6) : 1.0);
        host.zeroGrad();
      }
      try (AdamW moments = new AdamW(device.namedParameters(), 0.9, 0.95, 1e-8, 0.1);
           CudaTrainStep step = new CudaTrainStep(device, device::loss, moments, clip, Precision.BF16, 1)) {
        step.load(List.of(new Batch(4, 64, ids, targets)), 4 * 64);
        for (int k = 0; k < 200; k++) {
          step.run(lr, true);  // update 1 eager, then the captured step replayed
          gpuLoss[k] = step.takeLoss();
        }
        assertTrue(step.captured(), "the step was captured");
      }
      double worst = 0;
      for (int k = 0; k < 200; k++) worst = Math.max(worst, Math.abs(cpuLoss[k] - gpuLoss[k]) / Math.max(1, Math.abs(cpuLoss[k])));
      System.out.printf("bf16 GPU vs fp32 CPU loss curve: worst deviation %.4f (band %.3f); loss %.4f -> %.4f (CPU %.4f -> %.4f)%n",
          worst, BAND, gpuLoss[0], gpuLoss[199], cpuLoss[0], cpuLoss[199]);
      for (int k = 0; k < 200; k++) {
        assertEquals(cpuLoss[k], gpuLoss[k], BAND * Math.max(1, Math.abs(cpuLoss[k])), "loss at update " + (k + 1));
      }
      assertTrue(cpuLoss[199] < cpuLoss[0] - 1.0, "the model learns the batch: " + cpuLoss[0] + " -> " + cpuLoss[199]);
    }
  }

  private static void copyWeights(Gpt from, Gpt to) {
    Map<String, Parameter> dst = to.namedParameters();
    for (Map.Entry<String, Parameter> e : from.namedParameters().entrySet()) {
      dst.get(e.getKey()).value().copyFrom(e.getValue().value().toFloatArray());
    }
  }

  private static double relativeL2(float[] expected, float[] actual) {
    double num = 0, den = 0;
    for (int i = 0; i < expected.length; i++) {
      double d = (double) actual[i] - expected[i];
      num += d * d;
      den += (double) expected[i] * expected[i];
    }
    return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
  }
}
