package ai.anvil.metrics;

import static ai.anvil.metrics.GoldenJson.assertClose;
import static ai.anvil.metrics.GoldenJson.cases;
import static ai.anvil.metrics.GoldenJson.num;
import static ai.anvil.metrics.GoldenJson.strings;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** ROUGE-1/2/L (rouge-score's definition) and NLTK's Porter stemmer against golden/metrics/rouge.json. */
class RougeGoldenTest {
  private static final Map<String, Object> GOLDEN = GoldenJson.load("rouge.json");
  private static final String[] TYPES = {"rouge1", "rouge2", "rougeL"};

  @Test
  void perExampleScoresMatchRougeScore() {
    List<Map<String, Object>> cases = cases(GOLDEN, "cases");
    assertTrue(cases.size() >= 100, "golden cases: " + cases.size());
    assertTrue(cases.stream().filter(c -> (Boolean) c.get("stem")).count() >= 100, "stemmed cases");
    List<Executable> checks = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Map<String, Object> c = cases.get(i);
      String name = "case " + i;
      checks.add(() -> {
        Rouge rouge = new Rouge((Boolean) c.get("stem"));
        RougeScores s = rouge.scoreMulti(strings(c.get("targets")), (String) c.get("prediction"));
        RougeScore[] actual = {s.rouge1(), s.rouge2(), s.rougeL()};
        for (int k = 0; k < 3; k++) {
          List<?> e = (List<?>) c.get(TYPES[k]);
          assertClose(num(e.get(0)), actual[k].precision(), name + " " + TYPES[k] + " P");
          assertClose(num(e.get(1)), actual[k].recall(), name + " " + TYPES[k] + " R");
          assertClose(num(e.get(2)), actual[k].fmeasure(), name + " " + TYPES[k] + " F");
        }
      });
    }
    assertAll(checks);
  }

  @Test
  void corpusMeansMatch() {
    List<Map<String, Object>> cases = cases(GOLDEN, "corpus");
    List<Executable> checks = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Map<String, Object> c = cases.get(i);
      String name = "corpus " + i;
      checks.add(() -> {
        List<List<String>> targets = new ArrayList<>();
        for (String t : strings(c.get("targets"))) targets.add(List.of(t));
        RougeScores s = new Rouge((Boolean) c.get("stem")).corpusScore(targets, strings(c.get("predictions")));
        RougeScore[] actual = {s.rouge1(), s.rouge2(), s.rougeL()};
        for (int k = 0; k < 3; k++) {
          List<?> e = (List<?>) c.get(TYPES[k]);
          assertClose(num(e.get(0)), actual[k].precision(), name + " " + TYPES[k] + " mean P");
          assertClose(num(e.get(1)), actual[k].recall(), name + " " + TYPES[k] + " mean R");
          assertClose(num(e.get(2)), actual[k].fmeasure(), name + " " + TYPES[k] + " mean F");
        }
      });
    }
    assertAll(checks);
  }

  @Test
  void porterStemsMatchNltk() {
    @SuppressWarnings("unchecked")
    List<List<String>> pairs = (List<List<String>>) GOLDEN.get("porter");
    assertTrue(pairs.size() >= 100, "golden stems: " + pairs.size());
    List<Executable> checks = new ArrayList<>();
    for (List<String> p : pairs) checks.add(() -> assertEquals(p.get(1), PorterStemmer.stem(p.get(0)), p.get(0)));
    assertAll(checks);
  }
}
