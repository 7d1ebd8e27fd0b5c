package ai.anvil.infer;

/**
 * The outcome of one {@link Generator#generate} call.
 *
 * @param tokens the new tokens; a matched stop token sequence (or end-of-text token) is left out, the
 *     tokens of a matched stop string are kept
 * @param text their text, cut before a matched stop string (empty when generating without a tokenizer)
 * @param finish why generation ended
 * @param promptTokens tokens of the prompt the model saw (after cutting it to the context window)
 * @param nanos wall time of the call, prompt processing included
 */
public record Generation(int[] tokens, String text, Finish finish, int promptTokens, long nanos) {
  /** Why generation ended. */
  public enum Finish {
    /** maxTokens new tokens were made. */
    LENGTH,
    /** a stop string, stop token sequence or end-of-text token appeared. */
    STOP,
    /** the calling thread was interrupted. */
    CANCELLED
  }

  /** New tokens per second of wall time. */
  public double tokensPerSecond() {
    return nanos == 0 ? 0 : tokens.length * 1e9 / nanos;
  }
}
