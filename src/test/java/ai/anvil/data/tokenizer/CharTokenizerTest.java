package ai.anvil.data.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.Corpora;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CharTokenizerTest {

    @Test
    void kjvVocabularyIsItsSortedCharacters() {
        String kjv = Corpora.embeddedKjv();
        CharTokenizer t = CharTokenizer.fromText(kjv);
        assertEquals(63, t.vocabSize());
        assertEquals('\n', t.characters().charAt(0));
        assertEquals(' ', t.characters().charAt(1));
        int[] ids = t.encode(kjv);
        assertEquals(kjv.length(), ids.length);
        assertEquals(kjv, t.decode(ids));
        assertEquals(OptionalInt.empty(), t.eosId());
        assertEquals(Map.of(), t.specialTokens());
    }

    @Test
    void idsFollowCodePointOrderIncludingSupplementaryCharacters() {
        CharTokenizer t = CharTokenizer.of("b🐋aé\nb");
        assertEquals("\nabé🐋", t.characters());
        assertArrayEquals(new int[] {4, 1, 2, 3, 0}, t.encode("🐋abé\n"));
        assertEquals("🐋abé\n", t.decode(new int[] {4, 1, 2, 3, 0}));
    }

    @Test
    void unknownCharactersAndIdsAreClearErrors() {
        CharTokenizer t = CharTokenizer.of("abc");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.encode("abz"));
        assertTrue(e.getMessage().contains("'z' (U+007A) at index 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {0, 3}));
        assertTrue(e.getMessage().contains("id 3 at position 1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CharTokenizer.of(""));
    }

    @Test
    void savesAndLoads(@TempDir Path dir) throws IOException {
        CharTokenizer t = CharTokenizer.of("\"\\\n\t\u0001xé🐋");
        Path f = dir.resolve("char.json");
        t.save(f);
        Tokenizer back = Tokenizers.load(f);
        assertTrue(back instanceof CharTokenizer);
        assertEquals(t.characters(), ((CharTokenizer) back).characters());
        assertEquals(t.characters(), CharTokenizer.load(f).characters());

        Files.writeString(f, "{\"type\": \"char\", \"vocab\": [\"b\", \"a\"]}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizers.load(f));
        assertTrue(e.getMessage().contains("entry 1 is out of order"), e.getMessage());
    }

    @Test
    void forSpecBuildsCharFromTheCorpus(@TempDir Path cache) throws IOException {
        assertEquals(4, Tokenizers.forSpec("char", "aab c", cache).vocabSize());
        assertThrows(IllegalArgumentException.class, () -> Tokenizers.forSpec("char", null, cache));
        assertThrows(IllegalArgumentException.class, () -> Tokenizers.forSpec(cache.resolve("none.json").toString(), null, cache));
    }
}
