package ai.anvil.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CorporaTest {

    @Test
    void embeddedKjvIsTheRecordedText() {
        String kjv = Corpora.embeddedKjv();
        assertEquals(Corpora.KJV_BYTES, kjv.getBytes(StandardCharsets.UTF_8).length);
        String[] lines = kjv.split("\n", -1);
        assertEquals(Corpora.KJV_LINES + 1, lines.length, "31,102 verse lines, each ending in a newline");
        assertEquals("", lines[lines.length - 1]);
        assertEquals("In the beginning God created the heaven and the earth.", lines[0]);
        assertEquals("The grace of our Lord Jesus Christ be with you all. Amen.", lines[Corpora.KJV_LINES - 1]);
        assertEquals(63, kjv.chars().distinct().count(), "the KJV's character set");
        for (String line : lines) {
            assertFalse(line.matches("\\d+ .*"), "a verse number left at the start of: " + line);
        }
    }

    @Test
    void loadReadsFilesAndNamesTheEmbeddedCorpus(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("c.txt");
        Files.writeString(f, "héllo\n", StandardCharsets.UTF_8);
        assertEquals("héllo\n", Corpora.load(f.toString(), dir));
        assertEquals(Corpora.KJV_BYTES, Corpora.load("kjv", dir).getBytes(StandardCharsets.UTF_8).length);
        IllegalArgumentException notFetched = assertThrows(IllegalArgumentException.class, () -> Corpora.load("web", dir));
        assertTrue(notFetched.getMessage().contains("anvil fetch web"), notFetched.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Corpora.load(dir.resolve("missing.txt").toString(), dir));
        Path bad = dir.resolve("bad.txt");
        Files.write(bad, new byte[] {'a', (byte) 0xff, 'b'});
        IOException e = assertThrows(IOException.class, () -> Corpora.load(bad.toString(), dir));
        assertTrue(e.getMessage().contains("bad.txt"), e.getMessage());
    }
}
