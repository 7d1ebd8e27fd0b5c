package ai.anvil.metrics;

import static ai.anvil.metrics.GoldenJson.assertClose;
import static ai.anvil.metrics.GoldenJson.cases;
import static ai.anvil.metrics.GoldenJson.num;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Accuracy and P/R/F1 against scikit-learn, golden/metrics/classification.json. */
class ClassificationGoldenTest {
  private static final Map<String, Object> GOLDEN = GoldenJson.load("classification.json");

  /** The golden labels are all ints or all strings; returns them as int[] or List<String>. */
  private static Object labels(Object list) {
    List<?> l = (List<?>) list;
    if (l.get(0) instanceof String) {
      List<String> out = new ArrayList<>();
      for (Object o : l) out.add((String) o);
      return out;
    }
    int[] out = new int[l.size()];
    for (int i = 0; i < out.length; i++) out[i] = ((Number) l.get(i)).intValue();
    return out;
  }

  @SuppressWarnings("unchecked")
  private static Prf prf(Object yTrue, Object yPred, Average average, Object pos) {
    if (yTrue instanceof int[] t) {
      int p = pos instanceof Number n ? n.intValue() : Integer.MIN_VALUE;
      return Classification.precisionRecallF1(t, (int[]) yPred, average, p);
    }
    return Classification.precisionRecallF1((List<String>) yTrue, (List<String>) yPred, average, String.valueOf(pos));
  }

  @Test
  void accuracyMatchesSklearn() {
    List<Map<String, Object>> cases = cases(GOLDEN, "accuracy");
    assertTrue(cases.size() >= 100, "golden cases: " + cases.size());
    List<Executable> checks = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Map<String, Object> c = cases.get(i);
      String name = "accuracy case " + i;
      checks.add(() -> {
        Object t = labels(c.get("y_true"));
        Object p = labels(c.get("y_pred"));
        double acc = t instanceof int[] ti ? Classification.accuracy(ti, (int[]) p)
            : Classification.accuracy((List<?>) t, (List<?>) p);
        assertClose(num(c.get("accuracy")), acc, name);
      });
    }
    assertAll(checks);
  }

  @Test
  void precisionRecallF1MatchSklearnForEveryAverage() {
    List<Map<String, Object>> cases = cases(GOLDEN, "prf");
    for (Average a : Average.values()) {
      String key = a.name().toLowerCase(java.util.Locale.ROOT);
      assertTrue(cases.stream().filter(c -> key.equals(c.get("average")) && !c.containsKey("error")).count() >= 100,
          "golden cases for " + key);
    }
    List<Executable> checks = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Map<String, Object> c = cases.get(i);
      String name = "prf case " + i + " (" + c.get("average") + ")";
      checks.add(() -> {
        Object t = labels(c.get("y_true"));
        Object p = labels(c.get("y_pred"));
        Average average = Average.parse((String) c.get("average"));
        if (c.containsKey("error")) {
          assertThrows(IllegalArgumentException.class, () -> prf(t, p, average, c.get("pos_label")),
              name + ": sklearn refused with " + c.get("error"));
          return;
        }
        Prf s = prf(t, p, average, c.get("pos_label"));
        assertClose(num(c.get("precision")), s.precision(), name + " precision");
        assertClose(num(c.get("recall")), s.recall(), name + " recall");
        assertClose(num(c.get("f1")), s.f1(), name + " f1");
      });
    }
    assertAll(checks);
  }

  @Test
  @SuppressWarnings("unchecked")
  void perClassScoresMatchSklearnInLabelOrder() {
    List<Map<String, Object>> cases = cases(GOLDEN, "per_class");
    assertTrue(cases.size() >= 100, "golden cases: " + cases.size());
    List<Executable> checks = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Map<String, Object> c = cases.get(i);
      String name = "per-class case " + i;
      checks.add(() -> {
        Object t = labels(c.get("y_true"));
        Object p = labels(c.get("y_pred"));
        List<? extends ClassScore<?>> per = t instanceof int[] ti ? Classification.perClass(ti, (int[]) p)
            : Classification.perClass((List<String>) t, (List<String>) p);
        List<?> labels = (List<?>) c.get("labels");
        assertEquals(labels.size(), per.size(), name + " label count");
        for (int k = 0; k < per.size(); k++) {
          ClassScore<?> s = per.get(k);
          Object label = labels.get(k) instanceof Number n ? (Object) n.intValue() : labels.get(k);
          assertEquals(label, s.label(), name + " label " + k);
          assertClose(num(((List<?>) c.get("precision")).get(k)), s.precision(), name + " precision " + label);
          assertClose(num(((List<?>) c.get("recall")).get(k)), s.recall(), name + " recall " + label);
          assertClose(num(((List<?>) c.get("f1")).get(k)), s.f1(), name + " f1 " + label);
          assertEquals(((Number) ((List<?>) c.get("support")).get(k)).longValue(), s.support(), name + " support");
        }
      });
    }
    assertAll(checks);
  }
}
