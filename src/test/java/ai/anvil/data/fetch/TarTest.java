package ai.anvil.data.fetch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TarTest {

    @Test
    void readsWantedRegularFilesWithLongNames(@TempDir Path dir) throws IOException {
        String longDir = "package/" + "d".repeat(120) + "/";
        byte[] tar = concat(
                entry("package/a.txt", '0', "alpha".getBytes(StandardCharsets.UTF_8), null),
                entry("package/link", '2', new byte[0], null),
                entry("skipped.bin", '0', new byte[700], null),
                entry(longDir + "b.txt", '0', "beta\n".getBytes(StandardCharsets.UTF_8), longDir.substring(0, longDir.length() - 1)),
                entry("././@LongLink", 'L', (longDir + "c-with-a-name-over-a-hundred.txt\0").getBytes(StandardCharsets.UTF_8), null),
                entry("truncated-name", '0', "gamma".getBytes(StandardCharsets.UTF_8), null),
                new byte[1024]);
        Path tgz = gzip(dir, tar);
        Map<String, byte[]> files = Tar.read(tgz, p -> p.endsWith(".txt"));
        assertEquals(List.of("package/a.txt", longDir + "b.txt", longDir + "c-with-a-name-over-a-hundred.txt"),
                List.copyOf(files.keySet()));
        assertArrayEquals("beta\n".getBytes(StandardCharsets.UTF_8), files.get(longDir + "b.txt"));
        assertArrayEquals("gamma".getBytes(StandardCharsets.UTF_8), files.get(longDir + "c-with-a-name-over-a-hundred.txt"));
    }

    @Test
    void damagedArchivesFailNamingTheFile(@TempDir Path dir) throws IOException {
        byte[] good = entry("package/a.txt", '0', "alpha".getBytes(StandardCharsets.UTF_8), null);
        byte[] badSum = good.clone();
        badSum[0] = 'q';
        FetchException e = assertThrows(FetchException.class, () -> Tar.read(gzip(dir, badSum), p -> true));
        assertTrue(e.getMessage().contains("checksum"), e.getMessage());
        byte[] cut = Arrays.copyOf(good, 512 + 2);
        IOException t = assertThrows(IOException.class, () -> Tar.read(gzip(dir, cut), p -> true));
        assertTrue(t.getMessage().contains("truncated"), t.getMessage());
    }

    /** One ustar entry: header plus data padded to 512 bytes; {@code prefix} splits a long name. */
    static byte[] entry(String name, char type, byte[] data, String prefix) {
        byte[] h = new byte[512];
        String base = prefix == null ? name : name.substring(prefix.length() + 1);
        put(h, 0, base.length() > 100 ? base.substring(0, 100) : base);
        put(h, 100, "0000644");
        put(h, 124, String.format("%011o", data.length));
        put(h, 136, "00000000000");
        h[156] = (byte) type;
        put(h, 257, "ustar");
        put(h, 263, "00");
        if (prefix != null) {
            put(h, 345, prefix);
        }
        Arrays.fill(h, 148, 156, (byte) ' ');
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        put(h, 148, String.format("%06o\0 ", sum));
        byte[] out = new byte[512 + (data.length + 511) / 512 * 512];
        System.arraycopy(h, 0, out, 0, 512);
        System.arraycopy(data, 0, out, 512, data.length);
        return out;
    }

    private static void put(byte[] h, int off, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(b, 0, h, off, b.length);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            o.writeBytes(p);
        }
        return o.toByteArray();
    }

    private static Path gzip(Path dir, byte[] tar) throws IOException {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        try (GZIPOutputStream g = new GZIPOutputStream(o)) {
            g.write(tar);
        }
        Path f = Files.createTempFile(dir, "t", ".tgz");
        Files.write(f, o.toByteArray());
        return f;
    }
}
