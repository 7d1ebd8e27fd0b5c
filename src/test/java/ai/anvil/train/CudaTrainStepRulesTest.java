package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Precision;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * What decides, without a GPU, whether the CUDA step may call an objective's tensor form itself (and so
 * capture it), and the step's refusals before any native call.
 */
class CudaTrainStepRulesTest {
  @Test
  void onlyObjectivesThatReadInputsAndTargetsGetTheTensorForm() {
    try (Gpt gpt = new Gpt(GptConfig.of(1, 2, 16, 8, 11), 1, Device.CPU); TinyLm tiny = new TinyLm(11, 4, 1)) {
      assertTrue(CudaTrainStep.readsOnlyInputsAndTargets(gpt::loss), "a method reference to Gpt.loss");
      assertTrue(CudaTrainStep.readsOnlyInputsAndTargets(tiny), "a module implementing the tensor form only");
    }
    Objective own = new Objective() {
      @Override
      public Tensor loss(Tensor inputs, Tensor targets, double normalizer) {
        throw new UnsupportedOperationException();
      }

      @Override
      public Tensor loss(Batch batch, Device device, double normalizer) {
        throw new UnsupportedOperationException();
      }
    };
    assertFalse(CudaTrainStep.readsOnlyInputsAndTargets(own), "an objective that reads the whole batch itself");
  }

  @Test
  void refusesAModelOffTheGpuAndBadSettings() {
    try (Gpt gpt = new Gpt(GptConfig.of(1, 2, 16, 8, 11), 1, Device.CPU);
         AdamW moments = new AdamW(gpt.namedParameters(), 0.9, 0.95, 1e-8, 0.1)) {
      IllegalArgumentException cpu = assertThrows(IllegalArgumentException.class,
          () -> new CudaTrainStep(gpt, gpt::loss, moments, 1.0, Precision.FP32, 1));
      assertTrue(cpu.getMessage().contains("not a CUDA device"), cpu.getMessage());
      assertThrows(IllegalArgumentException.class, () -> new CudaTrainStep(gpt, gpt::loss, moments, 1.0, Precision.FP32, 0));
      assertThrows(IllegalArgumentException.class,
          () -> new CudaTrainStep(gpt, gpt::loss, moments, Double.NaN, Precision.FP32, 1));
    }
  }
}
