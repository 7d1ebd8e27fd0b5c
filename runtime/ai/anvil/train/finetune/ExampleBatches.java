package ai.anvil.train.finetune;

import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;
import java.util.Arrays;
import java.util.List;

/**
 * Batches of encoded examples, each row one example right-padded to the batch's longest (padding
 * targets ignored, so they cost nothing and, the mask being causal, change nothing before them).
 * Shuffled draws (seeded; the cursor is the draw count) for training, or the examples in order, round
 * and round, for a fixed validation set.
 */
final class ExampleBatches implements BatchSource {
  private final List<Examples.Encoded> examples;
  private final RowDraws draws;
  private final int ignore;

  ExampleBatches(List<Examples.Encoded> examples, int rows, boolean shuffle, long seed, int ignore) {
    if (examples.isEmpty()) throw new IllegalArgumentException("no examples");
    this.examples = examples;
    this.draws = new RowDraws(examples.size(), rows, shuffle, seed);
    this.ignore = ignore;
  }

  @Override
  public Batch next() {
    int[] indices = draws.next();
    int n = indices.length;
    Examples.Encoded[] picked = new Examples.Encoded[n];
    for (int r = 0; r < n; r++) picked[r] = examples.get(indices[r]);
    int cols = 1;
    for (Examples.Encoded e : picked) cols = Math.max(cols, e.length());
    int[] inputs = new int[n * cols], targets = new int[n * cols];
    Arrays.fill(targets, ignore);
    for (int r = 0; r < n; r++) picked[r].write(inputs, targets, r * cols, ignore);
    return new Batch(n, cols, inputs, targets);
  }

  /** Batches that cover every example once. */
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
