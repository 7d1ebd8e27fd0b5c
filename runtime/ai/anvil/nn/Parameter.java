package ai.anvil.nn;

import ai.anvil.tensor.Tensor;

/**
 * A named trainable tensor of a Module. The Module owns its value, its gradient and (through the
 * optimizer) nothing else. Weight decay applies by default to 2-D (and larger) weights only.
 */
public final class Parameter {
  private final String name;
  private final Tensor value;
  private boolean decay;

  Parameter(String name, Tensor value) {
    this.name = name;
    this.value = value;
    this.decay = value.rank() >= 2;
    value.setRequiresGrad(true);
  }

  /** Hugging Face-style dotted name relative to the module that registered it. */
  public String name() {
    return name;
  }

  public Tensor value() {
    return value;
  }

  /** The accumulated gradient, or null before the first backward. */
  public Tensor grad() {
    return value.grad();
  }

  public boolean trainable() {
    return value.requiresGrad();
  }

  /** Freezing: a frozen parameter gets no gradient and no optimizer state. */
  public void setTrainable(boolean trainable) {
    value.setRequiresGrad(trainable);
    if (!trainable && value.grad() != null) {
      value.grad().close();
      value.setGrad(null);
    }
  }

  /** Whether AdamW's weight decay applies. */
  public boolean decay() {
    return decay;
  }

  public void setDecay(boolean decay) {
    this.decay = decay;
  }

  void close() {
    if (value.grad() != null) {
      value.grad().close();
      value.setGrad(null);
    }
    value.close();
  }

  @Override
  public String toString() {
    return name + " " + value.shape() + (trainable() ? "" : " (frozen)");
  }
}
