package ai.anvil.train.mlm;

import ai.anvil.data.masking.MaskedLm;
import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * An endless, reproducible stream of masked-LM batches: batch k takes rows chosen by SplitMix64(seed,
 * k * batch + r) (with replacement, as the causal sampler draws offsets), pads them on the right to the
 * longest row of the batch with [PAD] (key mask 0), and masks them with the generator of (seed, k). The
 * cursor is (seed, batches drawn), so resuming is exact.
 *
 * <pre>
 *   inputs   (rows, cols)  masked ids, [PAD] after each row's end
 *   keyMask  (rows, cols)  1 real, 0 padding
 *   targets  (rows, cols)  original id at chosen tokens, -100 elsewhere
 * </pre>
 */
public final class MaskedBatches implements BatchSource {
  private final List<int[]> rows;
  private final int batch;
  private final MaskedLm masking;
  private final long seed;
  private long position;

  public MaskedBatches(List<int[]> rows, int batch, MaskedLm masking, long seed) {
    if (rows.isEmpty()) throw new IllegalArgumentException("masked batches: no rows");
    if (batch < 1) throw new IllegalArgumentException("masked batches: batch must be >= 1, got " + batch);
    this.rows = rows;
    this.batch = batch;
    this.masking = masking;
    this.seed = seed;
  }

  @Override
  public Batch next() {
    int[][] chosen = new int[batch][];
    for (int r = 0; r < batch; r++) {
      chosen[r] = rows.get((int) Long.remainderUnsigned(mix(seed + (position * batch + r + 1) * 0x9E3779B97F4A7C15L), rows.size()));
    }
    Batch b = masked(chosen, masking, MaskedLm.randomFor(seed, position));
    position++;
    return b;
  }

  /** rows padded on the right to the longest with [PAD] (key mask 0), then masked with random. */
  static Batch masked(int[][] rows, MaskedLm masking, SplittableRandom random) {
    int cols = 1;
    for (int[] r : rows) cols = Math.max(cols, r.length);
    int[] ids = new int[rows.length * cols];
    int[] keyMask = new int[rows.length * cols];
    Arrays.fill(ids, masking.vocabulary().padId());
    for (int r = 0; r < rows.length; r++) {
      System.arraycopy(rows[r], 0, ids, r * cols, rows[r].length);
      Arrays.fill(keyMask, r * cols, r * cols + rows[r].length, 1);
    }
    MaskedLm.Masked m = masking.mask(ids, keyMask, random);
    return new Batch(rows.length, cols, m.inputs(), m.targets(), keyMask, null);
  }

  @Override
  public long[] cursor() {
    return new long[] {seed, position};
  }

  @Override
  public void restore(long[] cursor) {
    if (cursor.length != 2 || cursor[0] != seed) {
      throw new IllegalArgumentException("masked batches: cursor " + Arrays.toString(cursor) + " is not of a stream seeded "
          + seed);
    }
    if (cursor[1] < 0) throw new IllegalArgumentException("masked batches: negative position " + cursor[1]);
    position = cursor[1];
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
