package ai.anvil.train.finetune;

import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;
import java.util.Arrays;
import java.util.List;

/**
 * Batches of tokenized sentences for an encoder classifier: each row one sentence right-padded with
 * padId to the batch's longest, its key mask 1 on real tokens, and its label index in target column 0
 * (the other columns ignored). Shuffled seeded draws for training (the cursor is the draw count), or
 * the sentences in order, round and round, for a fixed validation set.
 */
final class SentenceBatches implements BatchSource {
  /** One sentence: token ids (with [CLS] and [SEP]) and its label's index. */
  record Row(int[] ids, int label) {}

  private final List<Row> rows;
  private final RowDraws draws;
  private final int padId;
  private final int ignore;

  SentenceBatches(List<Row> rows, int size, boolean shuffle, long seed, int padId, int ignore) {
    if (rows.isEmpty()) throw new IllegalArgumentException("no sentences");
    this.rows = rows;
    this.draws = new RowDraws(rows.size(), size, shuffle, seed);
    this.padId = padId;
    this.ignore = ignore;
  }

  @Override
  public Batch next() {
    int[] picked = draws.next();
    Row[] batch = new Row[picked.length];
    for (int r = 0; r < picked.length; r++) batch[r] = rows.get(picked[r]);
    return of(batch, padId, ignore);
  }

  /** The given rows as one batch. */
  static Batch of(Row[] picked, int padId, int ignore) {
    int n = picked.length, cols = 1;
    for (Row row : picked) cols = Math.max(cols, row.ids().length);
    int[] inputs = new int[n * cols], mask = new int[n * cols], targets = new int[n * cols];
    Arrays.fill(inputs, padId);
    Arrays.fill(targets, ignore);
    for (int r = 0; r < n; r++) {
      int[] ids = picked[r].ids();
      System.arraycopy(ids, 0, inputs, r * cols, ids.length);
      Arrays.fill(mask, r * cols, r * cols + ids.length, 1);
      targets[r * cols] = picked[r].label();
    }
    return new Batch(n, cols, inputs, targets, mask, null);
  }

  /** Batches that cover every sentence once. */
  int batchesPerPass() {
    return draws.batchesPerPass();
  }

  @Override
  public long[] cursor() {
    return draws.cursor();
  }

  @Override
  public void restore(long[] cursor) {
    draws.restore(cursor);
  }
}
