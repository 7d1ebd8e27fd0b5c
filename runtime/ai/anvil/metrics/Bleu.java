package ai.anvil.metrics;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * BLEU exactly as sacreBLEU 2.x computes it ({@code sacrebleu/metrics/bleu.py}), so figures can be compared
 * with papers that quote a sacreBLEU signature.
 *
 * <p>Per segment: the hypothesis and each reference are (optionally lower-cased,) right-stripped and
 * tokenized by {@link Tokenizer13a}; n-grams of order 1..4 are counted on whitespace tokens; a hypothesis
 * n-gram's match count is clipped by the largest count of that n-gram in any single reference; the
 * segment's reference length is the reference length closest to the hypothesis length, the shorter one
 * on a tie. Corpus statistics are the sums over segments, then
 *
 * <pre>
 *   BP = 1 if sys_len >= ref_len, exp(1 - ref_len/sys_len) if 0 < sys_len < ref_len, 0 if sys_len == 0
 *   p_n = 100 * correct_n / total_n; with 'exp' smoothing a zero correct_n gives 100 / (2^k * total_n)
 *         for the k-th such order
 *   BLEU = BP * exp(mean over n of log p_n)       (0-100 scale; log 0 taken as -9999999999)
 * </pre>
 *
 * The loop over orders stops at the first order with no hypothesis n-grams; without effective order the
 * missing precisions stay 0 (BLEU 0), with effective order the mean runs over the orders seen. If no
 * n-gram matches at all, BLEU is 0. References come as sacreBLEU takes them: one list per reference set,
 * each parallel to the hypotheses; a {@code null} entry means that segment has one reference fewer
 * (the signature then says {@code nrefs:var}).
 */
public final class Bleu {
  /** The sacreBLEU release whose behaviour this reproduces; it goes into the signature. */
  public static final String SACREBLEU_VERSION = "2.6.0";

  public static final int MAX_NGRAM_ORDER = 4;

  /** {@code sacrebleu.corpus_bleu} / {@code BLEU()} defaults. */
  public static final Bleu CORPUS_DEFAULT = new Bleu(false, false);

  /** {@code sacrebleu.sentence_bleu} defaults: as the corpus defaults but with effective order. */
  public static final Bleu SENTENCE_DEFAULT = new Bleu(false, true);

  private final boolean lowercase;
  private final boolean effectiveOrder;

  public Bleu(boolean lowercase, boolean effectiveOrder) {
    this.lowercase = lowercase;
    this.effectiveOrder = effectiveOrder;
  }

  /** Corpus BLEU of {@code hypotheses} against {@code referenceSets} (each list parallel to hypotheses). */
  public BleuScore corpusScore(List<String> hypotheses, List<List<String>> referenceSets) {
    if (hypotheses.isEmpty()) throw new IllegalArgumentException("BLEU: no hypotheses");
    if (referenceSets.isEmpty()) throw new IllegalArgumentException("BLEU: no references");
    for (List<String> set : referenceSets) {
      if (set.size() != hypotheses.size()) {
        throw new IllegalArgumentException("BLEU: " + hypotheses.size() + " hypotheses but a reference set of "
            + set.size() + " lines");
      }
    }
    long[] stats = new long[2 + 2 * MAX_NGRAM_ORDER];
    int nrefs = -2; // -2: not seen yet, -1: varies by segment
    for (int s = 0; s < hypotheses.size(); s++) {
      List<String> refs = new ArrayList<>();
      for (List<String> set : referenceSets) {
        if (set.get(s) != null) refs.add(set.get(s));
      }
      if (refs.isEmpty()) throw new IllegalArgumentException("BLEU: segment " + s + " has no reference");
      nrefs = nrefs == -2 || nrefs == refs.size() ? refs.size() : -1;
      String hyp = hypotheses.get(s);
      if (hyp == null) throw new IllegalArgumentException("BLEU: hypothesis " + s + " is null");
      addSegmentStatistics(hyp, refs, stats);
    }
    return fromStatistics(stats, nrefs == -1 ? "var" : Integer.toString(nrefs));
  }

  /** BLEU of one hypothesis against its references (sacreBLEU's {@code sentence_score}). */
  public BleuScore sentenceScore(String hypothesis, List<String> references) {
    if (references.isEmpty()) throw new IllegalArgumentException("BLEU: no references");
    long[] stats = new long[2 + 2 * MAX_NGRAM_ORDER];
    addSegmentStatistics(hypothesis, references, stats);
    return fromStatistics(stats, Integer.toString(references.size()));
  }

  /** sacreBLEU's reproducibility signature for these options and a reference count ("1", "var"...). */
  public String signature(String nrefs) {
    return "nrefs:" + nrefs + "|case:" + (lowercase ? "lc" : "mixed") + "|eff:" + (effectiveOrder ? "yes" : "no")
        + "|tok:13a|smooth:exp|version:" + SACREBLEU_VERSION;
  }

  private String preprocess(String sentence) {
    if (lowercase) sentence = PythonText.lower(sentence);
    return Tokenizer13a.tokenize(PythonText.rstrip(sentence));
  }

  // stats: [sys_len, ref_len, correct_1..4, total_1..4], accumulated (+=)
  private void addSegmentStatistics(String hypothesis, List<String> references, long[] stats) {
    List<Map<String, Integer>> refMax = new ArrayList<>();
    for (int n = 0; n < MAX_NGRAM_ORDER; n++) refMax.add(new HashMap<>());
    int[] refLens = new int[references.size()];
    for (int r = 0; r < references.size(); r++) {
      List<String> tokens = PythonText.split(preprocess(references.get(r)));
      refLens[r] = tokens.size();
      for (int n = 1; n <= MAX_NGRAM_ORDER; n++) {
        Map<String, Integer> counts = countNgrams(tokens, n);
        Map<String, Integer> max = refMax.get(n - 1);
        counts.forEach((g, c) -> max.merge(g, c, Math::max));
      }
    }
    List<String> hyp = PythonText.split(preprocess(hypothesis));
    stats[0] += hyp.size();
    stats[1] += closestRefLength(hyp.size(), refLens);
    for (int n = 1; n <= MAX_NGRAM_ORDER; n++) {
      Map<String, Integer> max = refMax.get(n - 1);
      for (Map.Entry<String, Integer> e : countNgrams(hyp, n).entrySet()) {
        stats[1 + MAX_NGRAM_ORDER + n] += e.getValue();
        stats[1 + n] += Math.min(e.getValue(), max.getOrDefault(e.getKey(), 0));
      }
    }
  }

  /** The reference length closest to {@code hypLength}; the shorter reference wins a tie. */
  static int closestRefLength(int hypLength, int[] refLengths) {
    int bestDiff = -1;
    int best = -1;
    for (int len : refLengths) {
      int diff = Math.abs(hypLength - len);
      if (bestDiff == -1 || diff < bestDiff) {
        bestDiff = diff;
        best = len;
      } else if (diff == bestDiff && len < best) {
        best = len;
      }
    }
    return best;
  }

  // Tokens never hold whitespace, so joining n of them with a space is an unambiguous key.
  private static Map<String, Integer> countNgrams(List<String> tokens, int n) {
    Map<String, Integer> counts = new HashMap<>();
    for (int i = 0; i + n <= tokens.size(); i++) {
      counts.merge(String.join(" ", tokens.subList(i, i + n)), 1, Integer::sum);
    }
    return counts;
  }

  private BleuScore fromStatistics(long[] stats, String nrefs) {
    long sysLen = stats[0];
    long refLen = stats[1];
    long[] correct = new long[MAX_NGRAM_ORDER];
    long[] total = new long[MAX_NGRAM_ORDER];
    System.arraycopy(stats, 2, correct, 0, MAX_NGRAM_ORDER);
    System.arraycopy(stats, 2 + MAX_NGRAM_ORDER, total, 0, MAX_NGRAM_ORDER);
    String signature = signature(nrefs);

    double bp = 1.0;
    if (sysLen < refLen) bp = sysLen > 0 ? Math.exp(1 - (double) refLen / sysLen) : 0.0;
    double[] precisions = new double[MAX_NGRAM_ORDER];
    boolean anyCorrect = false;
    for (long c : correct) anyCorrect |= c != 0;
    if (!anyCorrect) return new BleuScore(0.0, correct, total, precisions, bp, sysLen, refLen, signature);

    double smoothMteval = 1.0;
    int effOrder = MAX_NGRAM_ORDER;
    for (int n = 1; n <= MAX_NGRAM_ORDER; n++) {
      if (total[n - 1] == 0) break;
      if (effectiveOrder) effOrder = n;
      if (correct[n - 1] == 0) {
        smoothMteval *= 2;
        precisions[n - 1] = 100.0 / (smoothMteval * total[n - 1]);
      } else {
        precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1];
      }
    }
    double logSum = 0;
    for (int n = 0; n < effOrder; n++) {
      logSum += precisions[n] == 0.0 ? -9999999999.0 : Math.log(precisions[n]);
    }
    double score = bp * Math.exp(logSum / effOrder);
    return new BleuScore(score, correct, total, precisions, bp, sysLen, refLen, signature);
  }
}
