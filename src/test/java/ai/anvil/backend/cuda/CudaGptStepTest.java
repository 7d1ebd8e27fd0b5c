package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.train.AdamW;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A whole GPT training step on the GPU against the same step on the CPU (fp32 mode): the loss, every
 * parameter gradient, and the parameters after three AdamW updates.
 */
@Tag("gpu")
class CudaGptStepTest {
  private static final Device GPU = Device.cuda(0);
  /** 2 layers, 2 heads, 64 wide, context 32, vocabulary 97 (padded inside). */
  private static final GptConfig CONFIG = GptConfig.of(2, 2, 64, 32, 97);
  private static final Tolerance GRADIENTS = new Tolerance(2e-5, 2e-3);

  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  @Test
  void trainingStepsMatchTheCpu() {
    try (Gpt cpu = new Gpt(CONFIG, 5, Device.CPU); Gpt gpu = new Gpt(CONFIG, 5, GPU);
         AdamW cpuOpt = new AdamW(cpu.namedParameters(), 0.9, 0.95, 1e-8, 0.1);
         AdamW gpuOpt = new AdamW(gpu.namedParameters(), 0.9, 0.95, 1e-8, 0.1)) {
      Map<String, Parameter> cp = cpu.namedParameters(), gp = gpu.namedParameters();
      for (Map.Entry<String, Parameter> e : cp.entrySet()) {
        gp.get(e.getKey()).value().copyFrom(e.getValue().value().toFloatArray());
      }
      Random rnd = new Random(11);
      for (int step = 0; step < 3; step++) {
        int[] ids = rnd.ints(3 * 32, 97), targets = rnd.ints(3 * 32, 97);
        targets[5] = Gpt.IGNORE_INDEX;
        double cpuLoss = lossAndBackward(cpu, ids, targets, Device.CPU);
        double gpuLoss = lossAndBackward(gpu, ids, targets, GPU);
        Assertions.assertClose("loss at step " + step, new double[] {cpuLoss}, new double[] {gpuLoss},
            Tolerance.F32_REDUCTION);
        for (Map.Entry<String, Parameter> e : cp.entrySet()) {
          Tensor g = e.getValue().grad();
          if (g == null) continue;
          Assertions.assertClose("gradient of " + e.getKey() + " at step " + step,
              Random.toDoubles(g.toFloatArray()), gp.get(e.getKey()).grad(), GRADIENTS);
        }
        cpuOpt.step(1e-3, 1.0);
        gpuOpt.step(1e-3, 1.0);
        cpu.zeroGrad();
        gpu.zeroGrad();
      }
      for (Map.Entry<String, Parameter> e : cp.entrySet()) {
        Assertions.assertClose("parameter " + e.getKey() + " after 3 steps",
            Random.toDoubles(e.getValue().value().toFloatArray()), gp.get(e.getKey()).value(), Tolerance.F32_REDUCTION);
      }
    }
  }

  private static double lossAndBackward(Gpt model, int[] ids, int[] targets, Device device) {
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor loss = model.loss(Tensor.ofInts(ids, device, 3, 32), Tensor.ofInts(targets, device, 3, 32), 3 * 32 - 1);
      tape.backward(loss);
      return loss.item();
    }
  }
}
