package ai.anvil.models.gpt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.tensor.Device;
import ai.anvil.tensor.MemoryStats;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The training path's position-id cache: right values for every shape; the shapes used last are kept and
 * older ones freed, while a view handed out before its entry went stays readable. (Pinning during a CUDA
 * graph capture needs a GPU; train.CudaTrainerPrecisionTest evaluates another shape between replays, which
 * only shows a freed entry if its memory is reused meanwhile.)
 */
class PositionIdsTest {
  @Test
  void keepsTheShapesUsedLastAndViewsOutliveTheirEntries() {
    long before = MemoryStats.liveBytes(Device.CPU);
    try (PositionIds ids = new PositionIds(Device.CPU); Scope s = Scope.open()) {
      Tensor first = ids.get(3, 5, 2);
      for (int t = 1; t <= 40; t++) {
        try (Scope step = Scope.open()) {
          float[] got = ids.get(2, t, 1).toFloatArray();
          for (int i = 0; i < got.length; i++) assertEquals(1 + i % t, got[i], 0f, "t " + t + " at " + i);
        }
      }
      long held = MemoryStats.liveBytes(Device.CPU) - before;
      long bound = 3 * 5 * 4;  // the evicted first shape's storage, alive through its view
      for (int t = 40 - PositionIds.KEEP + 1; t <= 40; t++) bound += 2L * t * 4;
      assertTrue(held <= bound, "held " + held + " bytes, at most the last " + PositionIds.KEEP + " shapes: " + bound);
      float[] f = first.toFloatArray();
      for (int i = 0; i < f.length; i++) assertEquals(2 + i % 5, f[i], 0f, "an evicted shape's view at " + i);
      float[] again = ids.get(3, 5, 2).toFloatArray();
      assertEquals(15, again.length);
    }
    assertEquals(before, MemoryStats.liveBytes(Device.CPU), "closing the cache frees every shape");
  }
}
