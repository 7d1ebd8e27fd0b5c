package ai.anvil.backend.cuda;

import ai.anvil.bind.AnvilCpu;
import ai.anvil.bind.AnvilCuda;
import org.bytedeco.javacpp.BytePointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Probes CUDA once per process: is libanvil_cuda in this build, does it load, is there a driver and a
 * device? The answer is cached; when CUDA is unusable one log line gives the exact reason and the CPU
 * path continues. No class that fails to initialize is ever left behind: the binding class is only
 * touched inside the probe's try block.
 */
public final class CudaRuntime {
  private static final Logger LOG = LoggerFactory.getLogger(CudaRuntime.class);
  private static volatile Probe probe;

  private CudaRuntime() {}

  /** What the probe found. devices is 0 when unusable, with the reason in reason. */
  public record Probe(int devices, String reason) {}

  public static boolean isUsable() {
    return probe().devices() > 0;
  }

  /** The number of usable devices (0 when CUDA is unusable). */
  public static int deviceCount() {
    return probe().devices();
  }

  /** Why CUDA is unusable, or "ok". */
  public static String reason() {
    return probe().reason();
  }

  public static Probe probe() {
    Probe p = probe;
    if (p == null) {
      synchronized (CudaRuntime.class) {
        p = probe;
        if (p == null) {
          p = run();
          probe = p;
          if (p.devices() == 0) LOG.info("CUDA unusable, using the CPU: {}", p.reason());
          else LOG.info("CUDA usable: {} device(s)", p.devices());
        }
      }
    }
    return p;
  }

  /** Name, compute capability and memory of one device, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)". */
  public static String describe(int device) {
    if (device < 0 || device >= deviceCount()) {
      throw new IllegalArgumentException("no CUDA device " + device + " (" + deviceCount() + " usable)");
    }
    try (BytePointer name = new BytePointer(256)) {
      long[] cap = new long[1];
      long[] total = new long[1];
      int rc = AnvilCuda.anvil_cuda_device_info(device, name, 256, cap, total);
      if (rc != 0) return "cuda:" + device + " (info failed: " + AnvilCpu.anvil_last_error().getString() + ")";
      // getString() of a sized BytePointer reads all 256 bytes, so cut at the C string's terminator.
      String text = name.getString();
      int end = text.indexOf('\0');
      return String.format("%s (sm_%d, %.1f GiB)", end >= 0 ? text.substring(0, end) : text, cap[0],
          total[0] / (double) (1L << 30));
    }
  }

  private static Probe run() {
    try {
      org.bytedeco.javacpp.Loader.load(AnvilCuda.class);
    } catch (Throwable e) {
      return new Probe(0, "libanvil_cuda is not in this build or failed to load (" + e.getClass().getSimpleName()
          + ": " + firstLine(e.getMessage()) + ")");
    }
    try {
      long[] count = new long[1];
      int rc = AnvilCuda.anvil_cuda_device_count(count);
      if (rc != 0) return new Probe(0, "no usable driver or device: " + AnvilCpu.anvil_last_error().getString());
      if (count[0] == 0) return new Probe(0, "the driver reports no CUDA device");
      return new Probe((int) count[0], "ok");
    } catch (Throwable e) {
      return new Probe(0, "CUDA probe failed: " + e);
    }
  }

  private static String firstLine(String s) {
    if (s == null) return "";
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
