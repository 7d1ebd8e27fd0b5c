package ai.anvil.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.bind.HostMemory;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.MemoryStats;
import ai.anvil.tensor.Tensor;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The caching host allocator (native/cpu/allocator.cpp): freed blocks come back to the next request of
 * their size class, the cache stays under its limit by dropping the least recently used class, release
 * empties it, and MemoryStats keeps counting live tensor bytes only. Sizes are odd on purpose, so no
 * other allocation in the JVM lands in the same classes.
 */
class CpuAllocatorTest {
  private static final CpuBackend CPU = CpuBackend.instance();
  private long originalLimit;

  @BeforeEach
  void emptyCache() {
    originalLimit = CpuBackend.cacheLimit();
    CpuBackend.releaseCache();
  }

  @AfterEach
  void restoreLimit() {
    CpuBackend.setCacheLimit(originalLimit);
  }

  @Test
  void blocksAre64ByteAlignedAndUsableAtAwkwardSizes() {
    for (long bytes : new long[] {0, 1, 63, 65, 255, 257, 1000, 4097, 3_000_001}) {
      long address = CPU.allocate(bytes);
      assertEquals(0, address % 64, "alignment of a " + bytes + "-byte block");
      ByteBuffer view = HostMemory.view(address, Math.max(bytes, 1));
      for (int i = 0; i < view.capacity(); i++) view.put(i, (byte) i);
      for (int i = 0; i < view.capacity(); i++) assertEquals((byte) i, view.get(i));
      CPU.free(address);
    }
  }

  @Test
  void aFreedBlockServesTheNextRequestOfItsClass() {
    long first = CPU.allocate(3_000_001);
    CPU.free(first);
    long cached = CpuBackend.cachedBytes();
    // The class of 3,000,001 bytes is at most 25% larger (four classes per power of two).
    assertTrue(cached >= 3_000_001 && cached <= 3_000_001 * 5L / 4, "cached " + cached);
    long second = CPU.allocate(2_990_000);  // same class
    assertEquals(first, second);
    assertEquals(0, CpuBackend.cachedBytes());
    CPU.free(second);
  }

  @Test
  void theLimitDropsTheLeastRecentlyUsedClassFirst() {
    long a = CPU.allocate(1_100_001);
    long b = CPU.allocate(1_700_001);  // another class
    CPU.free(a);
    long classA = CpuBackend.cachedBytes();
    CpuBackend.setCacheLimit(2_200_000);  // room for one of the two
    CPU.free(b);                          // a's class was used longer ago: it goes
    long classB = CpuBackend.cachedBytes();
    assertTrue(classB >= 1_700_001 && classB != classA, "cached " + classB);
    assertEquals(b, CPU.allocate(1_700_001));
    CPU.free(b);

    CpuBackend.setCacheLimit(0);  // off: lowering the limit trims at once, and frees go to the heap
    assertEquals(0, CpuBackend.cachedBytes());
    CPU.free(CPU.allocate(1_100_001));
    assertEquals(0, CpuBackend.cachedBytes());
    assertThrows(IllegalArgumentException.class, () -> CpuBackend.setCacheLimit(-1));
  }

  @Test
  void releaseEmptiesTheCacheAndMemoryStatsCountsLiveTensorsOnly() {
    long live = MemoryStats.liveBytes(Device.CPU);
    try (Tensor t = Tensor.zeros(DType.F32, Device.CPU, 250_001)) {
      assertEquals(live + 1_000_004, MemoryStats.liveBytes(Device.CPU));
    }
    assertEquals(live, MemoryStats.liveBytes(Device.CPU));
    assertTrue(CpuBackend.cachedBytes() >= 1_000_004, "the closed tensor's block is cached");
    CpuBackend.releaseCache();
    assertEquals(0, CpuBackend.cachedBytes());
  }

  /** Four threads allocate, fill, check and free at once: no block is ever handed to two owners. */
  @Test
  void concurrentUseNeverSharesABlock() throws InterruptedException {
    AtomicReference<Throwable> failure = new AtomicReference<>();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      final byte mark = (byte) (t + 1);
      threads.add(new Thread(() -> {
        try {
          for (int i = 0; i < 2000; i++) {
            long bytes = 4096 + 64L * (i % 7);
            long address = CPU.allocate(bytes);
            ByteBuffer view = HostMemory.view(address, bytes);
            for (int j = 0; j < bytes; j += 64) view.put(j, mark);
            Thread.yield();
            for (int j = 0; j < bytes; j += 64) {
              if (view.get(j) != mark) throw new AssertionError("block at " + address + " written by another thread");
            }
            CPU.free(address);
          }
        } catch (Throwable e) {
          failure.compareAndSet(null, e);
        }
      }));
    }
    threads.forEach(Thread::start);
    for (Thread t : threads) t.join();
    if (failure.get() != null) throw new AssertionError(failure.get());
  }
}
