package ai.anvil.data.fetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.Corpora;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fetches every name from Debian and npm into an empty cache (about 50 MB of downloads, a minute): the
 * recorded checksums are checked by the fetch itself. Needs apt-get, dpkg-deb, npm and the network.
 */
@Tag("slow")
class FetcherNetworkTest {

    @Test
    void fetchesEverythingAndThenServesItFromTheCache(@TempDir Path cache) throws IOException {
        List<String> steps = new ArrayList<>();
        Fetcher f = new Fetcher(cache, new FetchListener() {
            @Override
            public void step(String name, int step, int steps2, String what) {
                steps.add(name + " " + step + "/" + steps2);
            }
        });
        for (String name : Fetcher.names()) {
            assertEquals(f.path(name), f.fetch(name));
            assertTrue(f.isCached(name), name);
        }
        assertEquals(Corpora.embeddedKjv(), Files.readString(f.path("kjv"), StandardCharsets.UTF_8),
                "the embedded corpus is what fetch makes");
        assertEquals(Corpora.KJV_LINES, Files.readAllLines(f.versesPath("kjv")).size());
        assertTrue(steps.contains("kjv 5/5") && steps.contains("web 8/8") && steps.contains("gpt2-tokenizer 2/2"),
                steps.toString());
        int before = steps.size();
        for (String name : Fetcher.names()) {
            f.fetch(name);
        }
        assertEquals(before, steps.size(), "a second fetch runs nothing");
    }
}
