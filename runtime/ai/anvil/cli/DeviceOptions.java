package ai.anvil.cli;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.tensor.Device;
import picocli.CommandLine.Option;

/** {@code --device} and {@code --threads}, shared by the commands that run a model. */
final class DeviceOptions {
  @Option(names = "--device", paramLabel = "cpu|cuda|auto", defaultValue = "auto",
      description = "Where to run: cpu, cuda, cuda:N or auto (default: ${DEFAULT-VALUE}).")
  String device;

  @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
      description = "CPU threads (0: the backend's default).")
  int threads;

  void apply() {
    if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
    if (threads > 0) CpuBackend.setThreads(threads);
  }

  Device device() {
    return Device.parse(device);
  }
}
