package ai.anvil.train.finetune;

import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.infer.PromptClassifier;
import ai.anvil.infer.Score;
import ai.anvil.infer.Scorer;
import ai.anvil.metrics.Perplexity;
import ai.anvil.models.CausalLm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The held-out perplexity behind the forgetting figure: the same text, cut into the same windows,
 * scored before and after fine-tuning. Windows are back-to-back pieces of window + 1 tokens scored on
 * their own (window = the context the method leaves: prompt and prefix tuning take some), so before and
 * after see exactly the same contexts.
 */
final class Forgetting {
  /** At most this many held-out tokens are scored: enough for a stable figure, cheap on the CPU. */
  static final int MAX_TOKENS = 16_384;

  private Forgetting() {}

  /** The first MAX_TOKENS tokens of the file (characters the vocabulary lacks dropped). */
  static int[] tokens(Tokenizer tokenizer, Path file) throws IOException {
    String text = Files.readString(file);
    // A character-level vocabulary has about one token a character: read no more text than needed.
    int[] ids = tokenizer.encode(PromptClassifier.fit(tokenizer, text.length() > 8 * MAX_TOKENS ? text.substring(0, 8 * MAX_TOKENS) : text));
    if (ids.length < 2) throw new IllegalArgumentException(file + ": too little held-out text to score (" + ids.length + " tokens)");
    return ids.length > MAX_TOKENS ? Arrays.copyOf(ids, MAX_TOKENS) : ids;
  }

  /** Token-weighted perplexity of tokens in back-to-back windows of window + 1 tokens. */
  static Perplexity perplexity(CausalLm model, int[] tokens, int window) {
    Scorer scorer = new Scorer(model);
    Perplexity p = new Perplexity();
    for (int s = 0; s + 1 < tokens.length; s += window) {
      Score sc = scorer.score(Arrays.copyOfRange(tokens, s, Math.min(tokens.length, s + window + 1)));
      p.add(-sc.logProb(), sc.tokens());
    }
    return p;
  }
}
