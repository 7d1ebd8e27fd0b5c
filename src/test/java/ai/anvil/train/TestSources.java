package ai.anvil.train;

import java.util.SplittableRandom;

/** Batch sources for trainer tests. */
final class TestSources {
  private TestSources() {}

  /** A token stream with structure: each token is mostly (prev * 3 + 1) mod vocab, sometimes random. */
  static int[] corpus(int n, int vocab, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] out = new int[n];
    for (int i = 1; i < n; i++) out[i] = r.nextInt(10) < 8 ? (out[i - 1] * 3 + 1) % vocab : r.nextInt(vocab);
    return out;
  }

  /** Random windows of a token array, reproducible from (seed, draws). */
  static final class Windows implements BatchSource {
    private final int[] tokens;
    private final int rows, cols;
    private final long seed;
    private SplittableRandom random;
    private long draws;

    Windows(int[] tokens, int rows, int cols, long seed) {
      this.tokens = tokens;
      this.rows = rows;
      this.cols = cols;
      this.seed = seed;
      this.random = new SplittableRandom(seed);
    }

    @Override
    public Batch next() {
      int[] in = new int[rows * cols], tg = new int[rows * cols];
      for (int r = 0; r < rows; r++) {
        int start = random.nextInt(tokens.length - cols - 1);
        System.arraycopy(tokens, start, in, r * cols, cols);
        System.arraycopy(tokens, start + 1, tg, r * cols, cols);
        draws++;
      }
      return new Batch(rows, cols, in, tg);
    }

    @Override
    public long[] cursor() {
      return new long[] {seed, draws};
    }

    @Override
    public void restore(long[] cursor) {
      random = new SplittableRandom(cursor[0]);
      draws = 0;
      for (long i = 0; i < cursor[1]; i++) random.nextInt(tokens.length - cols - 1);
      draws = cursor[1];
    }
  }
}
