package ai.anvil.data.masking;

import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.data.tokenizer.WordPieceTokenizer;
import java.util.Arrays;
import java.util.Map;

/**
 * The ids masked-LM pre-training needs around a tokenizer: [PAD], [MASK], [CLS], [SEP] and the set of
 * special ids that are never chosen for prediction nor drawn as random replacements.
 *
 * <ul>
 *   <li>WordPiece (BERT's tokenizer.json): its own [PAD], [MASK], [CLS], [SEP]; every special token of
 *       the file ([UNK] included) is special. vocabSize is the tokenizer's.</li>
 *   <li>Characters (tiny runs): the character ids [0, n), then [PAD] = n, [MASK] = n + 1, [CLS] = n + 2,
 *       [SEP] = n + 3, so vocabSize = n + 4. The rule is fixed, so a saved char tokenizer gives the same
 *       ids back without a file of its own.</li>
 * </ul>
 */
public record MlmVocabulary(int vocabSize, int padId, int maskId, int clsId, int sepId, int[] specialIds) {
  public MlmVocabulary {
    for (int id : new int[] {padId, maskId, clsId, sepId}) {
      if (id < 0 || id >= vocabSize) throw new IllegalArgumentException("MLM special id " + id + " outside [0, " + vocabSize + ")");
    }
    specialIds = Arrays.stream(specialIds).distinct().sorted().toArray();
    if (specialIds.length >= vocabSize) throw new IllegalArgumentException("MLM vocabulary has no ordinary tokens");
  }

  /** The ids of a tokenizer: WordPiece's own specials, or four appended after a character vocabulary. */
  public static MlmVocabulary of(Tokenizer tokenizer) {
    if (tokenizer instanceof CharTokenizer c) return forCharacters(c.vocabSize());
    if (tokenizer instanceof WordPieceTokenizer w) {
      Map<String, Integer> specials = w.specialTokens();
      int[] ids = specials.values().stream().mapToInt(Integer::intValue).toArray();
      return new MlmVocabulary(w.vocabSize(), required(specials, "[PAD]"), required(specials, "[MASK]"),
          required(specials, "[CLS]"), required(specials, "[SEP]"), ids);
    }
    throw new IllegalArgumentException("masked LM needs a WordPiece tokenizer.json (with [PAD], [MASK], [CLS], [SEP]) or "
        + "the char tokenizer; got " + tokenizer.getClass().getSimpleName());
  }

  /** n character ids then [PAD], [MASK], [CLS], [SEP]. */
  public static MlmVocabulary forCharacters(int n) {
    if (n < 1) throw new IllegalArgumentException("a character vocabulary needs at least one character, got " + n);
    return new MlmVocabulary(n + 4, n, n + 1, n + 2, n + 3, new int[] {n, n + 1, n + 2, n + 3});
  }

  public boolean isSpecial(int id) {
    return Arrays.binarySearch(specialIds, id) >= 0;
  }

  /** Ordinary ids, the ones random replacements are drawn from, ascending. */
  public int[] ordinaryIds() {
    int[] out = new int[vocabSize - specialIds.length];
    int n = 0;
    for (int id = 0; id < vocabSize; id++) if (!isSpecial(id)) out[n++] = id;
    return out;
  }

  /**
   * One training row from a tokenizer's ids: [CLS] ids [SEP], cut to maxLength (the text's end is cut,
   * the specials stay). WordPiece ids are taken without their own special tokens.
   */
  public int[] row(Tokenizer tokenizer, String text, int maxLength) {
    if (maxLength < 3) throw new IllegalArgumentException("a masked-LM row needs maxLength >= 3, got " + maxLength);
    int[] ids = tokenizer instanceof WordPieceTokenizer w ? w.encode(text, false) : tokenizer.encode(text);
    int n = Math.min(ids.length, maxLength - 2);
    int[] row = new int[n + 2];
    row[0] = clsId;
    System.arraycopy(ids, 0, row, 1, n);
    row[n + 1] = sepId;
    return row;
  }

  private static int required(Map<String, Integer> specials, String token) {
    Integer id = specials.get(token);
    if (id == null) throw new IllegalArgumentException("masked LM: the WordPiece tokenizer has no " + token + " token");
    return id;
  }
}
