package ai.anvil.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Shapes, views, copies and ownership of tensors. */
class TensorTest {

  @Test
  void roundTripsFloatsIntsAndBf16() {
    float[] data = {1, -2.5f, 3.25f, 1e-3f, 7, 8};
    try (Scope s = Scope.open()) {
      Tensor t = Tensor.of(data, 2, 3);
      assertArrayEquals(data, t.toFloatArray());
      assertEquals(Shape.of(2, 3), t.shape());
      assertEquals(24, t.bytes());
      Tensor ids = Tensor.ofInts(new int[] {5, -1, 7}, 3);
      assertArrayEquals(new int[] {5, -1, 7}, ids.toIntArray());
      assertEquals(1.0f, BFloat16.round(1.0f));
      assertEquals(BFloat16.toFloat(BFloat16.fromFloat(3.140625f)), 3.140625f);
    }
  }

  @Test
  void viewsShareMemoryAndOutliveTheirBase() {
    long before = MemoryStats.liveBytes(Device.CPU);
    Tensor base = Tensor.of(new float[] {0, 1, 2, 3, 4, 5}, 3, 2);
    Tensor rows = base.slice(1, 3);
    Tensor flat = base.reshape(-1);
    assertArrayEquals(new float[] {2, 3, 4, 5}, rows.toFloatArray());
    assertEquals(Shape.of(6), flat.shape());
    base.close();
    assertArrayEquals(new float[] {2, 3, 4, 5}, rows.toFloatArray(), "a view keeps the storage alive");
    rows.close();
    assertTrue(MemoryStats.liveBytes(Device.CPU) > before, "flat still holds the storage");
    flat.close();
    assertEquals(before, MemoryStats.liveBytes(Device.CPU));
  }

  @Test
  void scopesFreeWhatTheyOwnAndKeepHandsOver() {
    long before = MemoryStats.liveBytes(Device.CPU);
    Tensor kept;
    try (Scope outer = Scope.open()) {
      try (Scope inner = Scope.open()) {
        Tensor.zeros(DType.F32, Device.CPU, 1000);
        kept = inner.keep(Tensor.zeros(DType.F32, Device.CPU, 10));
      }
      assertEquals(before + 40, MemoryStats.liveBytes(Device.CPU));
      assertEquals(1, outer.size());
    }
    assertTrue(kept.isClosed());
    assertEquals(before, MemoryStats.liveBytes(Device.CPU));
  }

  @Test
  void closedTensorsAndBadShapesThrowClearly() {
    Tensor t = Tensor.of(new float[] {1, 2}, 2);
    t.close();
    t.close();
    IllegalStateException closed = assertThrows(IllegalStateException.class, t::toFloatArray);
    assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[3], 2, 2));
    try (Scope s = Scope.open()) {
      Tensor u = Tensor.of(new float[6], 2, 3);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> u.reshape(4, 2));
      assertTrue(e.getMessage().contains("(2, 3)"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> u.slice(1, 3));
      assertEquals(Shape.of(3, 2), u.reshape(-1, 2).shape());
    }
  }

  @Test
  void scopesCloseInnermostFirst() {
    Scope outer = Scope.open();
    Scope inner = Scope.open();
    assertThrows(IllegalStateException.class, outer::close);
    inner.close();
    outer.close();
  }

  @Test
  void copiesThroughDirectBuffers() {
    java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocateDirect(12).order(java.nio.ByteOrder.nativeOrder());
    buf.asFloatBuffer().put(new float[] {1, 2, 3});
    try (Tensor t = Tensor.empty(DType.F32, Device.CPU, 3)) {
      t.copyFrom(buf);
      assertArrayEquals(new float[] {1, 2, 3}, t.toFloatArray());
      java.nio.ByteBuffer out = java.nio.ByteBuffer.allocateDirect(12).order(java.nio.ByteOrder.nativeOrder());
      t.copyTo(out);
      assertEquals(3f, out.asFloatBuffer().get(2));
      assertThrows(IllegalArgumentException.class, () -> t.copyFrom(java.nio.ByteBuffer.allocateDirect(8)));
      assertThrows(IllegalArgumentException.class, () -> t.copyFrom(java.nio.ByteBuffer.allocate(12)));
    }
  }

  @Test
  void devicesParse() {
    assertEquals(Device.CPU, Device.parse("cpu"));
    assertEquals(Device.cuda(1), Device.parse("cuda:1"));
    assertThrows(IllegalArgumentException.class, () -> Device.parse("tpu"));
  }
}
