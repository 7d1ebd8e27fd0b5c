package ai.anvil.train.finetune;

import java.util.SplittableRandom;

/**
 * Which rows of a fine-tuning set each batch takes. Training: shuffled seeded draws, row r of draw d
 * being an index drawn by a SplittableRandom seeded with seed ^ (k * golden ratio), k = d * size + r, so
 * the cursor {seed, draws} resumes the sequence exactly. Validation: the rows in order, round and round,
 * the last batch of each pass short, so a pass covers every row once.
 */
final class RowDraws {
  private final int total;
  private final int size;
  private final boolean shuffle;
  private long seed;
  private long draws;

  RowDraws(int total, int size, boolean shuffle, long seed) {
    this.total = total;
    this.size = size;
    this.shuffle = shuffle;
    this.seed = seed;
  }

  /** The row indices of the next batch (size of them, fewer at the end of an in-order pass). */
  int[] next() {
    int n = shuffle ? size : (int) Math.min(size, total - (draws * size) % total);
    int[] picked = new int[n];
    for (int r = 0; r < n; r++) {
      long k = draws * size + r;
      picked[r] = shuffle ? new SplittableRandom(seed ^ (k * 0x9E3779B97F4A7C15L)).nextInt(total) : (int) (k % total);
    }
    draws++;
    return picked;
  }

  /** Batches that cover every row once. */
  int batchesPerPass() {
    return (total + size - 1) / size;
  }

  long[] cursor() {
    return new long[] {seed, draws};
  }

  void restore(long[] cursor) {
    seed = cursor[0];
    draws = cursor[1];
  }
}
