package ai.anvil.train;

import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/**
 * What the trainer minimizes: the loss of one micro-batch as a one-element F32 tensor, equal to the sum
 * of its per-token losses divided by normalizer, so that micro-batch losses add up to the mean over the
 * whole accumulation window (DESIGN.md "Numbers"). A causal LM is {@code gpt::loss}.
 *
 * <p>Objectives that need more than inputs and targets (a key-padding mask for masked LM, decoder inputs
 * for seq2seq) override {@link #loss(Batch, Device, double)}; the trainer only calls that one.
 */
@FunctionalInterface
public interface Objective {
  /** inputs, targets I32 (rows, cols) on the model's device. */
  Tensor loss(Tensor inputs, Tensor targets, double normalizer);

  /**
   * The loss of a whole batch, its arrays uploaded to device here. The default serves objectives whose
   * batches are plain (inputs, targets) and refuses batches with parts it would silently drop.
   */
  default Tensor loss(Batch batch, Device device, double normalizer) {
    if (batch.keyMask() != null || batch.decoderInputs() != null) {
      throw new IllegalArgumentException("this objective reads only inputs and targets, but the batch carries a "
          + (batch.keyMask() != null ? "key mask" : "decoder input") + "; use an objective that reads it");
    }
    Tensor inputs = Tensor.ofInts(batch.inputs(), device, batch.rows(), batch.cols());
    Tensor targets = Tensor.ofInts(batch.targets(), device, batch.rows(), batch.cols());
    return loss(inputs, targets, normalizer);
  }

  /** The target id that counts for nothing (padding). */
  default int ignoreIndex() {
    return -1;
  }
}
