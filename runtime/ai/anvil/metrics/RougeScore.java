package ai.anvil.metrics;

/** Precision, recall and F-measure (F1) of one ROUGE type, each in [0, 1]. */
public record RougeScore(double precision, double recall, double fmeasure) {
  public static final RougeScore ZERO = new RougeScore(0, 0, 0);

  /** rouge-score's {@code scoring.fmeasure}: the harmonic mean, 0 when both are 0. */
  public static RougeScore of(double precision, double recall) {
    double f = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    return new RougeScore(precision, recall, f);
  }
}
