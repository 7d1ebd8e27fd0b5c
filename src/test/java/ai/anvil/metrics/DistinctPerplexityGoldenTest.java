package ai.anvil.metrics;

import static ai.anvil.metrics.GoldenJson.assertClose;
import static ai.anvil.metrics.GoldenJson.cases;
import static ai.anvil.metrics.GoldenJson.longs;
import static ai.anvil.metrics.GoldenJson.num;
import static ai.anvil.metrics.GoldenJson.strings;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** distinct-n and token-weighted perplexity against golden/metrics/{distinct,perplexity}.json. */
class DistinctPerplexityGoldenTest {
  @Test
  void distinctOverTextsMatchesPythonDefinition() {
    List<Map<String, Object>> cases = cases(GoldenJson.load("distinct.json"), "texts");
    assertTrue(cases.size() >= 100, "golden cases: " + cases.size());
    List<Executable> checks = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Map<String, Object> c = cases.get(i);
      String name = "texts case " + i;
      checks.add(() -> {
        assertClose(num(c.get("distinct1")), Distinct.ofTexts(strings(c.get("texts")), 1), name + " distinct-1");
        assertClose(num(c.get("distinct2")), Distinct.ofTexts(strings(c.get("texts")), 2), name + " distinct-2");
      });
    }
    assertAll(checks);
  }

  @Test
  void distinctOverIdsMatchesPythonDefinition() {
    List<Map<String, Object>> cases = cases(GoldenJson.load("distinct.json"), "ids");
    assertTrue(cases.size() >= 100, "golden cases: " + cases.size());
    List<Executable> checks = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Map<String, Object> c = cases.get(i);
      String name = "ids case " + i;
      List<int[]> seqs = new ArrayList<>();
      for (Object s : (List<?>) c.get("ids")) {
        long[] l = longs(s);
        int[] ids = new int[l.length];
        for (int k = 0; k < l.length; k++) ids[k] = (int) l[k];
        seqs.add(ids);
      }
      checks.add(() -> {
        assertClose(num(c.get("distinct1")), Distinct.ofIds(seqs, 1), name + " distinct-1");
        assertClose(num(c.get("distinct2")), Distinct.ofIds(seqs, 2), name + " distinct-2");
      });
    }
    assertAll(checks);
  }

  @Test
  void perplexityIsTokenWeighted() {
    List<Map<String, Object>> cases = cases(GoldenJson.load("perplexity.json"), "cases");
    assertTrue(cases.size() >= 100, "golden cases: " + cases.size());
    List<Executable> checks = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Map<String, Object> c = cases.get(i);
      String name = "perplexity case " + i;
      List<?> nll = (List<?>) c.get("nll_sums");
      double[] sums = new double[nll.size()];
      for (int k = 0; k < sums.length; k++) sums[k] = num(nll.get(k));
      long[] counts = longs(c.get("token_counts"));
      checks.add(() -> {
        // perplexity grows fast: compare it relative to its size, the mean NLL absolutely
        double expected = num(c.get("perplexity"));
        double actual = Perplexity.of(sums, counts);
        assertClose(1.0, actual / expected, name + " perplexity " + actual + " vs " + expected);
        Perplexity acc = new Perplexity();
        for (int k = 0; k < sums.length; k++) acc.add(sums[k], counts[k]);
        assertClose(num(c.get("mean_nll")), acc.meanNll(), name + " mean NLL");
      });
    }
    assertAll(checks);
  }
}
