package ai.anvil.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Log-probabilities against a log-softmax of the model's own logits, window by window. */
class ScorerTest {
  private static final int VOCAB = 50;
  private static Gpt model;

  @BeforeAll
  static void model() {
    model = new Gpt(GptConfig.of(2, 2, 32, 16, VOCAB), 8, Device.CPU);
  }

  @AfterAll
  static void close() {
    model.close();
  }

  private static int[] tokens(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] t = new int[n];
    for (int i = 0; i < n; i++) t[i] = r.nextInt(VOCAB);
    return t;
  }

  /** log p(tokens[target] | tokens[start..target)) by a plain log-softmax over the real vocabulary, in fp64. */
  private static double logProb(int[] tokens, int start, int target) {
    int[] window = java.util.Arrays.copyOfRange(tokens, start, target);
    float[] logits;
    try (Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      logits = model.logits(Tensor.ofInts(window, 1, window.length)).toFloatArray();
    }
    int row = (window.length - 1) * model.config().paddedVocab();
    double max = Double.NEGATIVE_INFINITY, sum = 0;
    for (int j = 0; j < VOCAB; j++) max = Math.max(max, logits[row + j]);
    for (int j = 0; j < VOCAB; j++) sum += Math.exp(logits[row + j] - max);
    return logits[row + tokens[target]] - max - Math.log(sum);
  }

  @Test
  void shortTextIsScoredWithAllItsContext() {
    int[] t = tokens(12, 1);
    float[] lp = new Scorer(model).tokenLogProbs(t);
    assertEquals(11, lp.length);
    double sum = 0;
    for (int i = 1; i < 12; i++) {
      double want = logProb(t, 0, i);
      assertEquals(want, lp[i - 1], 1e-4, "token " + i);
      sum += want;
    }
    Score s = new Scorer(model).score(t);
    assertEquals(11, s.tokens());
    assertEquals(sum, s.logProb(), 1e-3);
    assertEquals(-sum / 11, s.meanLoss(), 1e-4);
    assertEquals(Math.exp(-sum / 11), s.perplexity(), 1e-3);
  }

  @Test
  void longTextIsCutIntoWindows() {
    int block = 16;
    int[] t = tokens(3 * block + 5, 2);
    // Back-to-back windows: token i is predicted from the tokens of its window, [16k, i) for i in (16k, 16k+16].
    float[] lp = new Scorer(model).tokenLogProbs(t);
    for (int i = 1; i < t.length; i++) {
      int start = (i - 1) / block * block;
      assertEquals(logProb(t, start, i), lp[i - 1], 1e-4, "token " + i);
    }
    // Stride 4: every token after the first window gets at least 12 tokens of context.
    float[] sliding = new Scorer(model, 4, 3).tokenLogProbs(t);
    for (int i = 1; i < t.length; i++) {
      int start = i <= block ? 0 : (i - block + 3) / 4 * 4;
      assertTrue(i - start >= Math.min(i, 12) && i - start <= block, "context of token " + i);
      assertEquals(logProb(t, start, i), sliding[i - 1], 1e-4, "sliding token " + i);
    }
  }

  @Test
  void batchingDoesNotChangeScores() {
    int[] t = tokens(100, 3);
    float[] one = new Scorer(model, 16, 1).tokenLogProbs(t);
    float[] many = new Scorer(model, 16, 8).tokenLogProbs(t);
    for (int i = 0; i < one.length; i++) assertEquals(one[i], many[i], 1e-5, "token " + (i + 1));
  }

  @Test
  void scoresAddUpTokenWeighted() {
    int[] a = tokens(5, 4), b = tokens(30, 5);
    Scorer s = new Scorer(model);
    Score both = s.score(List.of(a, b));
    assertEquals(4 + 29, both.tokens());
    assertEquals(s.score(a).logProb() + s.score(b).logProb(), both.logProb(), 1e-9);
    assertEquals(0, s.score(new int[] {3}).tokens());
    assertTrue(Double.isNaN(Score.EMPTY.meanLoss()));
    assertThrows(IllegalArgumentException.class, () -> new Scorer(model, 17, 1));
  }
}
