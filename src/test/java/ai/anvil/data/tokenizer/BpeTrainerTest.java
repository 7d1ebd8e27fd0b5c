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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTrainerTest {

    @Test
    void learnsTheSameMergesAsANaiveRecount() {
        String corpus = Files.exists(Path.of("src/test/resources/tokenizers/hf/moby.txt"))
                ? readMoby() : Corpora.embeddedKjv().substring(0, 20_000);
        corpus += " aaaa aaaaa abab ababab <|endoftext|> aaaa"; // overlapping pairs
        BpeTokenizer fast = new BpeTrainer(420, List.of("<|endoftext|>")).minFrequency(1).train(corpus);
        List<String> naive = naiveMerges(corpus, 420 - 256 - 1);
        List<String> got = new ArrayList<>();
        for (int r = 0; r < fast.mergeCount(); r++) {
            MergeTable m = fast.mergesView();
            got.add(fast.token(m.left(r)) + " " + fast.token(m.right(r)));
        }
        assertEquals(naive, got);
        assertEquals(420, fast.vocabSize());
    }

    @Test
    void kjvVocabularyRoundTripsAndCompresses(@TempDir Path dir) throws IOException {
        String kjv = Corpora.embeddedKjv();
        BpeTokenizer t = BpeTokenizer.train(kjv, 2048);
        assertEquals(2048, t.vocabSize());
        assertEquals(OptionalInt.of(2047), t.eosId());
        int[] ids = t.encode(kjv);
        assertEquals(kjv, t.decode(ids));
        double bytesPerToken = (double) kjv.getBytes(StandardCharsets.UTF_8).length / ids.length;
        assertTrue(bytesPerToken > 3.3, "bytes per token " + bytesPerToken); // measured 3.59
        Path f = dir.resolve("tokenizer.json");
        t.save(f);
        Tokenizer back = Tokenizers.load(f);
        assertArrayEquals(ids, back.encode(kjv));
        assertEquals(OptionalInt.of(2047), back.eosId());
        String unseen = "Ünïcödé 🐋 and <|endoftext|> 2024!";
        assertEquals(unseen, back.decode(back.encode(unseen)));
        assertEquals(2047, back.encode("<|endoftext|>")[0]);
    }

    @Test
    void trainingIsDeterministic() {
        String text = Corpora.embeddedKjv().substring(0, 200_000);
        BpeTokenizer a = BpeTrainer.train(text, 700);
        BpeTokenizer b = BpeTrainer.train(text, 700);
        for (int id = 0; id < 700; id++) {
            assertEquals(a.token(id), b.token(id));
        }
    }

    @Test
    void stopsEarlyWhenPairsRunOutAndChecksTheSize() {
        BpeTokenizer t = BpeTrainer.train("ab ab ab cd", 1000);
        assertTrue(t.vocabSize() < 270, "only a few pairs repeat: " + t.vocabSize());
        assertEquals(t.vocabSize() - 1, t.eosId().getAsInt());
        assertThrows(IllegalArgumentException.class, () -> new BpeTrainer(256, List.of("<|endoftext|>")));
    }

    /** Recounts every pair of every word before each merge; ties to the smaller (left, right) id pair. */
    static List<String> naiveMerges(String corpus, int newTokens) {
        Map<String, Integer> freq = new HashMap<>();
        for (String seg : corpus.split("<\\|endoftext\\|>", -1)) {
            PreTokenizer.Gpt2.INSTANCE.split(seg, 0, seg.length(), (a, b) -> freq.merge(seg.substring(a, b), 1, Integer::sum));
        }
        List<String> tokens = new ArrayList<>();
        Map<String, Integer> ids = new HashMap<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevel.BYTE_TO_CHAR[b]));
            ids.put(tokens.get(b), b);
        }
        List<int[]> words = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        freq.forEach((w, c) -> {
            byte[] bytes = w.getBytes(StandardCharsets.UTF_8);
            int[] s = new int[bytes.length];
            for (int k = 0; k < s.length; k++) {
                s[k] = bytes[k] & 0xff;
            }
            words.add(s);
            counts.add(c);
        });
        List<String> merges = new ArrayList<>();
        while (tokens.size() < 256 + newTokens) { // a string made twice adds a merge but no token
            Map<Long, Long> pairs = new HashMap<>();
            for (int i = 0; i < words.size(); i++) {
                int[] s = words.get(i);
                for (int k = 0; k + 1 < s.length; k++) {
                    pairs.merge(((long) s[k] << 32) | s[k + 1], (long) counts.get(i), Long::sum);
                }
            }
            long best = -1;
            long bestCount = 0;
            for (Map.Entry<Long, Long> e : pairs.entrySet()) {
                if (e.getValue() > bestCount || (e.getValue() == bestCount && e.getKey() < best)) {
                    best = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (bestCount < 1) {
                break;
            }
            int a = (int) (best >>> 32);
            int b = (int) best;
            String merged = tokens.get(a) + tokens.get(b);
            Integer into = ids.get(merged);
            if (into == null) {
                into = tokens.size();
                tokens.add(merged);
                ids.put(merged, into);
            }
            merges.add(tokens.get(a) + " " + tokens.get(b));
            for (int i = 0; i < words.size(); i++) {
                int[] s = words.get(i);
                int[] out = new int[s.length];
                int w = 0;
                for (int k = 0; k < s.length; ) {
                    if (k + 1 < s.length && s[k] == a && s[k + 1] == b) {
                        out[w++] = into;
                        k += 2;
                    } else {
                        out[w++] = s[k++];
                    }
                }
                words.set(i, java.util.Arrays.copyOf(out, w));
            }
        }
        return merges;
    }

    private static String readMoby() {
        try {
            return Files.readString(Path.of("src/test/resources/tokenizers/hf/moby.txt"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
