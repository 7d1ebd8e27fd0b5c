package ai.anvil.train;

import java.util.Arrays;

/**
 * One batch of token rows for any pre-training or fine-tuning objective, row-major token ids.
 *
 * <pre>
 *   inputs        (rows, cols)        what the model (the encoder, for seq2seq) reads
 *   keyMask       (rows, cols) or null 1 = a real input token, 0 = padding; null = every input is real
 *   decoderInputs (rows, tcols) or null seq2seq only: the decoder's teacher-forced inputs
 *   targets       (rows, tcols)       what is predicted; tcols = cols unless decoderInputs is set.
 *                                     A target equal to the objective's ignore index counts for nothing.
 * </pre>
 */
public record Batch(int rows, int cols, int[] inputs, int[] targets, int[] keyMask, int[] decoderInputs) {
  public Batch {
    if (rows < 1 || cols < 1) throw new IllegalArgumentException("batch must be at least 1x1, got " + rows + "x" + cols);
    if (inputs.length != rows * cols) {
      throw new IllegalArgumentException("batch " + rows + "x" + cols + " needs " + rows * cols + " inputs, got " + inputs.length);
    }
    if (keyMask != null && keyMask.length != inputs.length) {
      throw new IllegalArgumentException("batch " + rows + "x" + cols + ": key mask has " + keyMask.length + " entries");
    }
    if (decoderInputs == null) {
      if (targets.length != rows * cols) {
        throw new IllegalArgumentException("batch " + rows + "x" + cols + " needs " + rows * cols + " targets, got " + targets.length);
      }
    } else if (decoderInputs.length == 0 || decoderInputs.length % rows != 0 || targets.length != decoderInputs.length) {
      throw new IllegalArgumentException("batch of " + rows + " rows: decoder inputs (" + decoderInputs.length
          + ") and targets (" + targets.length + ") must be equal, non-empty multiples of the rows");
    }
  }

  /** A language-modelling batch: every input real, targets shaped like inputs. */
  public Batch(int rows, int cols, int[] inputs, int[] targets) {
    this(rows, cols, inputs, targets, null, null);
  }

  /** Columns of targets (and of decoderInputs when set). */
  public int targetCols() {
    return targets.length / rows;
  }

  /** Targets that are not ignoreIndex: this batch's share of the loss normalizer. */
  public long countTargets(int ignoreIndex) {
    long n = 0;
    for (int t : targets) if (t != ignoreIndex) n++;
    return n;
  }

  /** Rows [from, to) as a batch of their own. */
  public Batch rows(int from, int to) {
    if (from < 0 || to > rows || from >= to) throw new IllegalArgumentException("rows [" + from + ", " + to + ") of " + rows);
    int tc = targetCols();
    return new Batch(to - from, cols, Arrays.copyOfRange(inputs, from * cols, to * cols),
        Arrays.copyOfRange(targets, from * tc, to * tc),
        keyMask == null ? null : Arrays.copyOfRange(keyMask, from * cols, to * cols),
        decoderInputs == null ? null : Arrays.copyOfRange(decoderInputs, from * tc, to * tc));
  }
}
