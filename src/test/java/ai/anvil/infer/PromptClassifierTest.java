package ai.anvil.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.tensor.Device;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Label scoring and zero-/few-shot prompting on the tests' tiny char-level GPT pre-trained on the King
 * James Bible (src/test/resources/finetune/kjv-char-base): the label likelihoods are checked against the
 * Scorer's token log-probabilities of the whole text, the reference for what the model assigns.
 */
class PromptClassifierTest {
  static LanguageModel lm;

  @BeforeAll
  static void load() throws Exception {
    lm = LanguageModel.load(Path.of("src/test/resources/finetune/kjv-char-base"), Device.CPU);
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  /** log p(continuation | prompt) from the Scorer: the last continuation.length token log-probs of prompt + continuation. */
  private static double reference(int[] prompt, int[] continuation) {
    int[] all = new int[prompt.length + continuation.length];
    System.arraycopy(prompt, 0, all, 0, prompt.length);
    System.arraycopy(continuation, 0, all, prompt.length, continuation.length);
    float[] lp = lm.scorer().tokenLogProbs(all);
    double sum = 0;
    for (int i = lp.length - continuation.length; i < lp.length; i++) sum += lp[i];
    return sum;
  }

  @Test
  void labelLikelihoodsMatchTheScorerInBatchesOfMixedLengths() {
    Tokenizer t = lm.tokenizer();
    List<int[]> prompts = new ArrayList<>(), labels = new ArrayList<>();
    for (String text : List.of("And God said : ", "In the beginning God created the heaven and the earth : ", "Jesus wept : ")) {
      for (String label : List.of("light", "darkness", "and")) {
        prompts.add(t.encode(text));
        labels.add(t.encode(label));
      }
    }
    // Rows per batch 4: batches mix prompts of different lengths, so padding is exercised.
    double[] got = new LabelLikelihood(lm.model(), lm.model().contextLength(), 4).score(prompts, labels);
    for (int i = 0; i < got.length; i++) {
      assertEquals(reference(prompts.get(i), labels.get(i)), got[i], 2e-4, "row " + i);
      assertTrue(got[i] < 0);
    }
  }

  @Test
  void longPromptsKeepTheirEnd() {
    Tokenizer t = lm.tokenizer();
    int block = 32;
    LabelLikelihood ll = new LabelLikelihood(lm.model(), block, 8);
    int[] prompt = t.encode("And the earth was without form, and void; and darkness was upon the face of the deep : ");
    int[] label = t.encode("light");
    int[] kept = ll.fit(prompt, label.length);
    assertEquals(block + 1 - label.length, kept.length);
    assertTrue(Arrays.equals(Arrays.copyOfRange(prompt, prompt.length - kept.length, prompt.length), kept));
    assertEquals(reference(kept, label), ll.score(List.of(prompt), List.of(label))[0], 2e-4);
    assertThrows(IllegalArgumentException.class, () -> ll.fit(prompt, block));
  }

  @Test
  void promptsAreDemonstrationsThenTheQuery() {
    PromptClassifier c = new PromptClassifier(lm.model(), lm.tokenizer(), List.of("bad", "good"), " : ");
    String p = c.prompt(List.of(new PromptClassifier.Example("fine day", "good"), new PromptClassifier.Example("no rain", "bad")),
        "a flood");
    assertEquals("fine day : good\nno rain : bad\na flood : ", p);
  }

  @Test
  void classifiesByTheMostLikelyLabelAndCountsTruncation() {
    List<String> labels = List.of("darkness", "light");
    PromptClassifier c = new PromptClassifier(lm.model(), lm.tokenizer(), labels, " : ");
    List<PromptClassifier.Example> pool = new ArrayList<>();
    for (int i = 0; i < 10; i++) pool.add(new PromptClassifier.Example("and the evening and the morning were the day " + i, labels.get(i % 2)));
    List<PromptClassifier.Example> queries = List.of(new PromptClassifier.Example("Let there be", "light"),
        new PromptClassifier.Example("and the earth was", "darkness"), new PromptClassifier.Example("God divided the", "light"));
    for (int k : new int[] {0, 1, 4}) {
      PromptClassifier.Result r = c.classify(queries, pool, k, 3);
      assertEquals(3, r.predicted().size());
      for (int q = 0; q < queries.size(); q++) {
        // Brute force: the prompt this query got, each label scored by the Scorer.
        String prompt = c.prompt(demos(pool, queries.get(q), k, 3, q), queries.get(q).text());
        int[] ids = lm.tokenizer().encode(PromptClassifier.fit(lm.tokenizer(), prompt));
        int[] kept = new LabelLikelihood(lm.model(), lm.model().contextLength(), 8).fit(ids, lm.tokenizer().encode("darkness").length);
        double dark = reference(kept, lm.tokenizer().encode("darkness"));
        int[] keptL = new LabelLikelihood(lm.model(), lm.model().contextLength(), 8).fit(ids, lm.tokenizer().encode("light").length);
        double light = reference(keptL, lm.tokenizer().encode("light"));
        assertEquals(light > dark ? "light" : "darkness", r.predicted().get(q), "k " + k + " query " + q);
      }
      // Four demonstrations of about 50 characters overflow the 128-character context; none or one do not.
      assertEquals(k == 4 ? 1.0 : 0.0, r.truncatedShare(), "k " + k);
    }
    assertThrows(IllegalArgumentException.class, () -> c.classify(queries, pool.subList(0, 4), 4, 1));
    assertThrows(IllegalArgumentException.class, () -> new PromptClassifier(lm.model(), lm.tokenizer(), List.of("x"), " : "));
  }

  /** The demonstrations PromptClassifier draws for query q (same rule: seeded per query, no repeats, not the query). */
  private static List<PromptClassifier.Example> demos(List<PromptClassifier.Example> pool, PromptClassifier.Example query, int k,
                                                      long seed, int q) {
    java.util.SplittableRandom random = new java.util.SplittableRandom(seed ^ (q * 0x9E3779B97F4A7C15L));
    List<PromptClassifier.Example> out = new ArrayList<>();
    List<Integer> used = new ArrayList<>();
    while (out.size() < k) {
      int i = random.nextInt(pool.size());
      if (used.contains(i) || pool.get(i).text().equals(query.text())) continue;
      used.add(i);
      out.add(pool.get(i));
    }
    return out;
  }

  @Test
  void calibrationSubtractsTheContentFreeLikelihood() {
    List<String> labels = List.of("darkness", "light");
    PromptClassifier c = new PromptClassifier(lm.model(), lm.tokenizer(), labels, " : ");
    List<PromptClassifier.Example> pool = List.of(new PromptClassifier.Example("the night", "darkness"),
        new PromptClassifier.Example("the sun", "light"), new PromptClassifier.Example("the deep", "darkness"));
    List<PromptClassifier.Example> queries = List.of(new PromptClassifier.Example("Let there be", "light"),
        new PromptClassifier.Example("and the earth was", "darkness"));
    PromptClassifier.Result r = c.classify(queries, pool, 1, 5, true);
    for (int q = 0; q < queries.size(); q++) {
      List<PromptClassifier.Example> d = demos(pool, queries.get(q), 1, 5, q);
      double[] s = new double[2];
      for (int i = 0; i < 2; i++) {
        int[] label = lm.tokenizer().encode(labels.get(i));
        s[i] = reference(lm.tokenizer().encode(c.prompt(d, queries.get(q).text())), label)
            - reference(lm.tokenizer().encode(PromptClassifier.fit(lm.tokenizer(), c.prompt(d, PromptClassifier.CONTENT_FREE))), label);
      }
      assertEquals(s[1] > s[0] ? "light" : "darkness", r.predicted().get(q), "query " + q);
    }
  }

  @Test
  void scoresAgainstTheMajorityBaseline() {
    ClassificationScores s = ClassificationScores.of(List.of("positive", "negative", "positive", "positive"),
        List.of("positive", "positive", "negative", "positive"), List.of("negative", "negative", "positive"));
    assertEquals(0.5, s.accuracy());
    assertEquals("negative", s.majorityLabel());
    assertEquals(0.25, s.majorityAccuracy());
    // F1: positive P 2/3 R 2/3 -> 2/3; negative P 0 R 0 -> 0; macro 1/3. Majority: negative F1 2*0.25*1/1.25 = 0.4, positive 0.
    assertEquals(2.0 / 3, s.positiveF1(), 1e-12);
    assertEquals(1.0 / 3, s.macroF1(), 1e-12);
    assertEquals(0.2, s.majorityMacroF1(), 1e-12);
    assertEquals(0.5, s.chance());
  }
}
