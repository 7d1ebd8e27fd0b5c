package ai.anvil.metrics;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * ROUGE-1, ROUGE-2 and ROUGE-L with the defaults of Google's rouge-score package
 * ({@code rouge_scorer.RougeScorer(['rouge1', 'rouge2', 'rougeL'], use_stemmer=...)}).
 *
 * <p>Tokens: lower-case the text, turn every run of characters outside {@code [a-z0-9]} into a space,
 * split on spaces; with the stemmer on, tokens longer than three characters go through
 * {@link PorterStemmer} (NLTK's, as rouge-score uses). Accents and non-Latin scripts therefore vanish
 * entirely, exactly as in rouge-score.
 *
 * <p>ROUGE-N: clipped n-gram overlap; P = overlap / max(prediction n-grams, 1), R = overlap /
 * max(target n-grams, 1). ROUGE-L: the longest common subsequence of tokens; P = LCS / |prediction|,
 * R = LCS / |target|, all zero if either is empty. F = 2PR / (P + R), 0 when P + R = 0. With several
 * targets, each ROUGE type keeps the target with the highest F (the first on a tie), as
 * {@code RougeScorer.score_multi}. A corpus figure is the arithmetic mean of the per-example P, R and F;
 * rouge-score's BootstrapAggregator reports a resampled estimate of the same mean, so its "mid" figure
 * can differ from this one in the third decimal.
 */
public final class Rouge {
  public static final Rouge DEFAULT = new Rouge(false);
  public static final Rouge STEMMED = new Rouge(true);

  private final boolean useStemmer;

  public Rouge(boolean useStemmer) {
    this.useStemmer = useStemmer;
  }

  /** rouge-score's tokenizer. */
  public List<String> tokenize(String text) {
    String lower = PythonText.lower(text);
    List<String> tokens = new ArrayList<>();
    int n = lower.length();
    int i = 0;
    while (i < n) {
      while (i < n && !isAsciiAlnum(lower.charAt(i))) i++;
      int start = i;
      while (i < n && isAsciiAlnum(lower.charAt(i))) i++;
      if (i > start) {
        String t = lower.substring(start, i);
        tokens.add(useStemmer && t.length() > 3 ? PorterStemmer.stem(t) : t);
      }
    }
    return tokens;
  }

  private static boolean isAsciiAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  }

  /** ROUGE-1/2/L of {@code prediction} against one {@code target}. */
  public RougeScores score(String target, String prediction) {
    List<String> t = tokenize(target);
    List<String> p = tokenize(prediction);
    return new RougeScores(rougeN(t, p, 1), rougeN(t, p, 2), rougeL(t, p));
  }

  /** Per type, the best-F score over {@code targets} (rouge-score's {@code score_multi}). */
  public RougeScores scoreMulti(List<String> targets, String prediction) {
    if (targets.isEmpty()) throw new IllegalArgumentException("ROUGE: no targets");
    RougeScores best = null;
    for (String target : targets) {
      RougeScores s = score(target, prediction);
      best = best == null ? s : new RougeScores(
          better(best.rouge1(), s.rouge1()), better(best.rouge2(), s.rouge2()), better(best.rougeL(), s.rougeL()));
    }
    return best;
  }

  private static RougeScore better(RougeScore kept, RougeScore candidate) {
    return candidate.fmeasure() > kept.fmeasure() ? candidate : kept;
  }

  /**
   * Means over a corpus: example i is scored against {@code targets.get(i)} (one or more references).
   */
  public RougeScores corpusScore(List<List<String>> targets, List<String> predictions) {
    if (predictions.isEmpty()) throw new IllegalArgumentException("ROUGE: no predictions");
    if (targets.size() != predictions.size()) {
      throw new IllegalArgumentException("ROUGE: " + predictions.size() + " predictions but " + targets.size()
          + " target lists");
    }
    double[] sums = new double[9];
    for (int i = 0; i < predictions.size(); i++) {
      RougeScores s = scoreMulti(targets.get(i), predictions.get(i));
      RougeScore[] parts = {s.rouge1(), s.rouge2(), s.rougeL()};
      for (int k = 0; k < 3; k++) {
        sums[3 * k] += parts[k].precision();
        sums[3 * k + 1] += parts[k].recall();
        sums[3 * k + 2] += parts[k].fmeasure();
      }
    }
    int n = predictions.size();
    RougeScore[] means = new RougeScore[3];
    for (int k = 0; k < 3; k++) means[k] = new RougeScore(sums[3 * k] / n, sums[3 * k + 1] / n, sums[3 * k + 2] / n);
    return new RougeScores(means[0], means[1], means[2]);
  }

  /** ROUGE-N over already tokenized text. */
  public static RougeScore rougeN(List<String> target, List<String> prediction, int n) {
    if (n <= 0) throw new IllegalArgumentException("ROUGE-N needs n > 0, got " + n);
    Map<List<String>, Integer> t = ngrams(target, n);
    Map<List<String>, Integer> p = ngrams(prediction, n);
    long overlap = 0;
    for (Map.Entry<List<String>, Integer> e : t.entrySet()) overlap += Math.min(e.getValue(), p.getOrDefault(e.getKey(), 0));
    int targetCount = Math.max(0, target.size() - n + 1);
    int predictionCount = Math.max(0, prediction.size() - n + 1);
    return RougeScore.of((double) overlap / Math.max(predictionCount, 1), (double) overlap / Math.max(targetCount, 1));
  }

  /** ROUGE-L over already tokenized text. */
  public static RougeScore rougeL(List<String> target, List<String> prediction) {
    if (target.isEmpty() || prediction.isEmpty()) return RougeScore.ZERO;
    int lcs = lcsLength(target, prediction);
    return RougeScore.of((double) lcs / prediction.size(), (double) lcs / target.size());
  }

  /** Length of the longest common subsequence, O(|a| |b|) time, O(|b|) memory. */
  static int lcsLength(List<String> a, List<String> b) {
    int[] prev = new int[b.size() + 1];
    int[] cur = new int[b.size() + 1];
    for (String x : a) {
      for (int j = 1; j <= b.size(); j++) {
        cur[j] = x.equals(b.get(j - 1)) ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
      }
      int[] tmp = prev;
      prev = cur;
      cur = tmp;
    }
    return prev[b.size()];
  }

  private static Map<List<String>, Integer> ngrams(List<String> tokens, int n) {
    Map<List<String>, Integer> counts = new HashMap<>();
    for (int i = 0; i + n <= tokens.size(); i++) counts.merge(List.copyOf(tokens.subList(i, i + n)), 1, Integer::sum);
    return counts;
  }
}
