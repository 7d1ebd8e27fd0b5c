package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.autograd.Precision;
import ai.anvil.autograd.Tape;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.models.KvCache;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Decoding on the GPU with the KV cache, token ids fed from device memory one step at a time (the path
 * that skips the host id check and takes its position ids from the device grid), against the full
 * forward of the whole sequence on the CPU: the last position's logits at every step (an fp32 cache: the
 * CUDA default is bf16).
 */
@Tag("gpu")
class CudaDecodeTest {
  private static final Device GPU = Device.cuda(0);
  private static final GptConfig CONFIG = GptConfig.of(2, 2, 64, 32, 97);

  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  @Test
  void stepByStepDecodingMatchesTheFullForward() {
    int b = 3, prompt = 4, steps = 9, total = prompt + steps;
    int[] ids = new Random(13).ints(b * total, 97);
    try (Gpt cpu = new Gpt(CONFIG, 21, Device.CPU); Gpt gpu = new Gpt(CONFIG, 21, GPU)) {
      var dst = gpu.namedParameters();
      cpu.namedParameters().forEach((name, p) -> dst.get(name).value().copyFrom(p.value().toFloatArray()));
      cpu.train(false);
      gpu.train(false);
      float[] full;
      try (Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
        full = cpu.logits(Tensor.ofInts(ids, b, total)).toFloatArray();  // (b, total, Vpad)
      }
      int vpad = CONFIG.paddedVocab();
      try (Scope s = Scope.open(); KvCache cache = gpu.newCache(b, total, Precision.FP32)) {
        for (int k = prompt; k <= total; k++) {
          int from = k == prompt ? 0 : k - 1, len = k - from;
          int[] chunk = new int[b * len];
          for (int r = 0; r < b; r++) System.arraycopy(ids, r * total + from, chunk, r * len, len);
          Tensor logits = gpu.forwardLast(Tensor.ofInts(chunk, GPU, b, len), cache);  // (b, Vpad)
          double[] expected = new double[b * vpad];
          for (int r = 0; r < b; r++) {
            for (int v = 0; v < vpad; v++) expected[r * vpad + v] = full[(r * total + k - 1) * vpad + v];
          }
          Assertions.assertClose("logits after " + k + " tokens", expected, logits, Tolerance.F32_REDUCTION);
        }
      }
    }
  }
}
