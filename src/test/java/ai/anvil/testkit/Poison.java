package ai.anvil.testkit;

import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/** Output poisoning: outputs are NaN-filled before a kernel, so an element it forgets shows up. */
public final class Poison {
  private Poison() {}

  /** A new F32 tensor full of NaN. */
  public static Tensor nan(Device device, long... dims) {
    Tensor t = Tensor.empty(DType.F32, device, dims);
    Backend.of(device).fill(t, Double.NaN);
    return t;
  }

  public static Tensor nan(long... dims) {
    return nan(Device.CPU, dims);
  }
}
