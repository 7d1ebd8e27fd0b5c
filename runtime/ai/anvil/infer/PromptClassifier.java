package ai.anvil.infer;

import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.models.CausalLm;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Zero- and few-shot classification by prompting a causal LM, with no gradient step: the prompt is k
 * demonstrations ({@code text + separator + label + "\n"} each) followed by the query
 * ({@code text + separator}); every candidate label is scored by its log-likelihood as the continuation
 * ({@link LabelLikelihood}) and the most likely one is the answer. A prompt longer than the context
 * loses its first tokens, so with a short context the earliest demonstrations fall away: {@link Result}
 * says how often that happened.
 */
public final class PromptClassifier {
  /** One labelled text: a demonstration or a query with its true label. */
  public record Example(String text, String label) {}

  /**
   * What a run over queries gave.
   *
   * @param predicted the chosen label of each query
   * @param truncatedShare the share of prompts that did not fit the context and lost their start
   */
  public record Result(List<String> predicted, double truncatedShare) {}

  /** The content-free query of contextual calibration. */
  public static final String CONTENT_FREE = "N/A";

  private final Tokenizer tokenizer;
  private final List<String> labels;
  private final String separator;
  private final List<int[]> labelTokens = new ArrayList<>();
  private final LabelLikelihood likelihood;

  /**
   * @param labels the candidates, as they are written after the separator
   * @param separator between a text and its label (" : ", "\nSentiment: ", ...)
   */
  public PromptClassifier(CausalLm model, Tokenizer tokenizer, List<String> labels, String separator) {
    if (labels.size() < 2) throw new IllegalArgumentException("a classifier needs at least two labels, got " + labels);
    this.tokenizer = tokenizer;
    this.labels = List.copyOf(labels);
    this.separator = separator;
    for (String l : labels) {
      int[] ids = tokenizer.encode(fit(tokenizer, l));
      if (ids.length == 0) throw new IllegalArgumentException("label '" + l + "' has no tokens in this vocabulary");
      labelTokens.add(ids);
    }
    int block = model.contextLength();
    this.likelihood = new LabelLikelihood(model, block, LabelLikelihood.rowsFor(model, block, labels.size()) / labels.size() * labels.size());
  }

  public List<String> labels() {
    return labels;
  }

  /** The prompt for text after the demonstrations, ending in the separator. */
  public String prompt(List<Example> demos, String text) {
    StringBuilder b = new StringBuilder();
    for (Example d : demos) b.append(d.text()).append(separator).append(d.label()).append('\n');
    return b.append(text).append(separator).toString();
  }

  /**
   * Classifies every query with k demonstrations drawn from pool at random (without replacement, a
   * different draw per query, from seed), none of them the query itself.
   */
  public Result classify(List<Example> queries, List<Example> pool, int k, long seed) {
    return classify(queries, pool, k, seed, false);
  }

  /**
   * As {@link #classify(List, List, int, long)}; with calibrate, contextual calibration (Zhao et al. 2021,
   * "Calibrate Before Use"): each label's log-likelihood has subtracted from it its log-likelihood after
   * the same demonstrations and the content-free query {@value #CONTENT_FREE}, which removes the
   * prompt's bias toward one label.
   */
  public Result classify(List<Example> queries, List<Example> pool, int k, long seed, boolean calibrate) {
    if (k < 0) throw new IllegalArgumentException("k must be >= 0, got " + k);
    if (k > 0 && pool.size() <= k) throw new IllegalArgumentException(k + " demonstrations need a pool of more than " + k + ", got " + pool.size());
    List<String> prompts = new ArrayList<>(queries.size()), contentFree = new ArrayList<>();
    for (int q = 0; q < queries.size(); q++) {
      SplittableRandom random = new SplittableRandom(seed ^ (q * 0x9E3779B97F4A7C15L));
      List<Example> demos = new ArrayList<>(k);
      List<Integer> used = new ArrayList<>();
      while (demos.size() < k) {
        int i = random.nextInt(pool.size());
        Example d = pool.get(i);
        if (used.contains(i) || d.text().equals(queries.get(q).text())) continue;
        used.add(i);
        demos.add(d);
      }
      prompts.add(prompt(demos, queries.get(q).text()));
      if (calibrate) contentFree.add(prompt(demos, CONTENT_FREE));
    }
    return classify(prompts, calibrate ? contentFree : null);
  }

  /** The most likely label after each prompt. */
  public Result classify(List<String> prompts) {
    return classify(prompts, null);
  }

  /** The most likely label after each prompt, less its log-likelihood after baselines.get(i) when baselines is given. */
  public Result classify(List<String> prompts, List<String> baselines) {
    if (baselines != null && baselines.size() != prompts.size()) {
      throw new IllegalArgumentException(prompts.size() + " prompts but " + baselines.size() + " calibration prompts");
    }
    int[] truncated = new int[1];
    double[] scores = scores(prompts, truncated);
    if (baselines != null) {
      double[] base = scores(baselines, new int[1]);
      for (int i = 0; i < scores.length; i++) scores[i] -= base[i];
    }
    List<String> out = new ArrayList<>(prompts.size());
    int n = labels.size();
    for (int p = 0; p < prompts.size(); p++) {
      int best = 0;
      for (int c = 1; c < n; c++) if (scores[p * n + c] > scores[p * n + best]) best = c;
      out.add(labels.get(best));
    }
    return new Result(out, prompts.isEmpty() ? 0 : (double) truncated[0] / prompts.size());
  }

  /** log p(label | prompt) for every (prompt, label), prompt-major; truncated[0] counts prompts cut to fit. */
  private double[] scores(List<String> prompts, int[] truncated) {
    List<int[]> rows = new ArrayList<>(), continuations = new ArrayList<>();
    int longest = 0;
    for (int[] l : labelTokens) longest = Math.max(longest, l.length);
    for (String p : prompts) {
      int[] ids = tokenizer.encode(fit(tokenizer, p));
      if (ids.length + longest - 1 > likelihood.block()) truncated[0]++;
      for (int[] l : labelTokens) {
        rows.add(ids);
        continuations.add(l);
      }
    }
    return likelihood.score(rows, continuations);
  }

  /**
   * Text the tokenizer can encode: unchanged when it can, else without the characters it cannot (a
   * character-level vocabulary from another corpus lacks digits, say).
   */
  public static String fit(Tokenizer tokenizer, String text) {
    try {
      tokenizer.encode(text);
      return text;
    } catch (IllegalArgumentException e) {
      StringBuilder b = new StringBuilder();
      text.codePoints().forEach(cp -> {
        String c = new String(Character.toChars(cp));
        try {
          tokenizer.encode(c);
          b.append(c);
        } catch (IllegalArgumentException ignored) {
          // dropped
        }
      });
      return b.toString();
    }
  }
}
