package ai.anvil.train;

/**
 * One batch of token rows for a language-modelling objective: inputs and targets are (rows, cols)
 * row-major token ids; a target equal to the objective's ignore index counts for nothing.
 */
public record Batch(int rows, int cols, int[] inputs, int[] targets) {
  public Batch {
    if (rows < 1 || cols < 1) throw new IllegalArgumentException("batch must be at least 1x1, got " + rows + "x" + cols);
    if (inputs.length != rows * cols || targets.length != rows * cols) {
      throw new IllegalArgumentException("batch " + rows + "x" + cols + " needs " + rows * cols + " inputs and targets, got "
          + inputs.length + " and " + targets.length);
    }
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
    int[] in = java.util.Arrays.copyOfRange(inputs, from * cols, to * cols);
    int[] tg = java.util.Arrays.copyOfRange(targets, from * cols, to * cols);
    return new Batch(to - from, cols, in, tg);
  }
}
