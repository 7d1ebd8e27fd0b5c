package ai.anvil.nn;

import ai.anvil.autograd.Ops;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/** LayerNorm over the last dim: weight 1, bias 0 at init; eps 1e-5 as in GPT-2 (BERT uses 1e-12). */
public final class LayerNorm extends Module {
  private final Tensor weight;
  private final Tensor bias;
  private final double eps;

  public LayerNorm(long dim, boolean bias, double eps, Device device) {
    this.weight = parameter("weight", Init.constant(device, 1.0, dim));
    this.bias = bias ? parameter("bias", Init.constant(device, 0.0, dim)) : null;
    this.eps = eps;
  }

  public Tensor forward(Tensor x) {
    return Ops.layerNorm(x, weight, bias, eps);
  }

  /**
   * forward for an output that only feeds a linear: inside a bf16 Autocast it is written in bf16, exactly
   * the linear's cast of the fp32 output, without the cast pass ({@link Ops#layerNormForLinear}).
   */
  public Tensor forwardForLinear(Tensor x) {
    return Ops.layerNormForLinear(x, weight, bias, eps);
  }
}
