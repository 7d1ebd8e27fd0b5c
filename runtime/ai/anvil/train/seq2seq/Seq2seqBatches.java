package ai.anvil.train.seq2seq;

import ai.anvil.models.t5.T5;
import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Batches of (source, target) id sequences for teacher-forced seq2seq training, rows drawn at random
 * with replacement. Each batch is as wide as its longest source and its longest target:
 *
 * <pre>
 *   inputs         (rows, S)  source ids (ending in eos), right-padded with pad
 *   keyMask        (rows, S)  1 for a source token, 0 for padding
 *   decoderInputs  (rows, T)  start, then the target without its last token; pad behind the end
 *   targets        (rows, T)  target ids (ending in eos), then IGNORE_INDEX
 * </pre>
 *
 * Batch k is a pure function of (seed, k); the cursor is {seed, batches drawn}.
 */
public final class Seq2seqBatches implements BatchSource {
  private final List<int[]> sources;
  private final List<int[]> targets;
  private final int rows;
  private final int padId;
  private final int startId;
  private long seed;
  private long drawn;

  public Seq2seqBatches(List<int[]> sources, List<int[]> targets, int rows, int padId, int startId, long seed) {
    if (sources.isEmpty() || sources.size() != targets.size()) {
      throw new IllegalArgumentException("seq2seq batches need equal, non-empty source and target lists, got "
          + sources.size() + " and " + targets.size());
    }
    if (rows < 1) throw new IllegalArgumentException("seq2seq batches: rows must be >= 1, got " + rows);
    for (int i = 0; i < sources.size(); i++) {
      if (sources.get(i).length == 0 || targets.get(i).length == 0) {
        throw new IllegalArgumentException("seq2seq batches: example " + i + " has an empty source or target");
      }
    }
    this.sources = sources;
    this.targets = targets;
    this.rows = rows;
    this.padId = padId;
    this.startId = startId;
    this.seed = seed;
  }

  @Override
  public Batch next() {
    SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + drawn++);
    int[] pick = new int[rows];
    int s = 0, t = 0;
    for (int r = 0; r < rows; r++) {
      pick[r] = rng.nextInt(sources.size());
      s = Math.max(s, sources.get(pick[r]).length);
      t = Math.max(t, targets.get(pick[r]).length);
    }
    int[] inputs = new int[rows * s], mask = new int[rows * s], dec = new int[rows * t], tgt = new int[rows * t];
    java.util.Arrays.fill(inputs, padId);
    java.util.Arrays.fill(dec, padId);
    java.util.Arrays.fill(tgt, T5.IGNORE_INDEX);
    for (int r = 0; r < rows; r++) {
      int[] src = sources.get(pick[r]), out = targets.get(pick[r]);
      System.arraycopy(src, 0, inputs, r * s, src.length);
      java.util.Arrays.fill(mask, r * s, r * s + src.length, 1);
      System.arraycopy(out, 0, tgt, r * t, out.length);
      dec[r * t] = startId;
      System.arraycopy(out, 0, dec, r * t + 1, Math.min(out.length, t - 1));
    }
    return new Batch(rows, s, inputs, tgt, mask, dec);
  }

  @Override
  public long[] cursor() {
    return new long[] {seed, drawn};
  }

  @Override
  public void restore(long[] cursor) {
    if (cursor.length != 2) throw new IllegalArgumentException("a seq2seq-batch cursor has 2 words, got " + cursor.length);
    seed = cursor[0];
    drawn = cursor[1];
  }
}
