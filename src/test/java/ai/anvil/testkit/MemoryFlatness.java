package ai.anvil.testkit;

import ai.anvil.tensor.Device;
import ai.anvil.tensor.MemoryStats;
import org.opentest4j.AssertionFailedError;

/**
 * Asserts that a repeated step does not grow native memory: live bytes after a warm-up must equal
 * live bytes after all steps (optimizer state and gradients are made in the warm-up).
 */
public final class MemoryFlatness {
  private MemoryFlatness() {}

  public static void assertFlat(Device device, int warmup, int steps, Runnable step) {
    for (int i = 0; i < warmup; i++) step.run();
    long start = MemoryStats.liveBytes(device);
    long startStorages = MemoryStats.of(device).liveStorages();
    for (int i = 0; i < steps; i++) step.run();
    long end = MemoryStats.liveBytes(device);
    long endStorages = MemoryStats.of(device).liveStorages();
    if (end != start || endStorages != startStorages) {
      throw new AssertionFailedError(String.format(
          "native memory grew over %d steps on %s: %d -> %d bytes, %d -> %d storages", steps, device, start, end,
          startStorages, endStorages));
    }
  }
}
