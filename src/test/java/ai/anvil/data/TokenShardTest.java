package ai.anvil.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenShardTest {

    static int[] randomIds(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(vocab);
        }
        ids[0] = 0;
        ids[n - 1] = vocab - 1;
        return ids;
    }

    @Test
    void roundTripsWithTwoAndFourByteIds(@TempDir Path dir) throws IOException {
        for (int vocab : new int[] {65, 50257, 65_535, 65_536, 200_000}) {
            int[] ids = randomIds(100_003, vocab, vocab);
            Path f = dir.resolve("v" + vocab + ".bin");
            try (TokenShard s = ShardWriter.write(f, vocab, ids)) {
                assertEquals(vocab <= 65_535 ? 2 : 4, s.idBytes(), "vocab " + vocab);
                assertEquals(ids.length, s.size());
                assertEquals(vocab, s.vocabSize());
                assertEquals(TokenShard.HEADER_BYTES + (long) ids.length * s.idBytes(), Files.size(f));
                assertArrayEquals(ids, s.readAll());
                assertEquals(ids[777], s.get(777));
                int[] part = new int[10];
                s.read(99_990, part, 0, 10);
                assertArrayEquals(Arrays.copyOfRange(ids, 99_990, 100_000), part);
            }
        }
    }

    @Test
    void readsAcrossMappingPieces(@TempDir Path dir) throws IOException {
        int[] ids = randomIds(1000, 70_000, 5);
        Path f = dir.resolve("s.bin");
        ShardWriter.write(f, 70_000, ids).close();
        try (TokenShard s = TokenShard.open(f, 28)) { // 7 ids a piece
            assertArrayEquals(ids, s.readAll());
            int[] part = new int[20];
            s.read(5, part, 0, 20);
            assertArrayEquals(Arrays.copyOfRange(ids, 5, 25), part);
        }
    }

    @Test
    void writerStreamsAndPublishesOnlyOnClose(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("s.bin");
        try (ShardWriter w = new ShardWriter(f, 1000)) {
            for (int i = 0; i < 70_000; i++) {
                w.write(i % 1000);
            }
            w.write(new int[] {1, 2, 3});
            assertFalse(Files.exists(f), "the shard appears only when complete");
            assertEquals(70_003, w.count());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> w.write(new int[] {5, 1000}));
            assertTrue(e.getMessage().contains("id 1000 at position 70004"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> w.write(-1));
        }
        assertFalse(Files.exists(dir.resolve("s.bin.tmp")));
        try (TokenShard s = TokenShard.open(f)) {
            assertEquals(70_003, s.size());
            assertEquals(999, s.get(69_999));
            assertEquals(3, s.get(70_002));
        }
    }

    @Test
    void emptyShardIsValid(@TempDir Path dir) throws IOException {
        try (TokenShard s = ShardWriter.write(dir.resolve("e.bin"), 10, new int[0])) {
            assertEquals(0, s.size());
            assertEquals(0, s.readAll().length);
        }
    }

    @Test
    void badFilesAreRejectedNamingTheFile(@TempDir Path dir) throws IOException {
        Path good = dir.resolve("good.bin");
        ShardWriter.write(good, 50257, new int[] {1, 2, 3, 4}).close();
        byte[] bytes = Files.readAllBytes(good);

        assertOpenFails(dir, "short.bin", Arrays.copyOf(bytes, 40), "truncated token shard: 40 bytes");
        assertOpenFails(dir, "cut.bin", Arrays.copyOf(bytes, bytes.length - 1),
                "truncated token shard: the header announces 4 ids (72 bytes) but the file has 71 bytes");
        assertOpenFails(dir, "long.bin", Arrays.copyOf(bytes, bytes.length + 2), "oversized token shard");
        byte[] magic = bytes.clone();
        magic[0] = 'X';
        assertOpenFails(dir, "magic.bin", magic, "not an Anvil token shard (magic XNVILTOK");
        assertOpenFails(dir, "version.bin", patchInt(bytes, 8, 2), "version 2 is not supported");
        assertOpenFails(dir, "width.bin", patchInt(bytes, 12, 3), "3 bytes per id");
        assertOpenFails(dir, "vocab.bin", patchInt(bytes, 16, 70_000), "vocabulary 70000 with 2-byte ids");
        assertOpenFails(dir, "text.bin", "just some text, not a shard at all, long enough for a header......"
                .getBytes(java.nio.charset.StandardCharsets.US_ASCII), "not an Anvil token shard");

        byte[] badId = patchInt(bytes, 16, 3); // vocabulary 3, but ids 3 and 4 inside
        Path f = dir.resolve("badid.bin");
        Files.write(f, badId);
        try (TokenShard s = TokenShard.open(f)) {
            assertEquals(1, s.get(0));
            IllegalStateException e = assertThrows(IllegalStateException.class, s::readAll);
            assertTrue(e.getMessage().contains(f + " is corrupt: id 3 at position 2"), e.getMessage());
        }
    }

    @Test
    void outOfRangeAndClosedReadsFail(@TempDir Path dir) throws IOException {
        TokenShard s = ShardWriter.write(dir.resolve("s.bin"), 10, new int[] {1, 2, 3});
        assertThrows(IndexOutOfBoundsException.class, () -> s.get(3));
        assertThrows(IndexOutOfBoundsException.class, () -> s.read(2, new int[2], 0, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> s.get(-1));
        s.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.get(0));
        assertTrue(e.getMessage().contains("closed"));
    }

    private static void assertOpenFails(Path dir, String name, byte[] content, String expected) throws IOException {
        Path f = dir.resolve(name);
        Files.write(f, content);
        IOException e = assertThrows(IOException.class, () -> TokenShard.open(f));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    private static byte[] patchInt(byte[] b, int offset, int value) {
        byte[] c = b.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(offset, value);
        return c;
    }
}
