package ai.anvil.data.masking;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.Corpora;
import ai.anvil.data.tokenizer.CharTokenizer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** T5 span corruption: exact round trip on real text, the lengths T5's formulas give, and the statistics. */
class SpanCorruptionTest {
  @Test
  void inputsPlusTargetsReconstructRealTextExactly() {
    String kjv = Corpora.embeddedKjv();
    CharTokenizer tok = CharTokenizer.fromText(kjv);
    SpanCorruption spans = SpanCorruption.t5(tok.vocabSize());
    int[] ids = tok.encode(kjv.substring(0, 200_000));
    SplittableRandom rng = new SplittableRandom(7);
    for (int trial = 0; trial < 500; trial++) {
      int n = 2 + rng.nextInt(600);
      int start = rng.nextInt(ids.length - n);
      int[] window = java.util.Arrays.copyOfRange(ids, start, start + n);
      SpanCorruption.Example ex = spans.corrupt(window, rng);
      assertArrayEquals(window, spans.reconstruct(ex.inputs(), ex.targets()), "round trip of a row of " + n);
      assertEquals(spans.inputLength(n), ex.inputs().length, "input length of " + n);
      assertEquals(spans.targetLength(n), ex.targets().length, "target length of " + n);
      assertEquals(spans.eosId(), ex.inputs()[ex.inputs().length - 1]);
      assertEquals(spans.eosId(), ex.targets()[ex.targets().length - 1]);
      assertEquals(spans.sentinel(0), ex.targets()[0], "targets open with <extra_id_0>");
    }
  }

  @Test
  void exampleFromTheDocumentation() {
    SpanCorruption spans = new SpanCorruption(10, 0.15, 3, 5);
    int[] text = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    boolean[] mask = {false, false, true, true, false, false, false, true, false, false};
    SpanCorruption.Example ex = spans.apply(text, mask);
    int s0 = spans.sentinel(0), s1 = spans.sentinel(1), eos = spans.eosId();
    assertEquals(12, s0);
    assertArrayEquals(new int[] {0, 1, s0, 4, 5, 6, s1, 8, 9, eos}, ex.inputs());
    assertArrayEquals(new int[] {s0, 2, 3, s1, 7, eos}, ex.targets());
    assertArrayEquals(text, spans.reconstruct(ex.inputs(), ex.targets()));
    assertEquals("<extra_id_1>", spans.specialName(s1));
    assertEquals(10 + 2 + 5, spans.vocabSize());
  }

  @Test
  void countsFollowT5Rounding() {
    SpanCorruption spans = SpanCorruption.t5(100);
    // 512 tokens: round(76.8) = 77 noise tokens in round(25.67) = 26 spans (T5's 568 -> 512 / 114 setup uses the same).
    assertEquals(77, spans.noiseTokens(512));
    assertEquals(26, spans.noiseSpans(512));
    assertEquals(512 - 77 + 26 + 1, spans.inputLength(512));
    assertEquals(77 + 26 + 1, spans.targetLength(512));
    assertEquals(1, spans.noiseTokens(2), "at least one noise token");
    assertEquals(1, spans.noiseSpans(2));
    // T5's random_spans_helper for inputs 512 gives a raw length of 568 with targets 114.
    assertEquals(568, spans.rawLengthFor(512, 1 << 20));
    assertEquals(114, spans.targetLength(568));
  }

  @Test
  void densityAndSpanLengthWithinSamplingError() {
    SpanCorruption spans = SpanCorruption.t5(50);
    SplittableRandom rng = new SplittableRandom(11);
    int n = 200;
    long noise = 0, spanCount = 0, starts = 0, rows = 4000;
    long[] startHits = new long[n];
    for (int r = 0; r < rows; r++) {
      boolean[] m = spans.noiseMask(n, rng);
      assertFalse(m[0], "the row starts with non-noise");
      assertTrue(m[n - 1], "the row ends with noise");
      for (int i = 0; i < n; i++) {
        if (m[i]) noise++;
        if (m[i] && (i == 0 || !m[i - 1])) {
          spanCount++;
          startHits[i]++;
        }
      }
    }
    // Counts are exact per row; the randomness is where the spans fall and how long each is.
    assertEquals(0.15, noise / (double) (rows * n), 1e-12);
    assertEquals(10, spanCount / rows);
    assertEquals(3.0, noise / (double) spanCount, 1e-12);
    // Positions: every interior position is a span start with probability about spans / n = 0.05; with
    // 4000 rows the standard error of each is about 0.0035, so the mean over the middle half is tight.
    double middle = 0;
    for (int i = n / 4; i < 3 * n / 4; i++) middle += startHits[i] / (double) rows;
    middle /= n / 2;
    assertEquals(10.0 / n, middle, 0.004, "span starts spread over the row");
    // Span lengths: a random composition of 30 into 10 parts; P(length 1) = C(28,8)/C(29,9) = 9/29.
    long ones = 0, lengths = 0;
    for (int r = 0; r < rows; r++) {
      for (int len : SpanCorruption.randomSegmentation(30, 10, rng)) {
        lengths++;
        if (len == 1) ones++;
      }
    }
    double se = Math.sqrt(9.0 / 29 * 20 / 29 / lengths);
    assertEquals(9.0 / 29, ones / (double) lengths, 5 * se, "share of one-token spans");
  }

  @Test
  void badInputIsRefusedWithTheReason() {
    SpanCorruption spans = SpanCorruption.t5(10);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> spans.corrupt(new int[] {1, 2, 10}, new SplittableRandom(1)));
    assertTrue(e.getMessage().contains("token 10 outside [0, 10)"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> spans.corrupt(new int[] {1}, new SplittableRandom(1)));
    assertThrows(IllegalArgumentException.class, () -> new SpanCorruption(10, 1.0, 3, 100));
    assertThrows(IllegalArgumentException.class, () -> new SpanCorruption(10, 0.15, 0.5, 100));
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
        () -> spans.reconstruct(new int[] {1, spans.eosId()}, new int[] {spans.sentinel(1), 3, spans.eosId()}));
    assertTrue(bad.getMessage().contains("<extra_id_0>"), bad.getMessage());
  }
}
