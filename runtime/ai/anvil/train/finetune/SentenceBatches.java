package ai.anvil.train.finetune;

import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

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
  private final int size;
  private final boolean shuffle;
  private final int padId;
  private final int ignore;
  private long seed;
  private long draws;

  SentenceBatches(List<Row> rows, int size, boolean shuffle, long seed, int padId, int ignore) {
    if (rows.isEmpty()) throw new IllegalArgumentException("no sentences");
    this.rows = rows;
    this.size = size;
    this.shuffle = shuffle;
    this.seed = seed;
    this.padId = padId;
    this.ignore = ignore;
  }

  @Override
  public Batch next() {
    int n = shuffle ? size : (int) Math.min(size, rows.size() - (draws * size) % rows.size());
    Row[] picked = new Row[n];
    for (int r = 0; r < n; r++) {
      long k = draws * size + r;
      picked[r] = rows.get(shuffle ? new SplittableRandom(seed ^ (k * 0x9E3779B97F4A7C15L)).nextInt(rows.size())
          : (int) (k % rows.size()));
    }
    draws++;
    return of(picked, padId, ignore);
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
    return (rows.size() + size - 1) / size;
  }

  @Override
  public long[] cursor() {
    return new long[] {seed, draws};
  }

  @Override
  public void restore(long[] cursor) {
    seed = cursor[0];
    draws = cursor[1];
  }
}
