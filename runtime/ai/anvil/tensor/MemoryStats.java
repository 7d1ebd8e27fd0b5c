package ai.anvil.tensor;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Native memory counted per device: bytes and storages live now, peak bytes, allocations so far.
 * Every storage allocation and free goes through here, so a test can assert that training does not
 * grow live bytes.
 */
public final class MemoryStats {
  private static final ConcurrentHashMap<Device, Counters> COUNTERS = new ConcurrentHashMap<>();

  private MemoryStats() {}

  /** A snapshot of one device's counters. */
  public record Snapshot(long liveBytes, long liveStorages, long peakBytes, long allocations) {}

  public static Snapshot of(Device device) {
    Counters c = COUNTERS.computeIfAbsent(device, d -> new Counters());
    return new Snapshot(c.liveBytes.get(), c.liveStorages.get(), c.peakBytes.get(), c.allocations.get());
  }

  public static long liveBytes(Device device) {
    return of(device).liveBytes();
  }

  static void allocated(Device device, long bytes) {
    Counters c = COUNTERS.computeIfAbsent(device, d -> new Counters());
    long live = c.liveBytes.addAndGet(bytes);
    c.liveStorages.incrementAndGet();
    c.allocations.incrementAndGet();
    c.peakBytes.accumulateAndGet(live, Math::max);
  }

  static void freed(Device device, long bytes) {
    Counters c = COUNTERS.computeIfAbsent(device, d -> new Counters());
    c.liveBytes.addAndGet(-bytes);
    c.liveStorages.decrementAndGet();
  }

  private static final class Counters {
    final AtomicLong liveBytes = new AtomicLong();
    final AtomicLong liveStorages = new AtomicLong();
    final AtomicLong peakBytes = new AtomicLong();
    final AtomicLong allocations = new AtomicLong();
  }
}
