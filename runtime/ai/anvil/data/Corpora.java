package ai.anvil.data;

import ai.anvil.data.fetch.Fetcher;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Training text. The King James Bible ships inside the jar as the default corpus, so training needs no
 * fetch; other corpora come from {@link Fetcher}.
 */
public final class Corpora {
    /** The embedded KJV: one verse a line, no references, 31,102 lines. */
    public static final String KJV_RESOURCE = "/ai/anvil/data/corpus/kjv.txt.gz";
    public static final int KJV_LINES = 31_102;
    public static final long KJV_BYTES = 4_137_850;
    public static final String KJV_SHA256 = "b5c4940bcfeee072c0935b5200d0f9d88a00a0199cb0961d16133458fcdfae5d";

    private Corpora() {}

    /**
     * The embedded King James Bible as a string (4.1 MB of UTF-8, about 4.1M chars), checked against
     * {@link #KJV_SHA256}.
     *
     * @throws IllegalStateException when the resource is missing or damaged (a broken build)
     */
    public static String embeddedKjv() {
        byte[] bytes;
        try (InputStream in = openEmbeddedKjv()) {
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the embedded corpus " + KJV_RESOURCE, e);
        }
        String sha = Fetcher.sha256(bytes);
        if (bytes.length != KJV_BYTES || !sha.equals(KJV_SHA256)) {
            throw new IllegalStateException("embedded corpus " + KJV_RESOURCE + " is damaged: " + bytes.length
                    + " bytes with sha256 " + sha + ", expected " + KJV_BYTES + " bytes with sha256 " + KJV_SHA256);
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** The embedded King James Bible as a stream of UTF-8 bytes (not checked); the caller closes it. */
    public static InputStream openEmbeddedKjv() throws IOException {
        InputStream raw = Corpora.class.getResourceAsStream(KJV_RESOURCE);
        if (raw == null) {
            throw new IllegalStateException("the embedded corpus " + KJV_RESOURCE + " is missing from the classpath");
        }
        return new GZIPInputStream(raw, 1 << 16);
    }

    /**
     * A corpus by name: {@code kjv} is the embedded one; another name of {@link Fetcher#names()} is read from
     * the fetch cache (it must have been fetched); anything else is read as a UTF-8 file path.
     */
    public static String load(String nameOrPath, Path cacheDir) throws IOException {
        if (nameOrPath.equals("kjv")) {
            return embeddedKjv();
        }
        Path file;
        if (Fetcher.names().contains(nameOrPath) && !nameOrPath.endsWith("-tokenizer")) {
            Fetcher f = new Fetcher(cacheDir, null);
            if (!f.isCached(nameOrPath)) {
                throw new IllegalArgumentException("corpus '" + nameOrPath + "' is not in the cache " + cacheDir
                        + "; run 'anvil fetch " + nameOrPath + "' first");
            }
            file = f.path(nameOrPath);
        } else {
            file = Path.of(nameOrPath);
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException("no corpus named '" + nameOrPath + "' and no such file; known"
                        + " names: kjv (embedded), " + String.join(", ", Fetcher.names()));
            }
        }
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new IOException(file + ": not valid UTF-8 text", e);
        }
    }
}
