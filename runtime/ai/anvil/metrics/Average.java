package ai.anvil.metrics;

/**
 * How per-class precision/recall/F1 combine, as scikit-learn's {@code average=} argument.
 *
 * <ul>
 *   <li>{@link #BINARY}: only the positive class; refused when the two label lists together hold more
 *       than two labels, or two labels neither of which is the positive one.
 *   <li>{@link #MACRO}: the unweighted mean over every label seen in either list.
 *   <li>{@link #MICRO}: true/false positives and negatives summed over labels first; for single-label
 *       data precision = recall = F1 = accuracy.
 *   <li>{@link #WEIGHTED}: the mean weighted by each label's support (its count in the true labels).
 * </ul>
 */
public enum Average {
  BINARY, MACRO, MICRO, WEIGHTED;

  /** Parses "binary", "macro", "micro", "weighted" (any case). */
  public static Average parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("average must be binary, macro, micro or weighted, got '" + s + "'");
    }
  }
}
