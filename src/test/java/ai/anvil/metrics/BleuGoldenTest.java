package ai.anvil.metrics;

import static ai.anvil.metrics.GoldenJson.assertClose;
import static ai.anvil.metrics.GoldenJson.cases;
import static ai.anvil.metrics.GoldenJson.longs;
import static ai.anvil.metrics.GoldenJson.num;
import static ai.anvil.metrics.GoldenJson.strings;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** sacreBLEU's 13a tokenizer, corpus BLEU and sentence BLEU against golden/metrics/{tokenize_13a,bleu}.json. */
class BleuGoldenTest {
  private static final Map<String, Object> BLEU = GoldenJson.load("bleu.json");

  @Test
  void tokenizerMatchesSacrebleu13a() {
    List<Map<String, Object>> cases = cases(GoldenJson.load("tokenize_13a.json"), "cases");
    assertTrue(cases.size() >= 100, "golden cases: " + cases.size());
    List<Executable> checks = new ArrayList<>();
    for (Map<String, Object> c : cases) {
      String in = (String) c.get("in");
      checks.add(() -> assertEquals(c.get("out"), Tokenizer13a.tokenize(PythonText.rstrip(in)), "13a of [" + in + "]"));
    }
    assertAll(checks);
  }

  @Test
  void corpusBleuMatchesSacrebleu() {
    List<Map<String, Object>> cases = cases(BLEU, "corpus");
    assertTrue(cases.size() >= 100, "golden cases: " + cases.size());
    List<Executable> checks = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Map<String, Object> c = cases.get(i);
      String name = "corpus case " + i;
      @SuppressWarnings("unchecked")
      List<List<String>> refs = (List<List<String>>) c.get("refs");
      Bleu bleu = new Bleu((Boolean) c.get("lowercase"), false);
      checks.add(() -> check(name, c, bleu.corpusScore(strings(c.get("hyps")), refs)));
    }
    assertAll(checks);
  }

  @Test
  void sentenceBleuMatchesSacrebleuWithEffectiveOrder() {
    List<Map<String, Object>> cases = cases(BLEU, "sentence");
    assertTrue(cases.size() >= 100, "golden cases: " + cases.size());
    List<Executable> checks = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Map<String, Object> c = cases.get(i);
      String name = "sentence case " + i;
      checks.add(() -> check(name, c,
          Bleu.SENTENCE_DEFAULT.sentenceScore((String) c.get("hyp"), strings(c.get("refs")))));
    }
    assertAll(checks);
  }

  private static void check(String name, Map<String, Object> expected, BleuScore actual) {
    assertClose(num(expected.get("score")), actual.score(), name + " score");
    assertArrayEquals(longs(expected.get("counts")), actual.counts(), name + " counts");
    assertArrayEquals(longs(expected.get("totals")), actual.totals(), name + " totals");
    assertEquals(((Number) expected.get("sys_len")).longValue(), actual.sysLen(), name + " sys_len");
    assertEquals(((Number) expected.get("ref_len")).longValue(), actual.refLen(), name + " ref_len");
    assertClose(num(expected.get("bp")), actual.bp(), name + " bp");
    assertEquals(expected.get("signature"), actual.signature(), name + " signature");
    if (expected.containsKey("precisions")) {
      List<?> p = (List<?>) expected.get("precisions");
      for (int n = 0; n < p.size(); n++) assertClose(num(p.get(n)), actual.precisions()[n], name + " p" + (n + 1));
    }
  }
}
