package ai.anvil.metrics;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;

/**
 * Accuracy and precision/recall/F1 of single-label classification, as scikit-learn's
 * {@code accuracy_score} and {@code precision_recall_fscore_support(..., zero_division=0)}.
 *
 * <p>Labels are the union of both lists, ordered as Python sorts them (numbers numerically, strings by
 * code point). Per class: P = tp / predicted, R = tp / actual, F1 = 2 tp / (actual + predicted); a ratio
 * with a zero denominator is 0, which is what sklearn's {@code zero_division=0} (and its default
 * {@code "warn"}, minus the warning) gives. Averages of such zeros are taken as they are, so a class that
 * never occurs and is never predicted cannot appear, while a class that is only predicted (or only
 * true) counts with P or R of 0 in the macro mean.
 */
public final class Classification {
  private Classification() {}

  /** Python's ordering of str: by code point (Java's compareTo orders UTF-16 units). */
  static final Comparator<String> CODE_POINT_ORDER = (a, b) -> {
    int i = 0;
    int j = 0;
    while (i < a.length() && j < b.length()) {
      int ca = a.codePointAt(i);
      int cb = b.codePointAt(j);
      if (ca != cb) return Integer.compare(ca, cb);
      i += Character.charCount(ca);
      j += Character.charCount(cb);
    }
    return Boolean.compare(i < a.length(), j < b.length());
  };

  /** The fraction of positions where the labels agree. */
  public static double accuracy(List<?> yTrue, List<?> yPred) {
    checkLengths(yTrue.size(), yPred.size());
    long hits = 0;
    for (int i = 0; i < yTrue.size(); i++) {
      if (Objects.equals(yTrue.get(i), yPred.get(i))) hits++;
    }
    return (double) hits / yTrue.size();
  }

  public static double accuracy(int[] yTrue, int[] yPred) {
    return accuracy(boxed(yTrue), boxed(yPred));
  }

  /** Averaged P/R/F1 over string labels; {@code posLabel} only matters for {@link Average#BINARY}. */
  public static Prf precisionRecallF1(List<String> yTrue, List<String> yPred, Average average, String posLabel) {
    return averaged(yTrue, yPred, average, posLabel, CODE_POINT_ORDER);
  }

  /** Averaged P/R/F1 over integer labels; {@code posLabel} only matters for {@link Average#BINARY}. */
  public static Prf precisionRecallF1(int[] yTrue, int[] yPred, Average average, int posLabel) {
    return averaged(boxed(yTrue), boxed(yPred), average, posLabel, Comparator.naturalOrder());
  }

  /** Per-class scores in label order (sklearn's {@code average=None}). */
  public static List<ClassScore<String>> perClass(List<String> yTrue, List<String> yPred) {
    return perClass(yTrue, yPred, labels(yTrue, yPred, CODE_POINT_ORDER));
  }

  public static List<ClassScore<Integer>> perClass(int[] yTrue, int[] yPred) {
    List<Integer> t = boxed(yTrue);
    List<Integer> p = boxed(yPred);
    return perClass(t, p, labels(t, p, Comparator.naturalOrder()));
  }

  private static <T> Prf averaged(List<T> yTrue, List<T> yPred, Average average, T posLabel, Comparator<T> order) {
    checkLengths(yTrue.size(), yPred.size());
    List<T> present = labels(yTrue, yPred, order);
    List<T> labels = present;
    if (average == Average.BINARY) {
      if (present.size() > 2) {
        throw new IllegalArgumentException("Target is multiclass (labels " + present
            + ") but average is binary; choose macro, micro or weighted");
      }
      if (!present.contains(posLabel) && present.size() == 2) {
        throw new IllegalArgumentException("pos_label " + posLabel + " is not a valid label; it should be one of "
            + present);
      }
      labels = List.of(posLabel);
    }
    List<ClassScore<T>> per = perClass(yTrue, yPred, labels);
    switch (average) {
      case BINARY:
        ClassScore<T> c = per.get(0);
        return new Prf(c.precision(), c.recall(), c.f1());
      case MICRO: {
        // summed over all labels seen, every prediction and every true label is counted once
        long tp = 0;
        for (int i = 0; i < yTrue.size(); i++) {
          if (yTrue.get(i).equals(yPred.get(i))) tp++;
        }
        long n = yTrue.size();
        return new Prf(ratio(tp, n), ratio(tp, n), ratio(2 * tp, 2 * n));
      }
      case MACRO:
      case WEIGHTED: {
        double p = 0;
        double r = 0;
        double f = 0;
        double weights = 0;
        for (ClassScore<T> s : per) {
          double w = average == Average.MACRO ? 1 : s.support();
          p += w * s.precision();
          r += w * s.recall();
          f += w * s.f1();
          weights += w;
        }
        return weights == 0 ? new Prf(0, 0, 0) : new Prf(p / weights, r / weights, f / weights);
      }
      default:
        throw new AssertionError(average);
    }
  }

  private static <T> List<ClassScore<T>> perClass(List<T> yTrue, List<T> yPred, List<T> labels) {
    checkLengths(yTrue.size(), yPred.size());
    List<ClassScore<T>> out = new ArrayList<>(labels.size());
    for (T label : labels) {
      long tp = 0;
      long predicted = 0;
      long actual = 0;
      for (int i = 0; i < yTrue.size(); i++) {
        boolean t = label.equals(yTrue.get(i));
        boolean p = label.equals(yPred.get(i));
        if (t) actual++;
        if (p) predicted++;
        if (t && p) tp++;
      }
      out.add(new ClassScore<>(label, ratio(tp, predicted), ratio(tp, actual), ratio(2 * tp, actual + predicted), actual));
    }
    return out;
  }

  private static <T> List<T> labels(List<T> yTrue, List<T> yPred, Comparator<T> order) {
    TreeSet<T> set = new TreeSet<>(order);
    for (T t : yTrue) set.add(Objects.requireNonNull(t, "null label"));
    for (T t : yPred) set.add(Objects.requireNonNull(t, "null label"));
    return new ArrayList<>(set);
  }

  private static double ratio(long num, long den) {
    return den == 0 ? 0.0 : (double) num / den;
  }

  private static void checkLengths(int nTrue, int nPred) {
    if (nTrue != nPred) throw new IllegalArgumentException(nTrue + " true labels but " + nPred + " predictions");
    if (nTrue == 0) throw new IllegalArgumentException("no labels to score");
  }

  private static List<Integer> boxed(int[] a) {
    List<Integer> out = new ArrayList<>(a.length);
    for (int v : a) out.add(v);
    return out;
  }
}
