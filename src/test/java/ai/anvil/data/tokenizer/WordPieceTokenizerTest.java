package ai.anvil.data.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * BERT uncased WordPiece (all-MiniLM-L6-v2's tokenizer.json) against the ids, tokens and decodes of HF
 * tokenizers on varied text: accents, CJK, Hangul, punctuation and symbols, control characters, long
 * words, unknown characters, special tokens in the text, pairs and truncation
 * (golden/wordpiece/bert-uncased.json, made by tools/golden/make_wordpiece_golden.py).
 */
class WordPieceTokenizerTest {
    static final Path TOKENIZER = Path.of("src/test/resources/tokenizers/bert-uncased/tokenizer.json");
    static final Path GOLDEN = Path.of("src/test/resources/golden/wordpiece/bert-uncased.json");

    @SuppressWarnings("unchecked")
    static Map<String, Object> golden() throws IOException {
        return (Map<String, Object>) Json.parse(Files.readString(GOLDEN, StandardCharsets.UTF_8), GOLDEN.toString());
    }

    static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Number) o).intValue()).toArray();
    }

    @Test
    @SuppressWarnings("unchecked")
    void encodesAndDecodesLikeHuggingFace() throws IOException {
        WordPieceTokenizer t = WordPieceTokenizer.fromHuggingFace(TOKENIZER);
        List<Map<String, Object>> samples = (List<Map<String, Object>>) golden().get("samples");
        assertTrue(samples.size() >= 30);
        for (Map<String, Object> c : samples) {
            String text = (String) c.get("text");
            String what = "text " + Json.quote(text);
            assertArrayEquals(ints(c.get("ids")), t.encode(text), what);
            assertArrayEquals(ints(c.get("ids_plain")), t.encode(text, false), what);
            assertEquals(c.get("tokens"), t.tokenize(text), what);
            assertEquals(c.get("decoded"), t.decode(ints(c.get("ids"))), what);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void pairsAndTruncationLikeHuggingFace() throws IOException {
        WordPieceTokenizer t = WordPieceTokenizer.fromHuggingFace(TOKENIZER);
        Map<String, Object> g = golden();
        List<Map<String, Object>> samples = (List<Map<String, Object>>) g.get("samples");
        for (Map<String, Object> p : (List<Map<String, Object>>) g.get("pairs")) {
            String a = (String) samples.get(((Number) p.get("a")).intValue()).get("text");
            String b = (String) samples.get(((Number) p.get("b")).intValue()).get("text");
            WordPieceTokenizer.Encoding e = t.encodePair(a, b);
            assertArrayEquals(ints(p.get("ids")), e.ids(), a + " | " + b);
            assertArrayEquals(ints(p.get("type_ids")), e.typeIds(), a + " | " + b);
        }
        for (Map<String, Object> c : (List<Map<String, Object>>) g.get("truncated")) {
            String text = (String) samples.get(((Number) c.get("sample")).intValue()).get("text");
            assertArrayEquals(ints(c.get("ids")), t.encode(text, ((Number) c.get("max_length")).intValue()), text);
        }
        assertThrows(IllegalArgumentException.class, () -> t.encode("x", 1));
    }

    @Test
    void vocabularyAndSpecialTokens() throws IOException {
        WordPieceTokenizer t = WordPieceTokenizer.fromHuggingFace(TOKENIZER);
        assertEquals(30522, t.vocabSize());
        assertEquals(Map.of("[PAD]", 0, "[UNK]", 100, "[CLS]", 101, "[SEP]", 102, "[MASK]", 103), t.specialTokens());
        assertEquals(100, t.unkId());
        assertEquals(OptionalInt.of(103), t.tokenId("[MASK]"));
        assertEquals(OptionalInt.empty(), t.tokenId("no-such-token"));
        assertEquals("##ing", t.token(t.tokenId("##ing").getAsInt()));
        assertEquals(OptionalInt.empty(), t.eosId());
    }

    @Test
    void loadsThroughTokenizersAndSavesWhatItReads(@TempDir Path dir) throws IOException {
        Tokenizer viaFile = Tokenizers.load(TOKENIZER);
        assertInstanceOf(WordPieceTokenizer.class, viaFile);
        assertInstanceOf(WordPieceTokenizer.class, Tokenizers.load(TOKENIZER.getParent()));
        viaFile.save(dir.resolve("tokenizer.json"));
        Tokenizer back = Tokenizers.load(dir);
        String s = "Crème Brûlée [MASK] 東京 naïve résumé, unbelievably!";
        assertArrayEquals(viaFile.encode(s), back.encode(s));
        assertEquals(((WordPieceTokenizer) viaFile).encodePair(s, "b").typeIds().length,
                ((WordPieceTokenizer) back).encodePair(s, "b").typeIds().length);
        assertEquals(viaFile.decode(viaFile.encode(s)), back.decode(back.encode(s)));
    }

    @Test
    void refusesWhatItDoesNotImplement(@TempDir Path dir) throws IOException {
        String json = Files.readString(TOKENIZER, StandardCharsets.UTF_8);
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, json.replace("\"BertPreTokenizer\"", "\"Metaspace\""), StandardCharsets.UTF_8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WordPieceTokenizer.fromHuggingFace(bad));
        assertTrue(e.getMessage().contains("Metaspace") && e.getMessage().contains(bad.toString()), e.getMessage());
        Files.writeString(bad, json.replace("\"unk_token\": \"[UNK]\"", "\"unk_token\": \"[NOPE]\""), StandardCharsets.UTF_8);
        e = assertThrows(IllegalArgumentException.class, () -> WordPieceTokenizer.fromHuggingFace(bad));
        assertTrue(e.getMessage().contains("[NOPE]"), e.getMessage());
    }
}
