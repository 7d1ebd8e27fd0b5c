package ai.anvil.nn;

import ai.anvil.autograd.LlamaOps;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/** RMSNorm over the last dim (Llama, T5): x * rsqrt(mean(x^2) + eps) * weight; weight 1 at init. */
public final class RmsNorm extends Module {
  private final Tensor weight;
  private final double eps;

  public RmsNorm(long dim, double eps, Device device) {
    this.weight = parameter("weight", Init.constant(device, 1.0, dim));
    this.eps = eps;
  }

  /** x (..., dim) -> (..., dim). */
  public Tensor forward(Tensor x) {
    return LlamaOps.rmsNorm(x, weight, eps);
  }

  public Tensor weight() {
    return weight;
  }

  public double eps() {
    return eps;
  }
}
