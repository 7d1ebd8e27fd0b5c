package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.backend.AnvilException;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The CUDA runtime under the ops: device choice, copies, fills, the pool, and late-reported input errors. */
@Tag("gpu")
class CudaBackendTest {
  private static final Device GPU = Device.cuda(0);

  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  @Test
  void oneBackendPerDeviceAndAutoPicksCuda() {
    assertSame(Backend.of(GPU), Backend.of(Device.cuda(0)));
    assertEquals(GPU, Device.auto());
    assertTrue(Backend.of(GPU).supports(DType.BF16));
    assertThrows(IllegalStateException.class, () -> Backend.of(Device.cuda(CudaRuntime.deviceCount())));
  }

  @Test
  void copiesRoundTripAtOddSizesAndOffsets() {
    for (int n : new int[] {1, 7, 65, 100_003}) {
      try (Scope s = Scope.open()) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) values[i] = i * 0.5f - 3;
        Tensor host = Tensor.of(values, n);
        Tensor dev = host.to(GPU);
        assertArrayEquals(values, dev.toFloatArray());
        Tensor copy = dev.to(GPU);  // device to device
        assertArrayEquals(values, copy.to(Device.CPU).toFloatArray());
        if (n > 1) {
          float[] tail = java.util.Arrays.copyOfRange(values, 1, n);
          assertArrayEquals(tail, dev.slice(1, n).toFloatArray());
        }
        Tensor bf = Tensor.empty(DType.BF16, GPU, n);
        bf.copyFrom(values);  // these values are exact in bf16 up to 2^8 steps of 0.5
        float[] back = bf.toFloatArray();
        for (int i = 0; i < Math.min(n, 500); i++) assertEquals(values[i], back[i], Math.abs(values[i]) / 128);
      }
    }
  }

  @Test
  void fillWritesEachDtype() {
    try (Scope s = Scope.open()) {
      for (int n : new int[] {1, 9, 1027}) {
        Tensor ints = Tensor.empty(DType.I32, GPU, n);
        Backend.of(GPU).fill(ints, 7.9);
        for (int v : ints.toIntArray()) assertEquals(7, v);
        Backend.of(GPU).fill(ints, -3.5);
        for (int v : ints.toIntArray()) assertEquals(-3, v);
        Backend.of(GPU).fill(ints, 1e12);
        for (int v : ints.toIntArray()) assertEquals(Integer.MAX_VALUE, v);
        Backend.of(GPU).fill(ints, Double.NaN);
        for (int v : ints.toIntArray()) assertEquals(0, v);
        Tensor bf = Tensor.full(1.0, DType.BF16, GPU, n);
        ByteBuffer raw = Harness.bytes(bf);
        for (int i = 0; i < n; i++) assertEquals((short) 0x3F80, raw.getShort(2 * i));
        Tensor f = Tensor.full(-0.25, DType.F32, GPU, n);
        for (float v : f.toFloatArray()) assertEquals(-0.25f, v);
      }
      Tensor odd = Tensor.zeros(DType.F32, GPU, 11).slice(1, 11);  // misaligned: the scalar path
      Backend.of(GPU).fill(odd, 2.0);
      for (float v : odd.toFloatArray()) assertEquals(2.0f, v);
    }
  }

  @Test
  void poolUseReturnsWhenTensorsClose() {
    CudaBackend gpu = CudaBackend.forDevice(0);
    gpu.synchronize();
    long before = gpu.poolStats().usedBytes();
    try (Scope s = Scope.open()) {
      Tensor.zeros(DType.F32, GPU, 1 << 20);
      gpu.synchronize();
      assertTrue(gpu.poolStats().usedBytes() >= before + (4L << 20));
    }
    gpu.synchronize();
    assertEquals(before, gpu.poolStats().usedBytes());
  }

  @Test
  void badTokenIdsAndTargetsSurfaceAtTheNextSynchronize() {
    Backend gpu = Backend.of(GPU);
    try (Scope s = Scope.open()) {
      Tensor table = Tensor.zeros(DType.F32, GPU, 10, 4);
      Tensor out = Tensor.empty(DType.F32, GPU, 3, 4);
      gpu.embedding(Tensor.ofInts(new int[] {1, 10, 2}, GPU, 3), table, out);
      AnvilException e = assertThrows(AnvilException.class, gpu::synchronize);
      assertEquals(1, e.code());
      assertTrue(e.getMessage().contains("embedding"), e.getMessage());
      gpu.synchronize();  // reported once, then clear
      Tensor dtable = Tensor.zeros(DType.F32, GPU, 10, 4);
      gpu.embeddingBackward(Tensor.ofInts(new int[] {-1, 3, 3}, GPU, 3), Tensor.full(1.0, DType.F32, GPU, 3, 4), dtable);
      assertThrows(AnvilException.class, () -> dtable.toFloatArray());
      float[] d = dtable.toFloatArray();
      assertEquals(2.0f, d[3 * 4]);  // the good ids still counted
      Tensor logits = Tensor.zeros(DType.F32, GPU, 2, 8);
      Tensor loss = Tensor.empty(DType.F32, GPU, 1);
      gpu.crossEntropy(logits, Tensor.ofInts(new int[] {0, 8}, GPU, 2), 8, -1, 1.0, null, loss);
      AnvilException t = assertThrows(AnvilException.class, loss::item);
      assertTrue(t.getMessage().contains("cross-entropy"), t.getMessage());
    }
  }

  @Test
  void attentionRefusesHeadsWiderThanTheKernel() {
    Backend gpu = Backend.of(GPU);
    try (Scope s = Scope.open()) {
      int d = CudaBackend.MAX_HEAD_DIM + 1;
      Tensor q = Tensor.zeros(DType.F32, GPU, 1, 2, d);
      Tensor out = Tensor.empty(DType.F32, GPU, 1, 2, d);
      assertThrows(IllegalArgumentException.class, () -> gpu.attention(AttentionSpec.of(1, d, true), q, q, q, null, out, null));
    }
  }
}
