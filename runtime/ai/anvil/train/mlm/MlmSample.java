package ai.anvil.train.mlm;

import ai.anvil.autograd.Tape;
import ai.anvil.data.masking.MaskedLm;
import ai.anvil.data.masking.MlmVocabulary;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.models.heads.LmHead;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;

/**
 * What a masked-LM run shows at its end instead of generated text: one row with 15% of its tokens
 * hidden behind [MASK], and the model's most likely token at each hidden position.
 *
 * <pre>
 *   masked:    And God s[MASK]id, Let th[MASK]re be light
 *   predicted: And God said, Let there be light
 *   hidden 2, right 2
 * </pre>
 */
final class MlmSample {
  private MlmSample() {}

  static String fill(LmHead head, Tokenizer tokenizer, MlmVocabulary vocab, int[] row, long seed) {
    int[] hidden = row.clone();
    int chosen = 0;
    java.util.SplittableRandom random = MaskedLm.randomFor(seed, -2);
    for (int i = 0; i < row.length; i++) {
      if (!vocab.isSpecial(row[i]) && random.nextDouble() < 0.15) {
        hidden[i] = vocab.maskId();
        chosen++;
      }
    }
    if (chosen == 0) {                         // show at least one: the first ordinary token
      for (int i = 0; i < row.length && chosen == 0; i++) {
        if (!vocab.isSpecial(row[i])) {
          hidden[i] = vocab.maskId();
          chosen = 1;
        }
      }
    }
    int[] filled = hidden.clone();
    int right = 0;
    head.train(false);
    try (Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      float[] logits = head.logits(Tensor.ofInts(hidden, head.body().device(), 1, hidden.length), null).toFloatArray();
      int width = logits.length / hidden.length;
      for (int i = 0; i < hidden.length; i++) {
        if (hidden[i] != vocab.maskId() || row[i] == vocab.maskId()) continue;
        int best = -1;
        for (int v = 0; v < vocab.vocabSize(); v++) {
          if (vocab.isSpecial(v)) continue;
          if (best < 0 || logits[i * width + v] > logits[i * width + best]) best = v;
        }
        filled[i] = best;
        if (best == row[i]) right++;
      }
    } finally {
      head.train(true);
    }
    return "masked:    " + text(tokenizer, vocab, hidden) + "\npredicted: " + text(tokenizer, vocab, filled)
        + "\nhidden " + chosen + ", right " + right;
  }

  /** The row's text without [CLS]/[SEP], [MASK] written out. */
  private static String text(Tokenizer tokenizer, MlmVocabulary vocab, int[] ids) {
    StringBuilder b = new StringBuilder();
    java.util.List<Integer> run = new java.util.ArrayList<>();
    for (int id : ids) {
      if (id == vocab.maskId() || vocab.isSpecial(id)) {
        b.append(decode(tokenizer, run));
        run.clear();
        if (id == vocab.maskId()) b.append("[MASK]");
      } else {
        run.add(id);
      }
    }
    return b.append(decode(tokenizer, run)).toString();
  }

  private static String decode(Tokenizer tokenizer, java.util.List<Integer> ids) {
    return ids.isEmpty() ? "" : tokenizer.decode(ids.stream().mapToInt(Integer::intValue).toArray());
  }
}
