package ai.anvil.tensor;

import ai.anvil.backend.cuda.CudaRuntime;
import java.util.Locale;

/**
 * Where a tensor's memory lives: the host ({@link #CPU}) or CUDA device n. {@link #auto()} picks
 * CUDA:0 when a CUDA build, a driver and a device are all usable, else the CPU.
 */
public record Device(Kind kind, int index) {
  public enum Kind {
    CPU,
    CUDA
  }

  public static final Device CPU = new Device(Kind.CPU, 0);

  public Device {
    if (kind == null) throw new IllegalArgumentException("device kind must not be null");
    if (index < 0) throw new IllegalArgumentException("device index must be >= 0, got " + index);
    if (kind == Kind.CPU && index != 0) throw new IllegalArgumentException("the CPU device has index 0");
  }

  public static Device cuda(int index) {
    return new Device(Kind.CUDA, index);
  }

  /** CUDA:0 when usable, else CPU (the reason CUDA is unusable is logged once by CudaRuntime). */
  public static Device auto() {
    return CudaRuntime.isUsable() ? cuda(0) : CPU;
  }

  /** Parses {@code cpu}, {@code cuda}, {@code cuda:N} or {@code auto}. */
  public static Device parse(String text) {
    String s = text.trim().toLowerCase(Locale.ROOT);
    if (s.equals("cpu")) return CPU;
    if (s.equals("auto")) return auto();
    if (s.equals("cuda")) return cuda(0);
    if (s.startsWith("cuda:")) {
      try {
        return cuda(Integer.parseInt(s.substring(5)));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("bad device '" + text + "': expected cpu, cuda, cuda:N or auto");
      }
    }
    throw new IllegalArgumentException("bad device '" + text + "': expected cpu, cuda, cuda:N or auto");
  }

  public boolean isCpu() {
    return kind == Kind.CPU;
  }

  public boolean isCuda() {
    return kind == Kind.CUDA;
  }

  @Override
  public String toString() {
    return kind == Kind.CPU ? "cpu" : "cuda:" + index;
  }
}
