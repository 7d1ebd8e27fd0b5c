package ai.anvil.metrics;

/** Precision, recall and F1, each in [0, 1]. */
public record Prf(double precision, double recall, double f1) {}
