package ai.anvil.tensor;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Debug aid, off by default: with {@code -Danvil.leakDetection=true} every tensor records where it was
 * made, and one that the garbage collector reaches without having been closed is logged with that
 * site. It only reports; memory is never freed by the collector.
 */
public final class LeakDetector {
  public static final String PROPERTY = "anvil.leakDetection";

  private static final Logger LOG = LoggerFactory.getLogger(LeakDetector.class);
  private static final Cleaner CLEANER = Cleaner.create();
  private static final AtomicLong REPORTED = new AtomicLong();
  private static volatile boolean enabled = Boolean.getBoolean(PROPERTY);

  private LeakDetector() {}

  public static boolean isEnabled() {
    return enabled;
  }

  /** Turns detection on or off for tensors made from now on (tests; normally the property). */
  public static void setEnabled(boolean on) {
    enabled = on;
  }

  /** How many leaked tensors have been reported since the JVM started. */
  public static long reported() {
    return REPORTED.get();
  }

  /** Watches a tensor; returns the flag its close() must set, or null when detection is off. */
  static AtomicBoolean watch(Tensor tensor, String description) {
    if (!enabled) return null;
    AtomicBoolean closed = new AtomicBoolean();
    Throwable site = new Throwable("allocation site of " + description);
    CLEANER.register(tensor, () -> {
      if (!closed.get()) {
        REPORTED.incrementAndGet();
        LOG.warn("leak: a tensor was garbage-collected without close()", site);
      }
    });
    return closed;
  }
}
