package ai.anvil.data.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.Corpora;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GPT-2's byte-level BPE against jtokkit's r50k_base (GPT-2's ranks) on varied and random text. */
class Gpt2BpeTest {
    static final List<String> VARIED = List.of(
            "Hello world",
            "In the beginning God created the heaven and the earth.",
            "It's, it't, you're, we've, I'm, they'll, he'd; IT'S DON'T 'S ''s '''re ' s 'x",
            "Unicode: naïve café résumé Ångström Ελληνικά Русский עברית العربية हिन्दी ไทย",
            "CJK: 東京タワーに行きました。我爱北京天安门。안녕하세요 세계",
            "emoji: 🐋🐳 👩‍👩‍👧‍👦 👍🏽 🇫🇷 ❤️ 🏳️‍🌈 (zero width joiners and variation selectors)",
            "whitespace   runs\t\ttabs \t mixed\n\n\nnewlines  \n  indented\r\ncrlf   ",
            "no-break\u00a0space, ideographic\u3000space, thin\u2009space, line\u2028separator, nel\u0085next",
            "numbers 0 12 345 6789 3.14159 -42 1,000,000 ①②③ ⅫⅣ ²³ ١٢٣ ๑๒๓",
            "code: for (int i = 0; i < n; i++) { x[i] += y[i] * 2; } // done\n\tif (a != b) return;",
            "url https://example.com/path?q=1&r=%20x#frag and email someone@example.org",
            "combining: e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937",
            "   leading and trailing   ",
            " ",
            "\n",
            "x",
            "a".repeat(1000),
            "ab".repeat(700) + " " + "0123456789".repeat(50),
            "QmFzZTY0IGVuY29kZWQgc3RyaW5nIHdpdGhvdXQgc3BhY2Vz".repeat(20),
            "!!!???...,,,;;;:::---___===+++***&&&%%%$$$###@@@",
            "Mixed\u00a0 \u00a0\u3000 runs of  \u2003different\u2003\u2003spaces\u00a0",
            "lone surrogate \ud83d here and \udc0b there");

    @Test
    void knownIds() {
        assertArrayEquals(new int[] {15496, 995}, Gpt2Fixture.gpt2().encode("Hello world"));
        assertEquals(50257, Gpt2Fixture.gpt2().vocabSize());
        assertEquals(OptionalInt.of(50256), Gpt2Fixture.gpt2().eosId());
        assertEquals(Map.of("<|endoftext|>", 50256), Gpt2Fixture.gpt2().specialTokens());
        assertEquals(50000, Gpt2Fixture.gpt2().mergeCount());
    }

    @Test
    void variedTextMatchesJtokkitAndRoundTrips() {
        BpeTokenizer t = Gpt2Fixture.gpt2();
        for (String s : VARIED) {
            int[] ids = t.encode(s);
            assertArrayEquals(Gpt2Fixture.oracle(s), ids, () -> "ids of: " + s);
            if (!s.contains("lone surrogate")) {
                assertEquals(s, t.decode(ids), "round trip");
            }
        }
    }

    @Test
    void randomTextMatchesJtokkit() {
        // Characters drawn from classes that stress the pre-tokenizer and multi-byte merges.
        String alphabet = "aAbeSsTtmdlvr'’ \n\t\r\u00a0\u3000\u2028.,!?-_0123456789①Ⅻé東京🐋👍🏽\u200d\u0301";
        int[] cps = alphabet.codePoints().toArray();
        SplittableRandom r = new SplittableRandom(7);
        BpeTokenizer t = Gpt2Fixture.gpt2();
        for (int n = 0; n < 3000; n++) {
            StringBuilder b = new StringBuilder();
            int len = 1 + r.nextInt(40);
            for (int k = 0; k < len; k++) {
                b.appendCodePoint(cps[r.nextInt(cps.length)]);
            }
            String s = b.toString();
            int[] ids = t.encode(s);
            assertArrayEquals(Gpt2Fixture.oracle(s), ids, () -> "ids of: " + s.codePoints()
                    .mapToObj(c -> String.format("U+%04X", c)).toList());
            assertEquals(s, t.decode(ids));
        }
    }

    @Test
    void wholeKjvMatchesJtokkit() {
        String kjv = Corpora.embeddedKjv();
        long t0 = System.nanoTime();
        int[] ids = Gpt2Fixture.gpt2().encode(kjv);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(1_024_544, ids.length);
        assertArrayEquals(Gpt2Fixture.oracle(kjv), ids);
        assertEquals(kjv, Gpt2Fixture.gpt2().decode(ids));
        // Measured about 4 M chars/s cold and 20-50 M chars/s warm on 2 cores; this bound only catches a
        // quadratic slip, not a 2x regression.
        assertTrue(kjv.length() / seconds > 300_000, "encode speed " + kjv.length() / seconds + " chars/s");
    }

    @Test
    void specialTokensAreMatchedInEncodeButNotInEncodeOrdinary() {
        BpeTokenizer t = Gpt2Fixture.gpt2();
        String s = "Hello<|endoftext|> world<|endoftext|><|endoftext|>end";
        int[] expected = IntStream.concat(IntStream.concat(
                Arrays.stream(Gpt2Fixture.oracle("Hello")), IntStream.of(50256)),
                IntStream.concat(Arrays.stream(Gpt2Fixture.oracle(" world")),
                        IntStream.concat(IntStream.of(50256, 50256), Arrays.stream(Gpt2Fixture.oracle("end")))))
                .toArray();
        assertArrayEquals(expected, t.encode(s));
        assertArrayEquals(Gpt2Fixture.oracle(s), t.encodeOrdinary(s));
        assertEquals(s, t.decode(t.encode(s)));
        assertEquals("<|endoftext|>", t.token(50256));
    }

    @Test
    void longPiecesMergeTheSameWithTheHeap() {
        BpeTokenizer t = Gpt2Fixture.gpt2();
        SplittableRandom r = new SplittableRandom(3);
        String letters = "aeioustrnlhdbqxyzAEIOU";
        for (int n = 0; n < 200; n++) {
            StringBuilder b = new StringBuilder();
            int len = 2 + r.nextInt(120);
            for (int k = 0; k < len; k++) {
                b.append(letters.charAt(r.nextInt(r.nextBoolean() ? 4 : letters.length())));
            }
            byte[] bytes = b.toString().getBytes(StandardCharsets.UTF_8);
            int[] sym = new int[bytes.length];
            for (int k = 0; k < sym.length; k++) {
                sym[k] = t.id(String.valueOf(ByteLevel.BYTE_TO_CHAR[bytes[k] & 0xff]));
            }
            int[] scan = t.bpe(bytes);
            assertArrayEquals(scan, t.bpeHeap(sym), b::toString);
            assertArrayEquals(Gpt2Fixture.oracle(b.toString()), scan, b::toString);
        }
    }

    @Test
    void decodeRejectsUnknownIdsAndKeepsPartialBytes() {
        BpeTokenizer t = Gpt2Fixture.gpt2();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {1, 50257}));
        assertTrue(e.getMessage().contains("position 1"), e.getMessage());
        int[] whale = t.encode("🐋");
        assertTrue(whale.length > 1, "an emoji spans several byte tokens");
        byte[] first = t.decodeBytes(new int[] {whale[0]});
        assertTrue(first.length < 4);
        assertEquals("\uFFFD", t.decode(new int[] {whale[0]}).substring(0, 1));
        assertArrayEquals("🐋".getBytes(StandardCharsets.UTF_8), t.decodeBytes(whale));
    }

    @Test
    void savedAsTokenizerJsonReadsBackTheSame(@TempDir Path dir) throws IOException {
        BpeTokenizer t = Gpt2Fixture.gpt2();
        Path f = dir.resolve("tokenizer.json");
        t.save(f);
        Tokenizer back = Tokenizers.load(f);
        assertEquals(50257, back.vocabSize());
        assertEquals(OptionalInt.of(50256), back.eosId());
        for (String s : VARIED) {
            assertArrayEquals(t.encode(s), back.encode(s), s);
        }
        assertArrayEquals(t.encode("a<|endoftext|>b"), back.encode("a<|endoftext|>b"));
        assertTrue(Files.size(f) > 1_000_000);
        assertEquals(back.vocabSize(), BpeTokenizer.load(dir).vocabSize(), "a folder holding tokenizer.json");
    }

    @Test
    void gpt2ByNameComesFromTheFetchCache(@TempDir Path cache) throws IOException {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Tokenizers.forSpec("gpt2", null, cache));
        assertTrue(e.getMessage().contains("anvil fetch gpt2-tokenizer"), e.getMessage());
        Path dir = Files.createDirectories(cache.resolve("tokenizers/gpt2"));
        Files.copy(Gpt2Fixture.DIR.resolve("encoder.json"), dir.resolve("encoder.json"));
        Files.copy(Gpt2Fixture.DIR.resolve("vocab.bpe"), dir.resolve("vocab.bpe"));
        assertArrayEquals(new int[] {15496, 995}, Tokenizers.forSpec("gpt2", null, cache).encode("Hello world"));
    }
}
