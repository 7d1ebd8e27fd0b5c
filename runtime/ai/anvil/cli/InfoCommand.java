package ai.anvil.cli;

import ai.anvil.backend.Backend;
import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.backend.cuda.CudaRuntime;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** Backends, devices and CPU features, plus a matmul self-check against plain Java. */
@Command(name = "info", mixinStandardHelpOptions = true,
    description = "Show backends, devices, CPU features and run a quick op self-check.")
final class InfoCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    System.out.println("anvil 0.1.0 on Java " + Runtime.version() + " (" + System.getProperty("os.name") + " "
        + System.getProperty("os.arch") + ")");
    System.out.println("cpu:  features " + CpuBackend.features() + "; gemm kernel " + CpuBackend.gemmKernel() + "; threads "
        + CpuBackend.threads() + " of " + Runtime.getRuntime().availableProcessors() + " processors");
    CudaRuntime.Probe probe = CudaRuntime.probe();
    if (probe.devices() == 0) {
      System.out.println("cuda: unusable: " + probe.reason());
    } else {
      System.out.println("cuda: " + probe.devices() + " device(s)");
      for (int i = 0; i < probe.devices(); i++) System.out.println("  cuda:" + i + "  " + CudaRuntime.describe(i));
    }
    System.out.println("auto device: " + Device.auto());
    boolean ok = selfCheck(Device.CPU);
    for (int i = 0; i < probe.devices(); i++) ok &= selfCheck(Device.cuda(i));
    return ok ? 0 : 1;
  }

  /** A 67x45x33 matmul (awkward sizes) on device against a Java fp64 loop. */
  private static boolean selfCheck(Device device) {
    int m = 67, k = 45, n = 33;
    SplittableRandom r = new SplittableRandom(1);
    float[] a = new float[m * k], b = new float[n * k];
    for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
    for (int i = 0; i < b.length; i++) b[i] = (float) (r.nextDouble() * 2 - 1);
    double maxErr = 0;
    try (Scope ignored = Scope.open()) {
      Tensor ta = Tensor.of(a, Device.CPU, m, k).to(device);
      Tensor tb = Tensor.of(b, Device.CPU, n, k).to(device);
      Tensor tc = Tensor.empty(ta.dtype(), device, m, n);
      long start = System.nanoTime();
      Backend.of(device).matmul(ta, tb, null, tc, false, true, 1.0, false);
      float[] c = tc.toFloatArray();
      double micros = (System.nanoTime() - start) / 1e3;
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          double s = 0;
          for (int p = 0; p < k; p++) s += (double) a[i * k + p] * b[j * k + p];
          maxErr = Math.max(maxErr, Math.abs(s - c[i * n + j]));
        }
      }
      boolean ok = maxErr < 1e-4;
      System.out.printf("self-check %s: matmul %dx%dx%d max abs error %.2e vs Java fp64 (%.0f us) %s%n", device, m, k, n,
          maxErr, micros, ok ? "ok" : "FAILED");
      return ok;
    } catch (RuntimeException e) {
      System.out.println("self-check " + device + ": FAILED: " + e.getMessage());
      return false;
    }
  }
}
