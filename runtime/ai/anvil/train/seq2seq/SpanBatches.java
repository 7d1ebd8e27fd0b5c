package ai.anvil.train.seq2seq;

import ai.anvil.data.TokenDataset;
import ai.anvil.data.masking.SpanCorruption;
import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;
import java.util.SplittableRandom;

/**
 * Span-corruption batches from a token split: each row is a random window of rawLength tokens, corrupted
 * by {@link SpanCorruption}; every row of a given rawLength has the same input and target lengths (the
 * noise and span counts depend only on the length), so batches need no padding and carry no key mask.
 *
 * <pre>
 *   inputs         (rows, spans.inputLength(rawLength))   non-noise tokens, sentinels, eos
 *   decoderInputs  (rows, spans.targetLength(rawLength))  pad (start), then targets[:-1]
 *   targets        (rows, spans.targetLength(rawLength))  sentinel, span, ..., eos
 * </pre>
 *
 * Batch k is a pure function of (seed, k): the cursor is {seed, batches drawn}, so a resumed run sees the
 * same batches.
 */
public final class SpanBatches implements BatchSource {
  private final TokenDataset.Span split;
  private final SpanCorruption spans;
  private final int rows;
  private final int rawLength;
  private long seed;
  private long drawn;

  public SpanBatches(TokenDataset.Span split, SpanCorruption spans, int rows, int rawLength, long seed) {
    if (rows < 1) throw new IllegalArgumentException("span batches: rows must be >= 1, got " + rows);
    if (split.size() < rawLength + 1L) {
      throw new IllegalArgumentException("span batches: the " + split.name() + " split has " + split.size()
          + " tokens, fewer than one row of " + rawLength);
    }
    this.split = split;
    this.spans = spans;
    this.rows = rows;
    this.rawLength = rawLength;
    this.seed = seed;
  }

  public int inputCols() {
    return spans.inputLength(rawLength);
  }

  public int targetCols() {
    return spans.targetLength(rawLength);
  }

  @Override
  public Batch next() {
    SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + drawn++);
    int cols = inputCols(), tcols = targetCols();
    int[] inputs = new int[rows * cols];
    int[] targets = new int[rows * tcols];
    int[] decoderInputs = new int[rows * tcols];
    int[] window = new int[rawLength];
    for (int r = 0; r < rows; r++) {
      split.read(rng.nextLong(split.size() - rawLength + 1), window, 0, rawLength);
      SpanCorruption.Example ex = spans.corrupt(window, rng);
      System.arraycopy(ex.inputs(), 0, inputs, r * cols, cols);
      System.arraycopy(ex.targets(), 0, targets, r * tcols, tcols);
      System.arraycopy(Seq2seqObjective.shiftRight(ex.targets(), spans.padId()), 0, decoderInputs, r * tcols, tcols);
    }
    return new Batch(rows, cols, inputs, targets, null, decoderInputs);
  }

  @Override
  public long[] cursor() {
    return new long[] {seed, drawn};
  }

  @Override
  public void restore(long[] cursor) {
    if (cursor.length != 2) throw new IllegalArgumentException("a span-batch cursor has 2 words, got " + cursor.length);
    seed = cursor[0];
    drawn = cursor[1];
  }
}
