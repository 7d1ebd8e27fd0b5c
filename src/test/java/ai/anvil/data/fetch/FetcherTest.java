package ai.anvil.data.fetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Fetcher behaviour that needs no network: names, layout, the cache and its checks. */
class FetcherTest {
    private static final Path GPT2 = Path.of("src/test/resources/tokenizers/gpt2");

    @Test
    void namesAndLayout(@TempDir Path cache) {
        assertEquals(List.of("kjv", "web", "rv1909", "sotu", "moby-dick", "gpt2-tokenizer", "sentiment"),
            Fetcher.names());
        Fetcher f = new Fetcher(cache, null);
        assertEquals(cache.resolve("corpora/kjv/kjv.txt"), f.path("kjv"));
        assertEquals(cache.resolve("corpora/rv1909/rv1909.tsv"), f.versesPath("rv1909"));
        assertEquals(cache.resolve("tokenizers/gpt2"), f.path("gpt2-tokenizer"));
        assertThrows(IllegalArgumentException.class, () -> f.versesPath("sotu"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.fetch("bible"));
        assertTrue(e.getMessage().contains("kjv, web"), e.getMessage());
        assertFalse(f.isCached("kjv"));
        assertTrue(Fetcher.describe("web").contains("sword-text-web"));
    }

    @Test
    void cacheFolderComesFromTheSystemProperty() {
        String old = System.getProperty(Fetcher.CACHE_PROPERTY);
        try {
            System.setProperty(Fetcher.CACHE_PROPERTY, "/tmp/somewhere");
            assertEquals(Path.of("/tmp/somewhere"), Fetcher.defaultCacheDir());
            System.clearProperty(Fetcher.CACHE_PROPERTY);
            assertEquals(Path.of(System.getProperty("user.home"), ".cache", "anvil"), Fetcher.defaultCacheDir());
        } finally {
            if (old == null) {
                System.clearProperty(Fetcher.CACHE_PROPERTY);
            } else {
                System.setProperty(Fetcher.CACHE_PROPERTY, old);
            }
        }
    }

    @Test
    void aCachedNameRunsNothing(@TempDir Path cache) throws IOException {
        Path dir = cache.resolve("tokenizers/gpt2");
        Files.createDirectories(dir);
        Files.copy(GPT2.resolve("encoder.json"), dir.resolve("encoder.json"));
        Files.copy(GPT2.resolve("vocab.bpe"), dir.resolve("vocab.bpe"));
        List<String> events = new ArrayList<>();
        Fetcher f = new Fetcher(cache, new FetchListener() {
            @Override
            public void step(String name, int step, int steps, String what) {
                events.add("step " + what);
            }

            @Override
            public void done(String name, Path path, boolean fromCache) {
                events.add("done " + name + " " + fromCache);
            }
        });
        assertTrue(f.isCached("gpt2-tokenizer"));
        assertEquals(dir, f.fetch("gpt2-tokenizer"));
        assertEquals(List.of("done gpt2-tokenizer true"), events);
    }

    @Test
    void theCommittedGpt2FilesAreTheRecordedOnes() throws IOException {
        assertEquals("196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
                Fetcher.sha256(GPT2.resolve("encoder.json")));
        assertEquals("1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
                Fetcher.sha256(GPT2.resolve("vocab.bpe")));
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                Fetcher.sha256("abc".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
    }
}
