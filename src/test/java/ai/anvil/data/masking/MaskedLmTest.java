package ai.anvil.data.masking;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.data.tokenizer.Tokenizers;
import ai.anvil.data.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** BERT's 15% / 80-10-10 masking: statistics within sampling error, specials and padding never chosen. */
class MaskedLmTest {
  /** 96 characters + 4 specials. */
  static final MlmVocabulary CHARS = MlmVocabulary.forCharacters(96);

  @Test
  void chosenShareAndTheSplitAreWithinSamplingError() {
    int n = 400_000;
    SplittableRandom r = new SplittableRandom(1);
    int[] ids = new int[n];
    int[] keyMask = new int[n];
    int real = 0;
    for (int i = 0; i < n; i++) {
      // Every 10th position padding, every 7th a special ([CLS]/[SEP]), the rest ordinary characters.
      keyMask[i] = i % 10 == 9 ? 0 : 1;
      ids[i] = keyMask[i] == 0 ? CHARS.padId() : i % 7 == 0 ? CHARS.clsId() + (i / 7) % 2 : r.nextInt(96);
      if (keyMask[i] == 1 && !CHARS.isSpecial(ids[i])) real++;
    }
    MaskedLm.Masked m = new MaskedLm(CHARS, 0.15).mask(ids, keyMask, MaskedLm.randomFor(42, 0));
    int chosen = 0, masked = 0, random = 0, kept = 0;
    for (int i = 0; i < n; i++) {
      if (m.targets()[i] == MaskedLm.IGNORE_INDEX) {
        assertEquals(ids[i], m.inputs()[i], "an unchosen token is changed at " + i);
        continue;
      }
      assertEquals(ids[i], m.targets()[i], "the target is the original id");
      assertTrue(keyMask[i] == 1, "padding chosen at " + i);
      assertFalse(CHARS.isSpecial(ids[i]), "special chosen at " + i);
      chosen++;
      int in = m.inputs()[i];
      if (in == CHARS.maskId()) masked++;
      else if (in == ids[i]) kept++;
      else random++;
      assertFalse(in != CHARS.maskId() && CHARS.isSpecial(in), "a special drawn as the random replacement");
    }
    // Binomial bounds at 5 standard deviations (a false failure about once in 3.5 million runs).
    within("chosen share", chosen, real, 0.15);
    within("[MASK] share of chosen", masked, chosen, 0.8);
    // The random token equals the original 1/96 of the time and then reads as kept.
    within("random share of chosen", random, chosen, 0.1 * 95 / 96);
    within("kept share of chosen", kept, chosen, 0.1 + 0.1 / 96);
  }

  private static void within(String what, int count, int trials, double p) {
    double sd = Math.sqrt(trials * p * (1 - p));
    assertEquals(trials * p, count, 5 * sd, what + ": " + count + " of " + trials);
  }

  @Test
  void sameSeedSameMasksAndOtherSeedsDiffer() {
    int[] ids = new int[500];
    for (int i = 0; i < ids.length; i++) ids[i] = i % 96;
    MaskedLm m = new MaskedLm(CHARS, 0.15);
    MaskedLm.Masked a = m.mask(ids, null, MaskedLm.randomFor(7, 3));
    MaskedLm.Masked b = m.mask(ids, null, MaskedLm.randomFor(7, 3));
    MaskedLm.Masked c = m.mask(ids, null, MaskedLm.randomFor(7, 4));
    assertArrayEquals(a.inputs(), b.inputs());
    assertArrayEquals(a.targets(), b.targets());
    assertFalse(java.util.Arrays.equals(a.targets(), c.targets()));
  }

  @Test
  void badInputsAreRefused() {
    MaskedLm m = new MaskedLm(CHARS, 0.15);
    IllegalArgumentException id = assertThrows(IllegalArgumentException.class,
        () -> m.mask(new int[] {1, 100}, null, new SplittableRandom(1)));
    assertTrue(id.getMessage().contains("id 100"), id.getMessage());
    assertThrows(IllegalArgumentException.class, () -> m.mask(new int[] {1, 2}, new int[] {1}, new SplittableRandom(1)));
    assertThrows(IllegalArgumentException.class, () -> new MaskedLm(CHARS, 0));
    assertThrows(IllegalArgumentException.class, () -> new MaskedLm(CHARS, 1));
  }

  @Test
  void vocabulariesOfBothTokenizers() throws IOException {
    CharTokenizer chars = CharTokenizer.of("abc ");
    MlmVocabulary v = MlmVocabulary.of(chars);
    assertEquals(8, v.vocabSize());
    assertEquals(4, v.padId());
    assertEquals(5, v.maskId());
    assertArrayEquals(new int[] {6, chars.encode("a b")[0], chars.encode("a b")[1], chars.encode("a b")[2], 7},
        v.row(chars, "a b", 16));
    assertArrayEquals(new int[] {6, chars.encode("a")[0], 7}, v.row(chars, "aaaa", 3));
    WordPieceTokenizer wp = (WordPieceTokenizer) Tokenizers.load(Path.of("src/test/resources/tokenizers/bert-uncased/tokenizer.json"));
    MlmVocabulary w = MlmVocabulary.of(wp);
    assertEquals(30522, w.vocabSize());
    assertEquals(0, w.padId());
    assertEquals(103, w.maskId());
    assertEquals(101, w.clsId());
    assertEquals(102, w.sepId());
    assertTrue(w.isSpecial(100));                      // [UNK]
    int[] row = w.row(wp, "In the beginning", 16);
    assertEquals(101, row[0]);
    assertEquals(102, row[row.length - 1]);
    assertEquals(wp.encode("In the beginning").length, row.length);
  }
}
