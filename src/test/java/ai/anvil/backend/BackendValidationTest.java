package ai.anvil.backend;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.backend.cuda.CudaRuntime;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every op, called wrongly, answers with a clear exception naming the op, never a JVM crash: wrong
 * shapes, wrong dtypes, closed tensors. (Mixed devices: see {@link #mixedDevicesAreRefused()}.)
 */
class BackendValidationTest {
  private static final Backend CPU = Backend.of(Device.CPU);

  private static Tensor f(long... dims) {
    return Tensor.zeros(DType.F32, Device.CPU, dims);
  }

  private static Tensor i(long... dims) {
    return Tensor.zeros(DType.I32, Device.CPU, dims);
  }

  /** name, and a call that must be refused with IllegalArgumentException. */
  static Stream<Arguments> badCalls() {
    AttentionSpec spec = AttentionSpec.of(2, 4, true);
    List<Object[]> calls = List.of(
        new Object[] {"matmul", (Consumer<Void>) v -> CPU.matmul(f(2, 3), f(4, 5), null, f(2, 5), false, false, 1, false)},
        new Object[] {"matmul", (Consumer<Void>) v -> CPU.matmul(f(2, 3), f(3, 5), null, f(2, 4), false, false, 1, false)},
        new Object[] {"matmul", (Consumer<Void>) v -> CPU.matmul(f(2, 3), f(3, 5), f(4), f(2, 5), false, false, 1, false)},
        new Object[] {"matmul", (Consumer<Void>) v -> CPU.matmul(i(2, 3), i(3, 5), null, i(2, 5), false, false, 1, false)},
        new Object[] {"matmul", (Consumer<Void>) v -> CPU.matmul(f(2, 2, 3), f(3, 3, 5), null, f(2, 2, 5), false, false, 1, false)},
        new Object[] {"matmul", (Consumer<Void>) v -> CPU.matmul(f(5), f(5), null, f(1), false, false, 1, false)},
        new Object[] {"matmul", (Consumer<Void>) v -> { Tensor c = f(3, 3); CPU.matmul(c, c, null, c, false, false, 1, false); }},
        new Object[] {"matmulBackward", (Consumer<Void>) v -> CPU.matmulBackward(f(2, 3), f(3, 5), f(2, 5), f(3, 2), null, null, false, false, 1, false, true)},
        new Object[] {"add", (Consumer<Void>) v -> CPU.add(f(3), f(4), f(3))},
        new Object[] {"mul", (Consumer<Void>) v -> CPU.mul(f(3), i(3), f(3))},
        new Object[] {"scale", (Consumer<Void>) v -> CPU.scale(f(3), Double.NaN, f(3))},
        new Object[] {"gelu", (Consumer<Void>) v -> CPU.gelu(f(3), f(3, 1), true)},
        new Object[] {"geluBackward", (Consumer<Void>) v -> CPU.geluBackward(f(3), f(2), f(3), true, false)},
        new Object[] {"layerNorm", (Consumer<Void>) v -> CPU.layerNorm(f(2, 4), f(3), null, f(2, 4), null, null, 1e-5)},
        new Object[] {"layerNorm", (Consumer<Void>) v -> CPU.layerNorm(f(2, 4), f(4), null, f(2, 4), f(2), null, 1e-5)},
        new Object[] {"layerNorm", (Consumer<Void>) v -> CPU.layerNorm(f(2, 4), f(4), null, f(2, 4), null, null, 0)},
        new Object[] {"layerNormBackward", (Consumer<Void>) v -> CPU.layerNormBackward(f(2, 4), f(4), f(3), f(2), f(2, 4), f(2, 4), f(4), null)},
        new Object[] {"softmax", (Consumer<Void>) v -> CPU.softmax(f(2, 0), f(2, 0), 1)},
        new Object[] {"softmaxBackward", (Consumer<Void>) v -> CPU.softmaxBackward(f(2, 3), f(2, 3), f(3, 2), 1)},
        new Object[] {"attention", (Consumer<Void>) v -> CPU.attention(spec, f(1, 3, 8), f(1, 3, 7), f(1, 3, 8), null, f(1, 3, 8), null)},
        new Object[] {"attention", (Consumer<Void>) v -> CPU.attention(spec, f(1, 3, 8), f(1, 4, 8), f(1, 3, 8), null, f(1, 3, 8), null)},
        new Object[] {"attention", (Consumer<Void>) v -> CPU.attention(spec, f(1, 3, 8), f(1, 3, 8), f(1, 3, 8), f(1, 3), f(1, 3, 8), null)},
        new Object[] {"attention", (Consumer<Void>) v -> CPU.attention(spec, f(1, 3, 8), f(1, 3, 8), f(1, 3, 8), null, f(1, 3, 8), f(1, 3, 3))},
        new Object[] {"attention", (Consumer<Void>) v -> CPU.attention(spec, f(2, 3, 8), f(1, 3, 8), f(1, 3, 8), null, f(2, 3, 8), null)},
        new Object[] {"attentionBackward", (Consumer<Void>) v -> CPU.attentionBackward(spec, f(1, 3, 8), f(1, 3, 8), f(1, 3, 8), null, f(1, 3, 8), null, f(1, 3, 8), f(1, 3, 8), f(1, 3, 8), f(1, 3, 8))},
        new Object[] {"embedding", (Consumer<Void>) v -> CPU.embedding(f(3), f(10, 4), f(3, 4))},
        new Object[] {"embedding", (Consumer<Void>) v -> CPU.embedding(i(3), f(10, 4), f(3, 5))},
        new Object[] {"embeddingBackward", (Consumer<Void>) v -> CPU.embeddingBackward(i(3), f(2, 4), f(10, 4))},
        new Object[] {"crossEntropy", (Consumer<Void>) v -> CPU.crossEntropy(f(4, 10), i(3), 10, -100, 4, null, f(1))},
        new Object[] {"crossEntropy", (Consumer<Void>) v -> CPU.crossEntropy(f(4, 10), i(4), 11, -100, 4, null, f(1))},
        new Object[] {"crossEntropy", (Consumer<Void>) v -> CPU.crossEntropy(f(4, 10), i(4), 10, -100, 0, null, f(1))},
        new Object[] {"crossEntropyBackward", (Consumer<Void>) v -> CPU.crossEntropyBackward(f(4, 10), i(4), 10, -100, 4, 1, f(4, 9))},
        new Object[] {"adamw", (Consumer<Void>) v -> CPU.adamw(List.of(f(3)), List.of(f(4)), List.of(f(3)), List.of(f(3)), new boolean[] {true}, new AdamWStep(1e-3, 0.9, 0.99, 1e-8, 0.1, 1, 1))},
        new Object[] {"adamw", (Consumer<Void>) v -> CPU.adamw(List.of(f(3)), List.of(f(3)), List.of(f(3)), List.of(f(3)), new boolean[0], new AdamWStep(1e-3, 0.9, 0.99, 1e-8, 0.1, 1, 1))},
        new Object[] {"adamw", (Consumer<Void>) v -> new AdamWStep(1e-3, 1.0, 0.99, 1e-8, 0.1, 1, 1)},
        new Object[] {"gradNorm", (Consumer<Void>) v -> CPU.gradNorm(List.of(i(3)))});
    return calls.stream().map(c -> Arguments.of(c[0], c[1]));
  }

  @ParameterizedTest(name = "{0} #{index}")
  @MethodSource("badCalls")
  void badArgumentsAreRefusedWithTheOpNamed(String op, Consumer<Void> call) {
    try (Scope s = Scope.open()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> call.accept(null));
      assertTrue(e.getMessage().contains(op) || e.getMessage().contains("adamw"), "message should name " + op + ": " + e.getMessage());
    }
  }

  @Test
  void closedTensorsAreRefusedByEveryKindOfOp() {
    try (Scope s = Scope.open()) {
      Tensor closed = f(2, 3);
      closed.close();
      assertThrows(IllegalStateException.class, () -> CPU.matmul(closed, f(3, 2), null, f(2, 2), false, false, 1, false));
      assertThrows(IllegalStateException.class, () -> CPU.add(closed, f(2, 3), f(2, 3)));
      assertThrows(IllegalStateException.class, () -> CPU.gelu(f(2, 3), closed, true));
      assertThrows(IllegalStateException.class, () -> CPU.layerNorm(closed, f(3), null, f(2, 3), null, null, 1e-5));
      assertThrows(IllegalStateException.class, () -> CPU.softmax(closed, f(2, 3), 1));
      assertThrows(IllegalStateException.class, () -> CPU.embedding(i(2), closed, f(2, 3)));
      assertThrows(IllegalStateException.class, () -> CPU.crossEntropy(closed, i(2), 3, -1, 1, null, f(1)));
      assertThrows(IllegalStateException.class,
          () -> CPU.attention(AttentionSpec.of(1, 3, false), f(1, 2, 3), f(1, 2, 3), f(1, 2, 3), null, closed.reshape(1, 2, 3), null));
      assertThrows(IllegalStateException.class, () -> CPU.gradNorm(List.of(closed)));
      assertThrows(IllegalStateException.class, () -> CPU.fill(closed, 0));
    }
  }

  @Test
  void outOfRangeIdsAndTargetsAreKernelErrorsNotCrashes() {
    try (Scope s = Scope.open()) {
      Tensor ids = Tensor.ofInts(new int[] {0, 10}, 2);
      AnvilException e = assertThrows(AnvilException.class, () -> CPU.embedding(ids, f(10, 4), f(2, 4)));
      assertTrue(e.getMessage().contains("embedding"), e.getMessage());
      Tensor targets = Tensor.ofInts(new int[] {0, -5}, 2);
      assertThrows(AnvilException.class, () -> CPU.crossEntropy(f(2, 10), targets, 10, -100, 2, null, f(1)));
    }
  }

  @Test
  void cudaOnAMachineWithoutItFailsWithTheReason() {
    Assumptions.assumeFalse(CudaRuntime.isUsable(), "CUDA is usable here");
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backend.of(Device.cuda(0)));
    assertTrue(e.getMessage().contains("unusable"), e.getMessage());
    assertThrows(IllegalStateException.class, () -> Tensor.zeros(DType.F32, Device.cuda(0), 2));
  }

  @Test
  @Tag("gpu")
  void mixedDevicesAreRefused() {
    Assumptions.assumeTrue(CudaRuntime.isUsable(), () -> "no usable CUDA: " + CudaRuntime.reason());
    try (Scope s = Scope.open()) {
      Tensor gpu = Tensor.zeros(DType.F32, Device.cuda(0), 3);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.add(f(3), gpu, f(3)));
      assertTrue(e.getMessage().contains("mixed devices"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> Backend.of(Device.cuda(0)).add(gpu, f(3), gpu));
    }
  }
}
