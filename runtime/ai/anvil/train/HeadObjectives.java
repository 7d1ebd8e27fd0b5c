package ai.anvil.train;

import ai.anvil.models.heads.LmHead;
import ai.anvil.models.heads.SequenceClassifier;
import ai.anvil.models.heads.TaskHead;
import ai.anvil.models.heads.TokenClassifier;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/**
 * Task heads ({@code models.heads}) as the trainer's {@link Objective}. Every batch is (rows, cols) token
 * ids with an optional key mask; the targets say what is scored, {@link TaskHead#IGNORE_INDEX} elsewhere:
 *
 * <pre>
 *   sequence classification  one label per row, in column 0 of its targets; every other column ignored
 *                            (so the trainer's normalizer counts rows)
 *   token classification     a label per token
 *   LM head                  the id to predict per token (masked LM: the original id at chosen positions)
 * </pre>
 */
public final class HeadObjectives {
  private HeadObjectives() {}

  public static Objective of(SequenceClassifier head) {
    return new HeadObjective() {
      @Override
      public Tensor loss(Batch batch, Device device, double normalizer) {
        int cols = batch.cols();
        int[] labels = new int[batch.rows()];
        for (int r = 0; r < batch.rows(); r++) {
          labels[r] = batch.targets()[r * cols];
          for (int c = 1; c < cols; c++) {
            if (batch.targets()[r * cols + c] != TaskHead.IGNORE_INDEX) {
              throw new IllegalArgumentException("sequence classification batch: row " + r + " has a target at column " + c
                  + "; only column 0 holds the row's label");
            }
          }
        }
        return head.loss(ids(batch, device), mask(batch, device), Tensor.ofInts(labels, device, batch.rows()), normalizer);
      }
    };
  }

  public static Objective of(TokenClassifier head) {
    return new HeadObjective() {
      @Override
      public Tensor loss(Batch batch, Device device, double normalizer) {
        return head.loss(ids(batch, device), mask(batch, device), targets(batch, device), normalizer);
      }
    };
  }

  public static Objective of(LmHead head) {
    return new HeadObjective() {
      @Override
      public Tensor loss(Batch batch, Device device, double normalizer) {
        return head.loss(ids(batch, device), mask(batch, device), targets(batch, device), normalizer);
      }
    };
  }

  /** Sequence rows with a key mask; ignore index -100; no decoder inputs. */
  private abstract static class HeadObjective implements Objective {
    @Override
    public Tensor loss(Tensor inputs, Tensor targets, double normalizer) {
      return loss(new Batch((int) inputs.dim(0), (int) inputs.dim(1), inputs.toIntArray(), targets.toIntArray()),
          inputs.device(), normalizer);
    }

    @Override
    public abstract Tensor loss(Batch batch, Device device, double normalizer);

    @Override
    public int ignoreIndex() {
      return TaskHead.IGNORE_INDEX;
    }
  }

  static Tensor ids(Batch b, Device device) {
    if (b.decoderInputs() != null) throw new IllegalArgumentException("a task head reads no decoder inputs");
    return Tensor.ofInts(b.inputs(), device, b.rows(), b.cols());
  }

  static Tensor mask(Batch b, Device device) {
    return b.keyMask() == null ? null : Tensor.ofInts(b.keyMask(), device, b.rows(), b.cols());
  }

  static Tensor targets(Batch b, Device device) {
    return Tensor.ofInts(b.targets(), device, b.rows(), b.cols());
  }
}
