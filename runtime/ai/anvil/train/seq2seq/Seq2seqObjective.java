package ai.anvil.train.seq2seq;

import ai.anvil.models.t5.T5;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.Batch;
import ai.anvil.train.Objective;

/**
 * The encoder-decoder's teacher-forced loss as the trainer's {@link Objective}: the batch's inputs
 * (rows, cols) and optional key mask go to the encoder, its decoderInputs (rows, tcols) (the targets
 * shifted right behind the start token) to the decoder, and the loss is the cross-entropy of targets
 * (rows, tcols) summed over non-ignored target tokens and divided by the normalizer.
 */
public final class Seq2seqObjective implements Objective {
  private final T5 model;

  public Seq2seqObjective(T5 model) {
    this.model = model;
  }

  /** Refused: an encoder-decoder needs decoder inputs, which only a {@link Batch} carries. */
  @Override
  public Tensor loss(Tensor inputs, Tensor targets, double normalizer) {
    throw new IllegalArgumentException("seq2seq loss needs decoder inputs: call loss(Batch, Device, normalizer)");
  }

  @Override
  public Tensor loss(Batch batch, Device device, double normalizer) {
    if (batch.decoderInputs() == null) {
      throw new IllegalArgumentException("seq2seq loss: the batch has no decoder inputs (rows " + batch.rows() + ", cols "
          + batch.cols() + ")");
    }
    int tc = batch.targetCols();
    Tensor inputs = Tensor.ofInts(batch.inputs(), device, batch.rows(), batch.cols());
    Tensor mask = batch.keyMask() == null ? null : Tensor.ofInts(batch.keyMask(), device, batch.rows(), batch.cols());
    Tensor decoderInputs = Tensor.ofInts(batch.decoderInputs(), device, batch.rows(), tc);
    Tensor targets = Tensor.ofInts(batch.targets(), device, batch.rows(), tc);
    return model.loss(inputs, mask, decoderInputs, targets, normalizer);
  }

  @Override
  public int ignoreIndex() {
    return T5.IGNORE_INDEX;
  }

  /** decoder inputs of one row: start, then targets without their last token. */
  public static int[] shiftRight(int[] targets, int startId) {
    int[] out = new int[targets.length];
    out[0] = startId;
    System.arraycopy(targets, 0, out, 1, targets.length - 1);
    return out;
  }
}
