package ai.anvil.data.tokenizer;

import ai.anvil.data.tokenizer.BpeTokenizer.AddedToken;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Learns a byte-level BPE vocabulary from a corpus, as GPT-2's was learned: the corpus is split with GPT-2's
 * pre-tokenizer (special tokens removed first), each distinct piece becomes a word of byte tokens weighted by
 * its count, and the most frequent adjacent pair is merged until the vocabulary is full. Pair counts are kept
 * incrementally: a merge visits only the words that hold the pair and adjusts the counts of the pairs around
 * each occurrence, and a heap with lazy re-checks yields the next most frequent pair.
 *
 * <p>Ids: 0..255 are the bytes (id = byte value), then one id per new token in merge order, then the special
 * tokens. Ties between equally frequent pairs go to the pair of smaller ids (left, then right), so training
 * is deterministic.
 */
public final class BpeTrainer {
    private static final Logger log = LoggerFactory.getLogger(BpeTrainer.class);
    private static final long PAIR_MIX = 0x9E3779B97F4A7C15L;
    private static final long PAIR_UNMIX = 0xF1DE83E19937733DL; // PAIR_MIX * PAIR_UNMIX == 1 (mod 2^64)

    private final int vocabSize;
    private final List<String> specialTokens;
    private int minFrequency = 2;

    /**
     * @param vocabSize     the size of the vocabulary to learn, special tokens included; at least 256 + their count
     * @param specialTokens added tokens placed at the end of the vocabulary, e.g. {@code <|endoftext|>}
     */
    public BpeTrainer(int vocabSize, List<String> specialTokens) {
        if (vocabSize < 256 + specialTokens.size()) {
            throw new IllegalArgumentException("vocabSize " + vocabSize + " is smaller than the 256 byte tokens plus "
                    + specialTokens.size() + " special tokens");
        }
        this.vocabSize = vocabSize;
        this.specialTokens = List.copyOf(specialTokens);
    }

    /** Pairs seen fewer times than this are never merged, so training may stop below vocabSize. Default 2. */
    public BpeTrainer minFrequency(int n) {
        this.minFrequency = Math.max(1, n);
        return this;
    }

    /** A vocabulary of {@code vocabSize} (with {@code <|endoftext|>} as its last token) learned from {@code corpus}. */
    public static BpeTokenizer train(String corpus, int vocabSize) {
        return new BpeTrainer(vocabSize, List.of("<|endoftext|>")).train(corpus);
    }

    public BpeTokenizer train(String corpus) {
        long t0 = System.nanoTime();
        Map<String, int[]> counts = countPieces(corpus);
        int nw = counts.size();
        int[][] words = new int[nw][];
        long[] freq = new long[nw];
        int w = 0;
        for (Map.Entry<String, int[]> e : counts.entrySet()) {
            byte[] b = e.getKey().getBytes(StandardCharsets.UTF_8);
            int[] sym = new int[b.length];
            for (int k = 0; k < b.length; k++) {
                sym[k] = b[k] & 0xff;
            }
            words[w] = sym;
            freq[w++] = e.getValue()[0];
        }
        int[] len = new int[nw];
        Map<Long, long[]> pairCount = new HashMap<>();
        Map<Long, WordList> where = new HashMap<>();
        for (int i = 0; i < nw; i++) {
            len[i] = words[i].length;
            for (int k = 0; k + 1 < len[i]; k++) {
                long p = pair(words[i][k], words[i][k + 1]);
                pairCount.computeIfAbsent(p, x -> new long[1])[0] += freq[i];
                where.computeIfAbsent(p, x -> new WordList()).add(i);
            }
        }
        // Heap entries: {count, pair}; most frequent first, then smaller pair.
        PriorityQueue<long[]> heap = new PriorityQueue<>((a, b) -> a[0] != b[0] ? Long.compare(b[0], a[0])
                : Long.compare(unmix(a[1]), unmix(b[1])));
        pairCount.forEach((p, c) -> heap.add(new long[] {c[0], p}));

        List<String> tokens = new ArrayList<>(vocabSize);
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevel.BYTE_TO_CHAR[b]));
        }
        Map<String, Integer> ids = new HashMap<>();
        for (int id = 0; id < tokens.size(); id++) {
            ids.put(tokens.get(id), id);
        }
        List<int[]> merges = new ArrayList<>();
        int target = vocabSize - specialTokens.size();
        Map<Long, long[]> changed = new HashMap<>();
        while (tokens.size() < target && !heap.isEmpty()) {
            long[] top = heap.poll();
            long[] now = pairCount.get(top[1]);
            long current = now == null ? 0 : now[0];
            if (current != top[0]) {
                if (current > 0) {
                    heap.add(new long[] {current, top[1]}); // stale entry: requeue with the true count
                }
                continue;
            }
            if (current < minFrequency) {
                break;
            }
            int a = left(top[1]);
            int b = right(top[1]);
            String merged = tokens.get(a) + tokens.get(b);
            Integer existing = ids.get(merged);
            int into;
            if (existing != null) {
                into = existing; // the same string was already made from another split of it
            } else {
                into = tokens.size();
                tokens.add(merged);
                ids.put(merged, into);
            }
            merges.add(new int[] {a, b});
            changed.clear();
            WordList holders = where.remove(top[1]);
            for (int k = 0; k < holders.size(); k++) {
                int i = holders.get(k);
                len[i] = mergeWord(words[i], len[i], a, b, into, freq[i], i, pairCount, where, changed);
            }
            pairCount.remove(top[1]);
            changed.forEach((p, c) -> {
                long[] pc = pairCount.get(p);
                if (pc != null && pc[0] > 0) {
                    heap.add(new long[] {pc[0], p});
                }
            });
        }
        if (tokens.size() < target) {
            log.warn("BPE training stopped at {} tokens of {}: no pair occurs {} times or more", tokens.size(), target,
                    minFrequency);
        }
        List<AddedToken> added = new ArrayList<>();
        for (String s : specialTokens) {
            added.add(new AddedToken(tokens.size(), s, true, false, false));
            tokens.add(ByteLevel.decode(s) != null && !ids.containsKey(s) ? s : null);
        }
        log.info("trained BPE: {} distinct pieces, {} merges, vocabulary {} in {} ms", nw, merges.size(), tokens.size(),
                (System.nanoTime() - t0) / 1_000_000);
        return new BpeTokenizer(tokens.toArray(new String[0]), merges.toArray(new int[0][]), added,
                PreTokenizer.Gpt2.INSTANCE, false, false, null, "trained BPE");
    }

    /**
     * Replaces each occurrence of (a, b) in {@code sym[0, n)} by {@code into}, left to right, and moves the
     * counts of the pairs around it; returns the new length. For "x a b y": (x,a), (a,b), (b,y) lose
     * {@code f}, (x,into), (into,y) gain it; when the left neighbour is itself a fresh {@code into}, its
     * pair was counted a moment ago and is moved the same way, which keeps the counts exact.
     */
    private static int mergeWord(int[] sym, int n, int a, int b, int into, long f, int word, Map<Long, long[]> pairCount,
                                 Map<Long, WordList> where, Map<Long, long[]> changed) {
        int w = 0;
        int k = 0;
        while (k < n) {
            if (k + 1 < n && sym[k] == a && sym[k + 1] == b) {
                if (w > 0) {
                    add(pair(sym[w - 1], a), -f, pairCount, changed);
                    add(pair(sym[w - 1], into), f, pairCount, changed);
                    where.computeIfAbsent(pair(sym[w - 1], into), x -> new WordList()).add(word);
                }
                if (k + 2 < n) {
                    add(pair(b, sym[k + 2]), -f, pairCount, changed);
                    add(pair(into, sym[k + 2]), f, pairCount, changed);
                    where.computeIfAbsent(pair(into, sym[k + 2]), x -> new WordList()).add(word);
                }
                sym[w++] = into;
                k += 2;
            } else {
                sym[w++] = sym[k++];
            }
        }
        return w;
    }

    private static void add(long p, long delta, Map<Long, long[]> pairCount, Map<Long, long[]> changed) {
        long[] c = pairCount.computeIfAbsent(p, x -> new long[1]);
        c[0] += delta;
        if (delta > 0) {
            changed.put(p, c);
        }
    }

    /** Distinct pre-tokenized pieces of the corpus and their counts; special tokens are cut out first. */
    private Map<String, int[]> countPieces(String corpus) {
        Map<String, int[]> counts = new HashMap<>();
        List<int[]> segments = new ArrayList<>();
        if (specialTokens.isEmpty()) {
            segments.add(new int[] {0, corpus.length()});
        } else {
            Matcher m = Pattern.compile(specialTokens.stream().map(Pattern::quote)
                    .collect(Collectors.joining("|"))).matcher(corpus);
            int last = 0;
            while (m.find()) {
                segments.add(new int[] {last, m.start()});
                last = m.end();
            }
            segments.add(new int[] {last, corpus.length()});
        }
        for (int[] s : segments) {
            PreTokenizer.Gpt2.INSTANCE.split(corpus, s[0], s[1],
                    (x, y) -> counts.computeIfAbsent(corpus.substring(x, y), z -> new int[1])[0]++);
        }
        return counts;
    }

    /**
     * A pair of ids as a map key. The plain {@code a << 32 | b} hashes to {@code a ^ b} in a {@code Long}, which
     * collides badly, so the key is multiplied by an odd constant (a bijection; {@link #left}, {@link #right}
     * undo it).
     */
    private static long pair(int a, int b) {
        return (((long) a << 32) | (b & 0xffffffffL)) * PAIR_MIX;
    }

    private static long unmix(long key) {
        return key * PAIR_UNMIX;
    }

    private static int left(long key) {
        return (int) (unmix(key) >>> 32);
    }

    private static int right(long key) {
        return (int) unmix(key);
    }

    /**
     * The words that hold a pair. A word may be listed more than once (or no longer hold the pair): merging a
     * word that lacks the pair changes nothing, so only cost is at stake, and adjacent repeats are skipped.
     */
    static final class WordList {
        private int[] a = new int[4];
        private int n;

        void add(int v) {
            if (n > 0 && a[n - 1] == v) {
                return; // the common repeat: the same word adding the same pair again
            }
            if (n == a.length) {
                a = Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        int size() {
            return n;
        }

        int get(int k) {
            return a[k];
        }
    }
}
