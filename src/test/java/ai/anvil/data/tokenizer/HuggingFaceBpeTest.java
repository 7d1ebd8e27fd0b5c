package ai.anvil.data.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tokenizer.json files written by Hugging Face's tokenizers 0.22 (src/test/resources/tokenizers/hf, made by
 * make_fixtures.py there) read and encode exactly as HF does.
 */
class HuggingFaceBpeTest {
    static final Path DIR = Path.of("src/test/resources/tokenizers/hf");

    @SuppressWarnings("unchecked")
    static Map<String, Object> golden() throws IOException {
        return (Map<String, Object>) Json.parse(Files.readString(DIR.resolve("golden.json"), StandardCharsets.UTF_8),
                "golden.json");
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2-style.json", "split-style.json"})
    @SuppressWarnings("unchecked")
    void encodesLikeHuggingFace(String file) throws IOException {
        BpeTokenizer t = BpeTokenizer.fromHuggingFace(DIR.resolve(file));
        Map<String, Object> g = golden();
        List<String> samples = (List<String>) g.get("samples");
        List<List<Long>> ids = (List<List<Long>>) g.get(file);
        for (int k = 0; k < samples.size(); k++) {
            int[] expected = ids.get(k).stream().mapToInt(Long::intValue).toArray();
            assertArrayEquals(expected, t.encode(samples.get(k)), samples.get(k));
            assertEquals(samples.get(k), t.decode(expected));
        }
        assertEquals(600, t.vocabSize());
        assertEquals(OptionalInt.of(0), t.eosId());
        assertEquals(Map.of("<|endoftext|>", 0, "<pad>", 1), t.specialTokens());
    }

    @Test
    void splitStyleKeepsItsPatternWhenSaved(@TempDir Path dir) throws IOException {
        BpeTokenizer t = BpeTokenizer.fromHuggingFace(DIR.resolve("split-style.json"));
        t.save(dir.resolve("t.json"));
        Tokenizer back = Tokenizers.load(dir.resolve("t.json"));
        String s = "It's 1851; they'll say 12345 whales.\n\n  Ünïcödé";
        assertArrayEquals(t.encode(s), back.encode(s));
        assertTrue(Files.readString(dir.resolve("t.json")).contains("\"Split\""));
    }

    @Test
    void unsupportedModelsAreRejectedNamingTheFile(@TempDir Path dir) throws IOException {
        Path wp = dir.resolve("unigram.json");
        Files.writeString(wp, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizers.load(wp));
        assertTrue(e.getMessage().startsWith(wp + ": model type Unigram"), e.getMessage());

        Path meta = dir.resolve("meta.json");
        String vocab = "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}";
        Files.writeString(meta, "{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": " + vocab + "}");
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizers.load(meta));
        assertTrue(e.getMessage().contains("Metaspace"), e.getMessage());

        Path noBytes = dir.resolve("nobytes.json");
        Files.writeString(noBytes, "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": " + vocab + "}");
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizers.load(noBytes));
        assertTrue(e.getMessage().contains("no token for byte 0x00"), e.getMessage());

        Path broken = dir.resolve("broken.json");
        Files.writeString(broken, "{\n  \"model\": {\"type\": \"BPE\",\n  \"vocab\": {\"a\" 0}}}");
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizers.load(broken));
        assertTrue(e.getMessage().startsWith(broken + ":3:"), e.getMessage());
    }

    @Test
    void badMergesNameTheLine(@TempDir Path dir) throws IOException {
        Path merges = dir.resolve("merges.txt");
        Files.writeString(merges, "#version: 0.2\nĠ t\nĠt he\nnot-a-token x\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BpeTokenizer.fromGpt2Files(Gpt2Fixture.DIR.resolve("encoder.json"), merges));
        assertTrue(e.getMessage().startsWith(merges + ":4: merge token 'not-a-token'"), e.getMessage());
    }
}
