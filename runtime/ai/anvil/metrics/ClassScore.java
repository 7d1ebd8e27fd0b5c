package ai.anvil.metrics;

/** Precision, recall, F1 and support (count among the true labels) of one class. */
public record ClassScore<T>(T label, double precision, double recall, double f1, long support) {}
