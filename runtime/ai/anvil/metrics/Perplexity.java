package ai.anvil.metrics;

/**
 * Token-weighted perplexity: exp(total negative log-likelihood / total tokens), accumulated from
 * per-example or per-batch pairs (sum of token NLLs in nats, number of tokens). Weighting by tokens, not
 * by examples, is what makes the figure independent of how the text was batched, and is what
 * Hugging Face's and most papers' evaluation report.
 *
 * <p>Mutable accumulator: one instance per evaluation pass, not shared across threads.
 */
public final class Perplexity {
  private double nllSum;
  private long tokens;

  /** Adds one example: the sum of its token NLLs (nats) and its token count. Returns this. */
  public Perplexity add(double exampleNllSum, long tokenCount) {
    if (tokenCount < 0) throw new IllegalArgumentException("token count must be >= 0, got " + tokenCount);
    if (!Double.isFinite(exampleNllSum)) throw new IllegalArgumentException("NLL sum must be finite, got " + exampleNllSum);
    nllSum += exampleNllSum;
    tokens += tokenCount;
    return this;
  }

  public long tokens() {
    return tokens;
  }

  /** Total NLL / total tokens (the mean token loss in nats). */
  public double meanNll() {
    if (tokens == 0) throw new IllegalStateException("perplexity of zero tokens is undefined");
    return nllSum / tokens;
  }

  /** exp(mean NLL). */
  public double value() {
    return Math.exp(meanNll());
  }

  /** Perplexity of parallel arrays of per-example NLL sums and token counts. */
  public static double of(double[] nllSums, long[] tokenCounts) {
    if (nllSums.length != tokenCounts.length) {
      throw new IllegalArgumentException(nllSums.length + " NLL sums but " + tokenCounts.length + " token counts");
    }
    Perplexity p = new Perplexity();
    for (int i = 0; i < nllSums.length; i++) p.add(nllSums[i], tokenCounts[i]);
    return p.value();
  }
}
