package ai.anvil.metrics;

/**
 * Early stopping on a validation figure (loss by default): an evaluation improves when it beats the best
 * so far by more than {@code minDelta} (below {@code best - minDelta} when lower is better, above
 * {@code best + minDelta} when higher is better); the first finite value always improves, a NaN never
 * does. Training should stop once {@code patience} evaluations in a row have not improved, as Keras'
 * and Hugging Face's callbacks do.
 *
 * <p>Mutable; one per training run.
 */
public final class EarlyStopping {
  /** Whether lower (loss, perplexity) or higher (accuracy, BLEU) values are better. */
  public enum Mode { MIN, MAX }

  private final int patience;
  private final double minDelta;
  private final Mode mode;
  private double best = Double.NaN;
  private long bestStep = -1;
  private int sinceBest;

  /** @param patience evaluations without improvement that stop training, at least 1
   *  @param minDelta the margin a value must beat the best by, at least 0 */
  public EarlyStopping(int patience, double minDelta, Mode mode) {
    if (patience < 1) throw new IllegalArgumentException("patience must be >= 1, got " + patience);
    if (!(minDelta >= 0)) throw new IllegalArgumentException("minDelta must be >= 0, got " + minDelta);
    this.patience = patience;
    this.minDelta = minDelta;
    this.mode = java.util.Objects.requireNonNull(mode, "mode");
  }

  /** Minimising a validation loss. */
  public static EarlyStopping onLoss(int patience, double minDelta) {
    return new EarlyStopping(patience, minDelta, Mode.MIN);
  }

  /** Records the value of the evaluation at {@code step}; returns whether it is a new best. */
  public boolean update(long step, double value) {
    boolean improved = !Double.isNaN(value) && (Double.isNaN(best)
        || (mode == Mode.MIN ? value < best - minDelta : value > best + minDelta));
    if (improved) {
      best = value;
      bestStep = step;
      sinceBest = 0;
    } else {
      sinceBest++;
    }
    return improved;
  }

  /** True once {@code patience} evaluations in a row brought no improvement. */
  public boolean shouldStop() {
    return sinceBest >= patience;
  }

  /** The best value so far; NaN before any finite value was recorded. */
  public double bestValue() {
    return best;
  }

  /** The step of the best value; -1 before any. */
  public long bestStep() {
    return bestStep;
  }

  /** Evaluations since the best one. */
  public int evaluationsSinceBest() {
    return sinceBest;
  }
}
