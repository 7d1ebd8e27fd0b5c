package ai.anvil.backend.cuda;

import ai.anvil.backend.Backend;

/**
 * Entry point of the CUDA backend. The ops land with the CUDA backend issue; until then this class
 * answers that CUDA is unusable here, with the probe's reason, so every caller falls back or fails
 * clearly.
 */
public final class CudaBackend {
  private CudaBackend() {}

  /** The backend of CUDA device index; throws IllegalStateException when CUDA is unusable. */
  public static Backend forDevice(int index) {
    if (!CudaRuntime.isUsable()) {
      throw new IllegalStateException("CUDA device " + index + " requested but CUDA is unusable: "
          + CudaRuntime.reason());
    }
    throw new IllegalStateException("the CUDA backend ops are not built yet (device " + index + ")");
  }
}
