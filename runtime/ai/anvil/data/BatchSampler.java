package ai.anvil.data;

/**
 * Random training batches from a {@link TokenDataset.Span}: each row is {@code block + 1} consecutive tokens
 * at a random offset, {@code x} its first {@code block}, {@code y} its last {@code block} (x shifted by one).
 * Arrays are row-major {@code (batch, block)}.
 *
 * <p>Counter-based, so resuming is exact and cheap: row r of batch b takes its offset from
 * SplitMix64(seed, b * batch + r), so the state is just {@link #position()}, the number of batches drawn.
 * The same seed gives the same batches on every machine and JVM. For a fixed evaluation set, use a sampler
 * with its own seed and {@link #seek}(0) before each evaluation. Not thread-safe: one sampler per thread.
 */
public final class BatchSampler {
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private final TokenDataset.Span span;
    private final int batch;
    private final int block;
    private final long seed;
    private final long starts;
    private final int[] row;
    private long position;

    /** Where a sampler is: its seed and the number of batches it has drawn. */
    public record State(long seed, long position) {}

    /** One batch: {@code x} and {@code y} of length {@code batch * block}. */
    public record Batch(int[] x, int[] y, int batch, int block) {}

    public BatchSampler(TokenDataset.Span span, int batch, int block, long seed) {
        if (batch <= 0 || block <= 0) {
            throw new IllegalArgumentException("batch and block must be positive, got " + batch + " and " + block);
        }
        if (span.size() < block + 1L) {
            throw new IllegalArgumentException("the " + span.name() + " split has " + span.size() + " tokens; a block of "
                    + block + " needs at least " + (block + 1));
        }
        this.span = span;
        this.batch = batch;
        this.block = block;
        this.seed = seed;
        this.starts = span.size() - block; // offsets 0 .. size - block - 1 leave room for y's last token
        this.row = new int[block + 1];
    }

    /** The next batch in new arrays. */
    public Batch next() {
        int[] x = new int[batch * block];
        int[] y = new int[batch * block];
        next(x, y);
        return new Batch(x, y, batch, block);
    }

    /** Fills {@code x} and {@code y} (each at least {@code batch * block} long) with the next batch. */
    public void next(int[] x, int[] y) {
        if (x.length < batch * block || y.length < batch * block) {
            throw new IllegalArgumentException("x and y need " + batch * block + " ids, got " + x.length + " and "
                    + y.length);
        }
        for (int r = 0; r < batch; r++) {
            span.read(offset(position * batch + r), row, 0, block + 1);
            System.arraycopy(row, 0, x, r * block, block);
            System.arraycopy(row, 1, y, r * block, block);
        }
        position++;
    }

    /** The start of row {@code index} (counting rows over all batches). */
    long offset(long index) {
        return Long.remainderUnsigned(mix(seed + (index + 1) * GOLDEN), starts);
    }

    /** Batches drawn so far. */
    public long position() {
        return position;
    }

    /** Makes the next batch the one numbered {@code position} (0 = the first). */
    public void seek(long position) {
        if (position < 0) {
            throw new IllegalArgumentException("position must be >= 0, got " + position);
        }
        this.position = position;
    }

    public State state() {
        return new State(seed, position);
    }

    /** Continues from a saved state; the seed must be this sampler's. */
    public void restore(State s) {
        if (s.seed() != seed) {
            throw new IllegalArgumentException("state of a sampler with seed " + s.seed() + " given to one with seed "
                    + seed);
        }
        seek(s.position());
    }

    public int batch() {
        return batch;
    }

    public int block() {
        return block;
    }

    /** SplitMix64's output function. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
