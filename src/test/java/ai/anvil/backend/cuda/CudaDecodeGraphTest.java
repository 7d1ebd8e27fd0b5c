package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.autograd.Precision;
import ai.anvil.infer.DecodeChecks;
import ai.anvil.infer.DecodeGraph;
import ai.anvil.infer.Generation;
import ai.anvil.infer.Generator;
import ai.anvil.infer.SamplingConfig;
import ai.anvil.models.KvCache;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Tolerance;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Decoding on the GPU with the step captured in a CUDA graph and replayed per token (DecodeGraph over
 * Gpt.step: positions, cache writes and attention lengths read from device memory), against the eager
 * CUDA steps (the same kernels: bit for bit) and the CPU backend's full forward (DecodeChecks: three
 * prompts of different lengths, teacher-forced). Head dim 64 so bf16 attention takes the flash decode
 * kernels; fp32 takes the SIMT decode kernel. Then batched greedy generation through the Generator with
 * the graph against the same without it, and single-prompt generation with and without it.
 */
@Tag("gpu")
class CudaDecodeGraphTest {
  private static final Device GPU = Device.cuda(0);
  private static final GptConfig CONFIG = GptConfig.of(2, 2, 128, 64, 97);
  /** bf16 linears and attention against the fp32 CPU forward: logits of a 2-layer random model. */
  private static final Tolerance BF16_LOGITS = new Tolerance(3e-2, 5e-2);

  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  @Test
  void graphStepsMatchEagerStepsAndTheCpuInFp32() {
    Gpt[] m = DecodeChecks.models(CONFIG, 21, GPU);
    try (Gpt cpu = m[0]; Gpt gpu = m[1]) {
      List<float[]> graph = DecodeChecks.raggedSteps(cpu, gpu, Precision.FP32, true, Tolerance.F32_REDUCTION);
      List<float[]> eager = DecodeChecks.raggedSteps(cpu, gpu, Precision.FP32, false, Tolerance.F32_REDUCTION);
      for (int n = 0; n < graph.size(); n++) assertArrayEquals(eager.get(n), graph.get(n), "fp32 step " + n + ": graph vs eager");
    }
  }

  @Test
  void graphStepsMatchEagerStepsAndTheCpuInBf16() {
    Gpt[] m = DecodeChecks.models(CONFIG, 22, GPU);
    try (Gpt cpu = m[0]; Gpt gpu = m[1]) {
      List<float[]> graph = DecodeChecks.raggedSteps(cpu, gpu, Precision.BF16, true, BF16_LOGITS);
      List<float[]> eager = DecodeChecks.raggedSteps(cpu, gpu, Precision.BF16, false, BF16_LOGITS);
      for (int n = 0; n < graph.size(); n++) assertArrayEquals(eager.get(n), graph.get(n), "bf16 step " + n + ": graph vs eager");
    }
  }

  @Test
  void theSecondStepIsCapturedAndReplayed() {
    try (Scope s = Scope.open(); Gpt gpu = new Gpt(CONFIG, 23, GPU); KvCache cache = gpu.newCache(2, 16);
         DecodeGraph steps = new DecodeGraph(gpu, cache, true)) {
      gpu.train(false);
      gpu.forwardLast(Tensor.ofInts(new int[] {1, 2, 3, 4}, GPU, 2, 2), cache);
      steps.step();
      assertFalse(steps.captured(), "the first step is the eager warm-up");
      steps.step();
      assertTrue(steps.captured(), "the second step is captured");
      for (int i = 0; i < 5; i++) steps.step();
      assertEquals(9, cache.length());
      assertArrayEquals(new int[] {9, 9}, cache.deviceLengths().toIntArray());
    }
  }

  @Test
  void batchedGreedyGenerationWithTheGraphEqualsWithout() {
    try (Gpt gpu = new Gpt(CONFIG, 24, GPU)) {
      gpu.train(false);
      SamplingConfig greedy = SamplingConfig.greedy(12).withStopAtEos(false);
      List<int[]> prompts = DecodeChecks.prompts(CONFIG.vocabSize());
      List<Generation> graph = new Generator(gpu, null, true).generateBatch(prompts, greedy);
      List<Generation> eager = new Generator(gpu, null, false).generateBatch(prompts, greedy);
      for (int r = 0; r < prompts.size(); r++) {
        assertEquals(12, graph.get(r).tokens().length, "prompt " + r);
        assertArrayEquals(eager.get(r).tokens(), graph.get(r).tokens(), "prompt " + r + ": graph vs eager");
      }
      int[] alone = new Generator(gpu, null, true).generate(prompts.get(2), greedy, null).tokens();
      int[] aloneEager = new Generator(gpu, null, false).generate(prompts.get(2), greedy, null).tokens();
      assertArrayEquals(aloneEager, alone, "one prompt: graph vs eager");
    }
  }
}
