package ai.anvil.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The thread count set on one JVM thread governs kernels called from every other thread too. */
class CpuThreadsTest {

  @Test
  void aSettingAppliesToKernelsOnOtherThreads() throws InterruptedException {
    int original = CpuBackend.threads();
    try {
      CpuBackend.setThreads(1);
      AtomicInteger seen = new AtomicInteger();
      Thread other = new Thread(() -> seen.set(CpuBackend.threads()));
      other.start();
      other.join();
      assertEquals(1, seen.get());
      assertThrows(IllegalArgumentException.class, () -> CpuBackend.setThreads(0));
    } finally {
      CpuBackend.setThreads(original);
    }
  }
}
