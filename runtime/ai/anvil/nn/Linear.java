package ai.anvil.nn;

import ai.anvil.autograd.Ops;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/**
 * y = x W^T + b. weight (out, in) as in PyTorch; bias (out) optional. A {@link LinearDelta} may be
 * installed to add a term to the output (LoRA).
 */
public final class Linear extends Module {
  private final Tensor weight;
  private final Tensor bias;
  private volatile LinearDelta delta;

  /** Weights Normal(0, std); bias zero. */
  public Linear(long in, long out, boolean bias, double std, Init init, Device device) {
    this.weight = parameter("weight", init.normal(device, std, out, in));
    this.bias = bias ? parameter("bias", Init.constant(device, 0.0, out)) : null;
  }

  /** x (..., in) -> (..., out), plus the installed delta's term. */
  public Tensor forward(Tensor x) {
    Tensor y = Ops.linear(x, weight, bias);
    Tensor d = deltaTerm(x, 0, out());
    return d == null ? y : Ops.add(y, d);
  }

  /**
   * gelu(forward(x)), GPT-2's tanh GELU: one product with the GELU in its epilogue ({@link Ops#linearGelu})
   * when no delta is installed; with one, forward(x) (whose term may be null: a merged LoRA, a bank with no
   * adapter for this layer) and then the GELU op, the ops forward(x) records.
   */
  public Tensor forwardGelu(Tensor x) {
    if (delta == null) return Ops.linearGelu(x, weight, bias);
    return Ops.gelu(forward(x), true);
  }

  /** The installed delta's term for output features [from, to) (see {@link LinearDelta}), or null. */
  public Tensor deltaTerm(Tensor x, long from, long to) {
    LinearDelta d = delta;
    return d == null ? null : d.term(x, from, to);
  }

  /** Installs (or, with null, removes) the term added to this layer's output. */
  public void setDelta(LinearDelta delta) {
    this.delta = delta;
  }

  public LinearDelta delta() {
    return delta;
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
