package ai.anvil.data;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes a token shard (see {@link TokenShard} for the format). Ids go to {@code <file>.tmp}; {@link #close}
 * writes the count into the header, syncs, and renames the file into place, so a shard that exists is
 * complete. Ids are 2 bytes when the vocabulary has at most 65,535 tokens, else 4.
 */
public final class ShardWriter implements AutoCloseable {
    private final Path file;
    private final Path tmp;
    private final int vocabSize;
    private final int idBytes;
    private final OutputStream out;
    private final byte[] buf = new byte[1 << 16];
    private int fill;
    private long count;
    private boolean closed;

    public ShardWriter(Path file, int vocabSize) throws IOException {
        if (vocabSize <= 0) {
            throw new IllegalArgumentException("vocabSize must be positive, got " + vocabSize);
        }
        this.file = file;
        this.tmp = file.resolveSibling(file.getFileName() + ".tmp");
        this.vocabSize = vocabSize;
        this.idBytes = vocabSize <= TokenShard.MAX_UINT16_VOCAB ? 2 : 4;
        this.out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16);
        out.write(TokenShard.header(vocabSize, idBytes, 0));
    }

    /** Writes {@code ids} and returns a shard opened on the finished file. */
    public static TokenShard write(Path file, int vocabSize, int[] ids) throws IOException {
        try (ShardWriter w = new ShardWriter(file, vocabSize)) {
            w.write(ids, 0, ids.length);
        }
        return TokenShard.open(file);
    }

    public void write(int id) throws IOException {
        check(id, count);
        if (fill + idBytes > buf.length) {
            flushBuffer();
        }
        put(id);
        count++;
    }

    public void write(int[] ids) throws IOException {
        write(ids, 0, ids.length);
    }

    public void write(int[] ids, int off, int len) throws IOException {
        if (closed) {
            throw new IllegalStateException("shard writer for " + file + " is closed");
        }
        for (int k = off; k < off + len; k++) {
            check(ids[k], count + k - off);
        }
        for (int k = off; k < off + len; k++) {
            if (fill + idBytes > buf.length) {
                flushBuffer();
            }
            put(ids[k]);
        }
        count += len;
    }

    /** Ids written so far. */
    public long count() {
        return count;
    }

    public int idBytes() {
        return idBytes;
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        flushBuffer();
        out.close();
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(TokenShard.header(vocabSize, idBytes, count)), 0);
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private void check(int id, long position) {
        if (id < 0 || id >= vocabSize) {
            throw new IllegalArgumentException("token id " + id + " at position " + position + " is outside the"
                    + " vocabulary [0, " + vocabSize + ") of shard " + file);
        }
    }

    private void put(int id) {
        // little-endian, as TokenShard reads it
        buf[fill++] = (byte) id;
        buf[fill++] = (byte) (id >>> 8);
        if (idBytes == 4) {
            buf[fill++] = (byte) (id >>> 16);
            buf[fill++] = (byte) (id >>> 24);
        }
    }

    private void flushBuffer() throws IOException {
        out.write(buf, 0, fill);
        fill = 0;
    }
}
