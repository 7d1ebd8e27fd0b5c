package ai.anvil.nn;

import ai.anvil.tensor.Tensor;

/**
 * A term added to a {@link Linear}'s output, installed from outside the model (LoRA, ai.anvil.peft): the
 * layer's own weight stays as it is and the model's code does not change.
 */
@FunctionalInterface
public interface LinearDelta {
  /**
   * The term for output features [from, to) of the layer: x (..., in) -> (..., to - from), or null when
   * there is nothing to add for this call. A model that computes a layer in row blocks (GPT-2's fused
   * q/k/v projection when decoding) asks for each block separately.
   */
  Tensor term(Tensor x, long from, long to);
}
