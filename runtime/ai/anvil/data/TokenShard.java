package ai.anvil.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * A file of token ids, memory-mapped read-only. Format, little-endian:
 * <pre>
 *   offset size
 *      0    8   magic "ANVILTOK"
 *      8    4   format version, 1
 *     12    4   bytes per id: 2 (uint16, vocabularies up to 65,535) or 4 (uint32)
 *     16    4   vocabulary size
 *     20    4   zero
 *     24    8   number of ids
 *     32   32   zero
 *     64        the ids
 * </pre>
 * {@link #open} checks the header and that the file holds exactly the ids it announces; reads check every id
 * against the vocabulary. Errors name the file. Thread-safe for reading.
 */
public final class TokenShard implements AutoCloseable {
    public static final int HEADER_BYTES = 64;
    public static final int VERSION = 1;
    /** Vocabularies up to this size are stored with 2-byte ids. */
    public static final int MAX_UINT16_VOCAB = 65_535;
    static final byte[] MAGIC = "ANVILTOK".getBytes(StandardCharsets.US_ASCII);
    /** Bytes per mapping; files larger than this are mapped in several pieces. */
    static final long DEFAULT_CHUNK = 1L << 30;

    private final Path path;
    private final int vocabSize;
    private final int idBytes;
    private final long count;
    private final long idsPerChunk;
    private volatile MappedByteBuffer[] chunks;

    private TokenShard(Path path, int vocabSize, int idBytes, long count, long idsPerChunk, MappedByteBuffer[] chunks) {
        this.path = path;
        this.vocabSize = vocabSize;
        this.idBytes = idBytes;
        this.count = count;
        this.idsPerChunk = idsPerChunk;
        this.chunks = chunks;
    }

    /**
     * Opens and maps a shard.
     *
     * @throws IOException naming the file when it is not a shard, has an unsupported version or id width,
     *                     or is shorter or longer than its header says
     */
    public static TokenShard open(Path path) throws IOException {
        return open(path, DEFAULT_CHUNK);
    }

    static TokenShard open(Path path, long chunkBytes) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < HEADER_BYTES) {
                throw new IOException(path + ": truncated token shard: " + size + " bytes, shorter than the "
                        + HEADER_BYTES + "-byte header");
            }
            ByteBuffer h = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            while (h.hasRemaining() && ch.read(h, h.position()) > 0) {
                // read the whole header
            }
            h.flip();
            byte[] magic = new byte[MAGIC.length];
            h.get(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new IOException(path + ": not an Anvil token shard (magic " + printable(magic) + ", expected ANVILTOK)");
            }
            int version = h.getInt(8);
            int idBytes = h.getInt(12);
            int vocab = h.getInt(16);
            long count = h.getLong(24);
            if (version != VERSION) {
                throw new IOException(path + ": token shard version " + version + " is not supported (this reader"
                        + " knows version " + VERSION + ")");
            }
            if (idBytes != 2 && idBytes != 4) {
                throw new IOException(path + ": bad token shard header: " + idBytes + " bytes per id (2 or 4)");
            }
            if (vocab <= 0 || (idBytes == 2 && vocab > MAX_UINT16_VOCAB)) {
                throw new IOException(path + ": bad token shard header: vocabulary " + vocab + " with " + idBytes
                        + "-byte ids");
            }
            if (count < 0 || count > (Long.MAX_VALUE - HEADER_BYTES) / idBytes) {
                throw new IOException(path + ": bad token shard header: " + count + " ids");
            }
            long expected = HEADER_BYTES + count * idBytes;
            if (size != expected) {
                throw new IOException(path + ": " + (size < expected ? "truncated" : "oversized") + " token shard:"
                        + " the header announces " + count + " ids (" + expected + " bytes) but the file has " + size
                        + " bytes");
            }
            long idsPerChunk = Math.max(1, chunkBytes / idBytes);
            int n = (int) ((count + idsPerChunk - 1) / idsPerChunk);
            MappedByteBuffer[] chunks = new MappedByteBuffer[n];
            for (int k = 0; k < n; k++) {
                long first = k * idsPerChunk;
                long ids = Math.min(idsPerChunk, count - first);
                chunks[k] = ch.map(FileChannel.MapMode.READ_ONLY, HEADER_BYTES + first * idBytes, ids * idBytes);
                chunks[k].order(ByteOrder.LITTLE_ENDIAN);
            }
            return new TokenShard(path, vocab, idBytes, count, idsPerChunk, chunks);
        }
    }

    public Path path() {
        return path;
    }

    /** Number of ids. */
    public long size() {
        return count;
    }

    public int vocabSize() {
        return vocabSize;
    }

    /** 2 or 4. */
    public int idBytes() {
        return idBytes;
    }

    /** The id at {@code position}. */
    public int get(long position) {
        int[] one = new int[1];
        read(position, one, 0, 1);
        return one[0];
    }

    /** Copies ids {@code [position, position + len)} into {@code dst[off, off + len)}. */
    public void read(long position, int[] dst, int off, int len) {
        MappedByteBuffer[] cs = chunks;
        if (cs == null) {
            throw new IllegalStateException("token shard " + path + " is closed");
        }
        if (position < 0 || len < 0 || position > count - len) {
            throw new IndexOutOfBoundsException("ids [" + position + ", " + (position + len) + ") are outside token shard "
                    + path + " of " + count + " ids");
        }
        long p = position;
        int k = off;
        int end = off + len;
        while (k < end) {
            int c = (int) (p / idsPerChunk);
            int i = (int) (p - c * idsPerChunk);
            int n = (int) Math.min(end - k, idsPerChunk - i);
            MappedByteBuffer b = cs[c];
            if (idBytes == 2) {
                for (int j = 0; j < n; j++) {
                    dst[k + j] = Short.toUnsignedInt(b.getShort((i + j) << 1));
                }
            } else {
                for (int j = 0; j < n; j++) {
                    dst[k + j] = b.getInt((i + j) << 2);
                }
            }
            for (int j = 0; j < n; j++) {
                int id = dst[k + j];
                if (id < 0 || id >= vocabSize) {
                    throw new IllegalStateException("token shard " + path + " is corrupt: id " + Integer.toUnsignedString(id)
                            + " at position " + (p + j) + " is outside its vocabulary of " + vocabSize);
                }
            }
            k += n;
            p += n;
        }
    }

    /** All ids; for small shards and tests. */
    public int[] readAll() {
        if (count > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("token shard " + path + " has " + count + " ids, too many for one array");
        }
        int[] all = new int[(int) count];
        read(0, all, 0, all.length);
        return all;
    }

    /** Drops the mappings; later reads throw. (The JVM unmaps the file when the buffers are collected.) */
    @Override
    public void close() {
        chunks = null;
    }

    @Override
    public String toString() {
        return "TokenShard(" + path + ", " + count + " ids, vocab " + vocabSize + ", " + idBytes + " bytes/id)";
    }

    static byte[] header(int vocabSize, int idBytes, long count) {
        ByteBuffer h = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        h.put(MAGIC).putInt(VERSION).putInt(idBytes).putInt(vocabSize).putInt(0).putLong(count);
        return h.array();
    }

    private static String printable(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(x >= 0x20 && x < 0x7f ? String.valueOf((char) x) : String.format("\\x%02x", x & 0xff));
        }
        return s.toString();
    }
}
