package ai.anvil.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Hand-checked values and the inputs each metric refuses. */
class MetricsEdgeCaseTest {
  // CPython 3.11: [c for c in range(0x110000) if chr(c).isspace()]
  private static final int[] PYTHON_SPACES = {0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0,
      0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029,
      0x202f, 0x205f, 0x3000};

  @Test
  void whitespaceIsExactlyPythons() {
    for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
      assertEquals(Arrays.binarySearch(PYTHON_SPACES, cp) >= 0, PythonText.isSpace(cp), "U+" + Integer.toHexString(cp));
    }
    assertEquals(List.of("a", "b", "c"), PythonText.split("\u3000a\u00a0 b\u0085c\u2028"));
    assertEquals("x\u200b", PythonText.rstrip("x\u200b \t\u3000"));
  }

  @Test
  void lowerCasingFollowsPythonsFinalSigmaRule() {
    assertEquals("\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2", PythonText.lower("\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3"));
    assertEquals("\u03c3", PythonText.lower("\u03a3")); // nothing cased before it
    assertEquals("i\u0307-\u03c3", PythonText.lower("\u0130-\u03a3")); // '-' is neither cased nor ignorable
    assertEquals("\u00df\u03c2\u200b_", PythonText.lower("\u00df\u03a3\u200b_")); // U+200B is skipped
  }

  @Test
  void bleuOfAPerfectMatchIs100AndSignatureIsSacrebleus() {
    BleuScore s = Bleu.CORPUS_DEFAULT.corpusScore(List.of("The cat sat on the mat."), List.of(List.of("The cat sat on the mat.")));
    assertEquals(100.0, s.score(), 1e-9);
    assertEquals("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0", s.signature());
    assertEquals("BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 100.00 "
        + "100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.000 hyp_len = 7 ref_len = 7)", s.toString());
  }

  @Test
  void bleuSignatureSaysVarWhenReferenceCountsDiffer() {
    BleuScore s = new Bleu(true, false).corpusScore(List.of("a b", "c d"),
        List.of(List.of("a b", "c d"), Arrays.asList("a b c", null)));
    assertEquals("nrefs:var|case:lc|eff:no|tok:13a|smooth:exp|version:2.6.0", s.signature());
  }

  @Test
  void closestReferenceLengthPrefersTheShorterOnATie() {
    assertEquals(4, Bleu.closestRefLength(5, new int[] {6, 4}));
    assertEquals(6, Bleu.closestRefLength(6, new int[] {4, 6, 7}));
  }

  @Test
  void bleuRefusesMalformedInput() {
    assertThrows(IllegalArgumentException.class, () -> Bleu.CORPUS_DEFAULT.corpusScore(List.of(), List.of(List.of())));
    assertThrows(IllegalArgumentException.class,
        () -> Bleu.CORPUS_DEFAULT.corpusScore(List.of("a", "b"), List.of(List.of("a"))));
    assertThrows(IllegalArgumentException.class,
        () -> Bleu.CORPUS_DEFAULT.corpusScore(List.of("a"), List.of(Arrays.asList((String) null))));
  }

  @Test
  void rougeTokenizerDropsEverythingButAsciiLettersAndDigits() {
    assertEquals(List.of("caf", "na", "ve", "3", "14"), Rouge.DEFAULT.tokenize("Caf\u00e9 na\u00efve, 3.14!"));
    assertEquals(List.of("run", "run", "ran"), Rouge.STEMMED.tokenize("running runs ran"));
    assertEquals(RougeScore.ZERO, Rouge.DEFAULT.score("", "something").rougeL());
  }

  @Test
  void stemmerKeepsCharactersOutsideTheBmp() {
    assertEquals("\uD83D\uDE42happi", PorterStemmer.stem("\uD83D\uDE42happy"));
    assertEquals("hop", PorterStemmer.stem("HOPPING"));
  }

  @Test
  void classificationRefusesMismatchedOrEmptyInput() {
    assertThrows(IllegalArgumentException.class, () -> Classification.accuracy(new int[] {1}, new int[] {1, 2}));
    assertThrows(IllegalArgumentException.class, () -> Classification.accuracy(new int[0], new int[0]));
    assertThrows(IllegalArgumentException.class, () -> Average.parse("samples"));
  }

  @Test
  void binaryWithTheAbsentPositiveLabelScoresZeroAsSklearn() {
    Prf p = Classification.precisionRecallF1(List.of("neg", "neg"), List.of("neg", "neg"), Average.BINARY, "pos");
    assertEquals(new Prf(0, 0, 0), p);
  }

  @Test
  void distinctAndPerplexityRefuseUndefinedInput() {
    assertThrows(IllegalArgumentException.class, () -> Distinct.ofTexts(List.of("a"), 0));
    assertThrows(IllegalStateException.class, () -> new Perplexity().add(0.0, 0).value());
    assertThrows(IllegalArgumentException.class, () -> new Perplexity().add(1.0, -1));
    assertThrows(IllegalArgumentException.class, () -> new Perplexity().add(Double.NaN, 1));
    assertEquals(Math.E, Perplexity.of(new double[] {1, 3}, new long[] {1, 3}), 1e-12);
  }
}
