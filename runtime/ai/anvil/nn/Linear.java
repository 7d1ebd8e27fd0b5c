package ai.anvil.nn;

import ai.anvil.autograd.Ops;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/** y = x W^T + b. weight (out, in) as in PyTorch; bias (out) optional. */
public final class Linear extends Module {
  private final Tensor weight;
  private final Tensor bias;

  /** Weights Normal(0, std); bias zero. */
  public Linear(long in, long out, boolean bias, double std, Init init, Device device) {
    this.weight = parameter("weight", init.normal(device, std, out, in));
    this.bias = bias ? parameter("bias", Init.constant(device, 0.0, out)) : null;
  }

  /** x (..., in) -> (..., out). */
  public Tensor forward(Tensor x) {
    return Ops.linear(x, weight, bias);
  }

  public Tensor weight() {
    return weight;
  }

  public Tensor bias() {
    return bias;
  }

  public long in() {
    return weight.dim(1);
  }

  public long out() {
    return weight.dim(0);
  }
}
