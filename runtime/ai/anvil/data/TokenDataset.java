package ai.anvil.data;

import ai.anvil.data.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A tokenized corpus in one shard, split by position: the first 90% of the tokens train, the last 10%
 * validate (so validation text is a contiguous stretch the model never trains on).
 */
public final class TokenDataset implements AutoCloseable {
    public static final double DEFAULT_TRAIN_FRACTION = 0.9;
    private static final Logger log = LoggerFactory.getLogger(TokenDataset.class);

    private final TokenShard shard;
    private final Span train;
    private final Span val;

    /** A contiguous stretch {@code [start, start + size)} of a shard. */
    public static final class Span {
        private final TokenShard shard;
        private final long start;
        private final long size;
        private final String name;

        Span(TokenShard shard, long start, long size, String name) {
            this.shard = shard;
            this.start = start;
            this.size = size;
            this.name = name;
        }

        public long size() {
            return size;
        }

        public int vocabSize() {
            return shard.vocabSize();
        }

        /** "train" or "val", for messages. */
        public String name() {
            return name;
        }

        /** Copies ids {@code [position, position + len)} of this span into {@code dst[off, off + len)}. */
        public void read(long position, int[] dst, int off, int len) {
            if (position < 0 || len < 0 || position > size - len) {
                throw new IndexOutOfBoundsException("ids [" + position + ", " + (position + len) + ") are outside the "
                        + name + " split of " + size + " ids");
            }
            shard.read(start + position, dst, off, len);
        }

        @Override
        public String toString() {
            return name + " [" + start + ", " + (start + size) + ") of " + shard.path();
        }
    }

    public TokenDataset(TokenShard shard) {
        this(shard, DEFAULT_TRAIN_FRACTION);
    }

    public TokenDataset(TokenShard shard, double trainFraction) {
        if (!(trainFraction > 0 && trainFraction < 1)) {
            throw new IllegalArgumentException("trainFraction must be in (0, 1), got " + trainFraction);
        }
        this.shard = shard;
        long n = shard.size();
        long cut = (long) Math.floor(n * trainFraction);
        this.train = new Span(shard, 0, cut, "train");
        this.val = new Span(shard, cut, n - cut, "val");
    }

    /** Opens a shard written earlier and splits it 90/10. */
    public static TokenDataset open(Path shardFile) throws IOException {
        return new TokenDataset(TokenShard.open(shardFile));
    }

    /** Tokenizes {@code text} whole, writes {@code shardFile}, and splits it 90/10. */
    public static TokenDataset build(String text, Tokenizer tokenizer, Path shardFile) throws IOException {
        long t0 = System.nanoTime();
        int[] ids = tokenizer.encode(text);
        TokenShard shard = ShardWriter.write(shardFile, tokenizer.vocabSize(), ids);
        log.info("tokenized {} chars into {} tokens ({}) in {} ms", text.length(), ids.length, shardFile,
                (System.nanoTime() - t0) / 1_000_000);
        return new TokenDataset(shard);
    }

    public Span train() {
        return train;
    }

    public Span val() {
        return val;
    }

    public TokenShard shard() {
        return shard;
    }

    @Override
    public void close() {
        shard.close();
    }
}
