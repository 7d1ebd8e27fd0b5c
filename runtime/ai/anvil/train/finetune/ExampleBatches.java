package ai.anvil.train.finetune;

import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Batches of encoded examples, each row one example right-padded to the batch's longest (padding
 * targets ignored, so they cost nothing and, the mask being causal, change nothing before them).
 * Shuffled draws (seeded; the cursor is the draw count) for training, or the examples in order, round
 * and round, for a fixed validation set.
 */
final class ExampleBatches implements BatchSource {
  private final List<Examples.Encoded> examples;
  private final int rows;
  private final boolean shuffle;
  private final int ignore;
  private long seed;
  private long draws;

  ExampleBatches(List<Examples.Encoded> examples, int rows, boolean shuffle, long seed, int ignore) {
    if (examples.isEmpty()) throw new IllegalArgumentException("no examples");
    this.examples = examples;
    this.rows = rows;
    this.shuffle = shuffle;
    this.seed = seed;
    this.ignore = ignore;
  }

  @Override
  public Batch next() {
    int n = shuffle ? rows : (int) Math.min(rows, examples.size() - (draws * rows) % examples.size());
    Examples.Encoded[] picked = new Examples.Encoded[n];
    for (int r = 0; r < n; r++) {
      long k = draws * rows + r;
      picked[r] = examples.get(shuffle ? new SplittableRandom(seed ^ (k * 0x9E3779B97F4A7C15L)).nextInt(examples.size())
          : (int) (k % examples.size()));
    }
    draws++;
    int cols = 1;
    for (Examples.Encoded e : picked) cols = Math.max(cols, e.length());
    int[] inputs = new int[n * cols], targets = new int[n * cols];
    Arrays.fill(targets, ignore);
    for (int r = 0; r < n; r++) picked[r].write(inputs, targets, r * cols, ignore);
    return new Batch(n, cols, inputs, targets);
  }

  /** Batches that cover every example once. */
  int batchesPerPass() {
    return (examples.size() + rows - 1) / rows;
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
