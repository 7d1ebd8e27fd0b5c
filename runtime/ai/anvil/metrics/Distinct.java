package ai.anvil.metrics;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * distinct-n (Li et al., 2016): the number of distinct n-grams divided by the number of n-grams, over a
 * whole corpus of generated texts. N-grams never cross from one text into the next; a corpus with no
 * n-gram at all scores 0. Text is split into tokens as Python's {@code str.split()} does (any Unicode
 * whitespace), the usual way the figure is reported; token-id sequences are scored as they are.
 */
public final class Distinct {
  private Distinct() {}

  /** distinct-n over whitespace tokens of {@code texts}. */
  public static double ofTexts(List<String> texts, int n) {
    checkOrder(n);
    Set<List<String>> seen = new HashSet<>();
    long total = 0;
    for (String text : texts) {
      List<String> tokens = PythonText.split(text);
      for (int i = 0; i + n <= tokens.size(); i++) {
        seen.add(List.copyOf(tokens.subList(i, i + n)));
        total++;
      }
    }
    return total == 0 ? 0.0 : (double) seen.size() / total;
  }

  /** distinct-n over token-id sequences (e.g. model samples before decoding). */
  public static double ofIds(List<int[]> sequences, int n) {
    checkOrder(n);
    Set<IdGram> seen = new HashSet<>();
    long total = 0;
    for (int[] seq : sequences) {
      for (int i = 0; i + n <= seq.length; i++) {
        seen.add(new IdGram(java.util.Arrays.copyOfRange(seq, i, i + n)));
        total++;
      }
    }
    return total == 0 ? 0.0 : (double) seen.size() / total;
  }

  private static void checkOrder(int n) {
    if (n <= 0) throw new IllegalArgumentException("distinct-n needs n > 0, got " + n);
  }

  private record IdGram(int[] ids) {
    @Override
    public boolean equals(Object o) {
      return o instanceof IdGram g && java.util.Arrays.equals(ids, g.ids);
    }

    @Override
    public int hashCode() {
      return java.util.Arrays.hashCode(ids);
    }
  }
}
