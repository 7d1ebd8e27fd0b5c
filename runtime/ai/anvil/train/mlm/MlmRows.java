package ai.anvil.train.mlm;

import ai.anvil.data.masking.MlmVocabulary;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.data.tokenizer.WordPieceTokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * A corpus as masked-LM rows: one row per non-blank line (a KJV verse, a paragraph), each
 * {@code [CLS] ids [SEP]}; a line longer than the block is cut into consecutive pieces of blockSize - 2
 * tokens, each a row of its own, so no text is dropped. The last tenth of the rows (at least one) is the
 * validation split, as the causal run holds out the last tenth of its tokens.
 */
public final class MlmRows {
  private final List<int[]> train;
  private final List<int[]> val;
  private final long realTokens;

  private MlmRows(List<int[]> train, List<int[]> val) {
    this.train = train;
    this.val = val;
    long n = 0;
    for (int[] r : train) n += r.length;
    this.realTokens = n;
  }

  /** The rows of text under tokenizer and vocab, each at most blockSize ids, split 90/10. */
  public static MlmRows of(String text, Tokenizer tokenizer, MlmVocabulary vocab, int blockSize) {
    List<int[]> rows = rows(text, tokenizer, vocab, blockSize);
    if (rows.size() < 2) throw new IllegalArgumentException("masked LM needs at least 2 non-blank lines of text, got " + rows.size());
    int valRows = Math.max(1, rows.size() / 10);
    return new MlmRows(List.copyOf(rows.subList(0, rows.size() - valRows)), List.copyOf(rows.subList(rows.size() - valRows, rows.size())));
  }

  /** Every row of text, in order: [CLS] ids [SEP] per line, long lines in pieces of blockSize - 2 ids. */
  public static List<int[]> rows(String text, Tokenizer tokenizer, MlmVocabulary vocab, int blockSize) {
    if (blockSize < 3) throw new IllegalArgumentException("masked LM needs block_size >= 3, got " + blockSize);
    List<int[]> rows = new ArrayList<>();
    int piece = blockSize - 2;
    for (String line : text.split("\n")) {
      if (line.isBlank()) continue;
      int[] ids = tokenizer instanceof WordPieceTokenizer w ? w.encode(line, false) : tokenizer.encode(line);
      for (int from = 0; from < ids.length; from += piece) {
        int n = Math.min(piece, ids.length - from);
        int[] row = new int[n + 2];
        row[0] = vocab.clsId();
        System.arraycopy(ids, from, row, 1, n);
        row[n + 1] = vocab.sepId();
        rows.add(row);
      }
    }
    return rows;
  }

  public List<int[]> train() {
    return train;
  }

  public List<int[]> val() {
    return val;
  }

  /** Mean ids per training row, specials included: the real (unpadded) share of a batch x block. */
  public double meanTrainRowLength() {
    return (double) realTokens / train.size();
  }
}
