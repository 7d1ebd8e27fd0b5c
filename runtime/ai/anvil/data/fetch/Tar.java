package ai.anvil.data.fetch;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import java.util.zip.GZIPInputStream;

/**
 * Reads regular files out of a gzipped tar (an npm package tarball): ustar names with their prefix, GNU
 * long names ('L') and pax 'path' records. Links, devices and the like are skipped.
 */
final class Tar {
    private static final int BLOCK = 512;

    private Tar() {}

    /**
     * Returns the contents of the regular files of {@code tgz} whose path matches {@code wanted}, keyed by
     * path, in archive order.
     */
    static Map<String, byte[]> read(Path tgz, Predicate<String> wanted) throws IOException {
        Map<String, byte[]> out = new LinkedHashMap<>();
        try (InputStream in = new BufferedInputStream(new GZIPInputStream(Files.newInputStream(tgz), 1 << 16), 1 << 16)) {
            byte[] header = new byte[BLOCK];
            String longName = null;
            long offset = 0;
            while (true) {
                if (!readFully(in, header)) {
                    break; // archive ended without the two zero blocks; tolerated, as GNU tar does
                }
                if (isZero(header)) {
                    break;
                }
                if (!checksumOk(header)) {
                    throw new FetchException(tgz + ": bad tar header checksum at byte " + offset);
                }
                offset += BLOCK;
                String name = longName != null ? longName : headerName(header);
                longName = null;
                char type = (char) header[156];
                long size = parseSize(header, tgz, offset);
                long padded = (size + BLOCK - 1) / BLOCK * BLOCK;
                if (type == 'L' || type == 'x') {
                    byte[] data = readBytes(in, size, tgz, name);
                    skip(in, padded - size, tgz);
                    longName = type == 'L' ? cString(data, 0, data.length) : paxPath(data);
                } else if ((type == '0' || type == '\0') && wanted.test(name)) {
                    out.put(name, readBytes(in, size, tgz, name));
                    skip(in, padded - size, tgz);
                } else {
                    skip(in, padded, tgz);
                }
                offset += padded;
            }
        }
        return out;
    }

    private static String headerName(byte[] h) {
        String name = cString(h, 0, 100);
        boolean ustar = h[257] == 'u' && h[258] == 's' && h[259] == 't' && h[260] == 'a' && h[261] == 'r';
        String prefix = ustar ? cString(h, 345, 155) : "";
        return prefix.isEmpty() ? name : prefix + "/" + name;
    }

    /** A pax extended header: records "len key=value\n"; returns the path value or null. */
    private static String paxPath(byte[] data) {
        String s = new String(data, StandardCharsets.UTF_8);
        int i = 0;
        while (i < s.length()) {
            int space = s.indexOf(' ', i);
            if (space < 0) {
                break;
            }
            int len = Integer.parseInt(s.substring(i, space));
            String record = s.substring(space + 1, Math.min(s.length(), i + len - 1));
            if (record.startsWith("path=")) {
                return record.substring(5);
            }
            i += len;
        }
        return null;
    }

    private static long parseSize(byte[] h, Path tgz, long offset) throws FetchException {
        if ((h[124] & 0x80) != 0) { // base-256 for sizes of 8 GiB and more
            long v = 0;
            for (int i = 125; i < 136; i++) {
                v = (v << 8) | (h[i] & 0xff);
            }
            return v;
        }
        String octal = cString(h, 124, 12).trim();
        try {
            return octal.isEmpty() ? 0 : Long.parseLong(octal, 8);
        } catch (NumberFormatException e) {
            throw new FetchException(tgz + ": bad tar size field '" + octal + "' at byte " + offset);
        }
    }

    private static boolean checksumOk(byte[] h) {
        String field = cString(h, 148, 8).trim();
        if (field.isEmpty()) {
            return false;
        }
        long stored = Long.parseLong(field, 8);
        long sum = 0;
        for (int i = 0; i < BLOCK; i++) {
            sum += (i >= 148 && i < 156) ? ' ' : (h[i] & 0xff);
        }
        return sum == stored;
    }

    private static String cString(byte[] b, int off, int len) {
        int end = off;
        while (end < off + len && b[end] != 0) {
            end++;
        }
        return new String(b, off, end - off, StandardCharsets.UTF_8);
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    private static boolean readFully(InputStream in, byte[] b) throws IOException {
        int n = in.readNBytes(b, 0, b.length);
        if (n == 0) {
            return false;
        }
        if (n < b.length) {
            throw new EOFException("tar archive truncated inside a header");
        }
        return true;
    }

    private static byte[] readBytes(InputStream in, long size, Path tgz, String name) throws IOException {
        if (size > Integer.MAX_VALUE - 16) {
            throw new FetchException(tgz + ": entry " + name + " is too large to read (" + size + " bytes)");
        }
        byte[] data = in.readNBytes((int) size);
        if (data.length != size) {
            throw new FetchException(tgz + ": truncated inside entry " + name);
        }
        return data;
    }

    private static void skip(InputStream in, long n, Path tgz) throws IOException {
        long left = n;
        while (left > 0) {
            long k = in.skip(left);
            if (k <= 0) {
                if (in.read() < 0) {
                    throw new FetchException(tgz + ": truncated tar archive");
                }
                k = 1;
            }
            left -= k;
        }
    }
}
