package ai.anvil.infer;

/**
 * How well a model predicts some text: the total log-probability (natural log) of the scored tokens and
 * their count. Scores of several texts add up token-weighted ({@link #plus}), so the mean loss of a
 * corpus is the mean over all its tokens, not the mean of per-text means.
 */
public record Score(double logProb, long tokens) {
  public static final Score EMPTY = new Score(0, 0);

  /** Mean negative log-likelihood per scored token (the cross-entropy loss), NaN for no tokens. */
  public double meanLoss() {
    return tokens == 0 ? Double.NaN : -logProb / tokens;
  }

  /** exp(meanLoss). */
  public double perplexity() {
    return Math.exp(meanLoss());
  }

  /** Both scores' tokens together. */
  public Score plus(Score other) {
    return new Score(logProb + other.logProb, tokens + other.tokens);
  }
}
