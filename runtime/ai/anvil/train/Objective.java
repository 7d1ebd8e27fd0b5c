package ai.anvil.train;

import ai.anvil.tensor.Tensor;

/**
 * What the trainer minimizes: the loss of one micro-batch as a one-element F32 tensor, equal to the sum
 * of its per-token losses divided by normalizer, so that micro-batch losses add up to the mean over the
 * whole accumulation window (DESIGN.md "Numbers"). A causal LM is {@code gpt::loss}.
 */
@FunctionalInterface
public interface Objective {
  /** inputs, targets I32 (rows, cols) on the model's device. */
  Tensor loss(Tensor inputs, Tensor targets, double normalizer);

  /** The target id that counts for nothing (padding). */
  default int ignoreIndex() {
    return -1;
  }
}
