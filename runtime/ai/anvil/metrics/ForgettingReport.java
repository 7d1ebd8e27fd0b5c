package ai.anvil.metrics;

/**
 * Catastrophic forgetting, measured as the perplexity of the same held-out pre-training text under the
 * model before and after fine-tuning. A positive change means the fine-tuned model fits the original
 * distribution worse. Both perplexities must come from the same text and tokenizer to be comparable.
 */
public record ForgettingReport(double perplexityBefore, double perplexityAfter) {
  public ForgettingReport {
    if (!(perplexityBefore >= 1) || !Double.isFinite(perplexityBefore)) {
      throw new IllegalArgumentException("perplexity before must be finite and >= 1, got " + perplexityBefore);
    }
    if (!(perplexityAfter >= 1) || !Double.isFinite(perplexityAfter)) {
      throw new IllegalArgumentException("perplexity after must be finite and >= 1, got " + perplexityAfter);
    }
  }

  /** From two accumulated evaluations of the same text. */
  public static ForgettingReport of(Perplexity before, Perplexity after) {
    return new ForgettingReport(before.value(), after.value());
  }

  /** after - before. */
  public double absoluteChange() {
    return perplexityAfter - perplexityBefore;
  }

  /** (after - before) / before; 0.25 means 25% higher perplexity after fine-tuning. */
  public double relativeChange() {
    return (perplexityAfter - perplexityBefore) / perplexityBefore;
  }

  @Override
  public String toString() {
    return String.format(java.util.Locale.ROOT, "held-out perplexity %.3f -> %.3f (%+.3f, %+.1f%%)",
        perplexityBefore, perplexityAfter, absoluteChange(), 100 * relativeChange());
  }
}
