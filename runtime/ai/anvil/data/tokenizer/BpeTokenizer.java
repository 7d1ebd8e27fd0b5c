package ai.anvil.data.tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Byte-level BPE as GPT-2 defines it: text is split by a pre-tokenizer (GPT-2's pattern), each piece's
 * UTF-8 bytes start as one token each and are merged pairwise, lowest-ranked merge first, until no listed
 * merge applies. Added tokens (such as {@code <|endoftext|>}) written in the text are matched before anything
 * else. Reads GPT-2's {@code vocab.json} + {@code merges.txt} (alias {@code encoder.json} + {@code vocab.bpe})
 * and Hugging Face {@code tokenizer.json} files whose model is BPE with a byte-level pre-tokenizer; writes
 * {@code tokenizer.json}; {@link BpeTrainer} learns new vocabularies.
 *
 * <p>Encoded pieces are cached (a piece recurs often in natural text); the cache is shared by threads and
 * dropped when it reaches {@value #CACHE_LIMIT} entries.
 */
public final class BpeTokenizer implements Tokenizer {
    static final int CACHE_LIMIT = 1 << 18;
    /** Pieces longer than this many bytes merge through a heap instead of repeated scans. */
    static final int LONG_PIECE = 64;
    private static final List<String> EOS_NAMES = List.of("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>");

    /** A token matched in the text before pre-tokenization. */
    public record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip) {}

    private final String[] tokens;            // id -> byte-level string, null for ids only an added token uses
    private final Map<String, Integer> vocab; // byte-level string -> id
    private final byte[][] tokenBytes;        // id -> decoded bytes
    private final int[] byteToId = new int[256];
    private final MergeTable merges;
    private final List<AddedToken> added;
    private final Pattern addedPattern;
    private final Map<String, AddedToken> addedByContent = new LinkedHashMap<>();
    private final PreTokenizer pre;
    private final boolean addPrefixSpace;
    private final boolean ignoreMerges;
    private final Normalizer.Form normalization;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param tokens       id -> byte-level token (nulls allowed where an added token has the id)
     * @param mergePairs   merges in rank order, each {left id, right id}
     * @param normalization null, or a Unicode normalization applied before everything (HF NFC/NFKC normalizers)
     * @param source       names the origin in error messages
     */
    BpeTokenizer(String[] tokens, int[][] mergePairs, List<AddedToken> added, PreTokenizer pre, boolean addPrefixSpace,
                 boolean ignoreMerges, Normalizer.Form normalization, String source) {
        int size = tokens.length;
        for (AddedToken a : added) {
            size = Math.max(size, a.id() + 1);
        }
        this.tokens = Arrays.copyOf(tokens, size);
        this.vocab = new HashMap<>(size * 2);
        this.tokenBytes = new byte[size][];
        for (int id = 0; id < tokens.length; id++) {
            String t = tokens[id];
            if (t == null) {
                continue;
            }
            if (vocab.put(t, id) != null) {
                throw new IllegalArgumentException(source + ": token '" + t + "' appears twice in the vocabulary");
            }
            tokenBytes[id] = ByteLevel.decode(t);
        }
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.valueOf(ByteLevel.BYTE_TO_CHAR[b]));
            if (id == null) {
                throw new IllegalArgumentException(String.format("%s: the vocabulary has no token for byte 0x%02x,"
                        + " so it is not a byte-level BPE vocabulary", source, b));
            }
            byteToId[b] = id;
        }
        int[] l = new int[mergePairs.length];
        int[] r = new int[mergePairs.length];
        int[] res = new int[mergePairs.length];
        for (int k = 0; k < mergePairs.length; k++) {
            l[k] = mergePairs[k][0];
            r[k] = mergePairs[k][1];
            Integer m = vocab.get(tokens[l[k]] + tokens[r[k]]);
            if (m == null) {
                throw new IllegalArgumentException(source + ": merge " + k + " ('" + tokens[l[k]] + "' '" + tokens[r[k]]
                        + "') makes a token that is not in the vocabulary");
            }
            res[k] = m;
        }
        this.merges = new MergeTable(l, r, res);
        this.added = List.copyOf(added);
        for (AddedToken a : added) {
            addedByContent.put(a.content(), a);
            if (tokenBytes[a.id()] == null) {
                tokenBytes[a.id()] = a.content().getBytes(StandardCharsets.UTF_8);
            }
        }
        this.addedPattern = added.isEmpty() ? null : Pattern.compile(added.stream().map(AddedToken::content)
                .sorted(Comparator.comparingInt(String::length).reversed()).map(Pattern::quote)
                .collect(Collectors.joining("|")));
        this.pre = pre;
        this.addPrefixSpace = addPrefixSpace;
        this.ignoreMerges = ignoreMerges;
        this.normalization = normalization;
    }

    /** GPT-2's files: {@code vocab.json} (or {@code encoder.json}) and {@code merges.txt} (or {@code vocab.bpe}). */
    public static BpeTokenizer fromGpt2Files(Path vocabJson, Path mergesTxt) throws IOException {
        return BpeFiles.readGpt2(vocabJson, mergesTxt);
    }

    /** A Hugging Face {@code tokenizer.json} with a BPE model and a byte-level pre-tokenizer. */
    public static BpeTokenizer fromHuggingFace(Path tokenizerJson) throws IOException {
        return BpeFiles.readHuggingFace(tokenizerJson);
    }

    /**
     * A {@code tokenizer.json} file, or a folder holding {@code tokenizer.json}, {@code vocab.json} +
     * {@code merges.txt}, or {@code encoder.json} + {@code vocab.bpe} (looked for in that order).
     */
    public static BpeTokenizer load(Path fileOrFolder) throws IOException {
        return BpeFiles.load(fileOrFolder);
    }

    /**
     * GPT-2's tokenizer from the fetch cache ({@code <cacheDir>/tokenizers/gpt2}, which {@code anvil fetch
     * gpt2-tokenizer} fills).
     *
     * @throws IllegalStateException when it has not been fetched
     */
    public static BpeTokenizer gpt2(Path cacheDir) throws IOException {
        Path dir = cacheDir.resolve("tokenizers").resolve("gpt2");
        if (!Files.isRegularFile(dir.resolve("encoder.json")) || !Files.isRegularFile(dir.resolve("vocab.bpe"))) {
            throw new IllegalStateException("GPT-2's tokenizer is not in the cache " + cacheDir
                    + "; run 'anvil fetch gpt2-tokenizer' first");
        }
        return fromGpt2Files(dir.resolve("encoder.json"), dir.resolve("vocab.bpe"));
    }

    /**
     * Learns a vocabulary of {@code vocabSize} tokens from {@code corpus}, {@code <|endoftext|>} last; see
     * {@link BpeTrainer} for the options.
     */
    public static BpeTokenizer train(String corpus, int vocabSize) {
        return BpeTrainer.train(corpus, vocabSize);
    }

    @Override
    public int[] encode(String text) {
        if (normalization != null) {
            text = Normalizer.normalize(text, normalization);
        }
        IntList out = new IntList(Math.max(16, text.length() / 3));
        if (addedPattern == null) {
            encodeSegment(text, 0, text.length(), out);
            return out.toArray();
        }
        Matcher m = addedPattern.matcher(text);
        int last = 0;
        while (m.find()) {
            AddedToken a = addedByContent.get(m.group());
            int end = m.start();
            if (a.lstrip()) {
                while (end > last && Character.isWhitespace(text.charAt(end - 1))) {
                    end--;
                }
            }
            encodeSegment(text, last, end, out);
            out.add(a.id());
            last = m.end();
            if (a.rstrip()) {
                while (last < text.length() && Character.isWhitespace(text.charAt(last))) {
                    last++;
                }
            }
        }
        encodeSegment(text, last, text.length(), out);
        return out.toArray();
    }

    /** The ids of {@code text} with added tokens treated as ordinary text (GPT-2's {@code encode}). */
    public int[] encodeOrdinary(String text) {
        if (normalization != null) {
            text = Normalizer.normalize(text, normalization);
        }
        IntList out = new IntList(Math.max(16, text.length() / 3));
        encodeSegment(text, 0, text.length(), out);
        return out.toArray();
    }

    private void encodeSegment(String text, int from, int to, IntList out) {
        if (from >= to) {
            return;
        }
        if (addPrefixSpace && text.charAt(from) != ' ') {
            String s = " " + text.substring(from, to);
            pre.split(s, 0, s.length(), (a, b) -> encodePiece(s, a, b, out));
        } else {
            pre.split(text, from, to, (a, b) -> encodePiece(text, a, b, out));
        }
    }

    private void encodePiece(String text, int a, int b, IntList out) {
        String piece = text.substring(a, b);
        int[] ids = cache.get(piece);
        if (ids == null) {
            ids = bpe(piece.getBytes(StandardCharsets.UTF_8));
            if (cache.size() >= CACHE_LIMIT) {
                cache.clear();
            }
            cache.put(piece, ids);
        }
        out.addAll(ids);
    }

    /** BPE of one piece's bytes. */
    int[] bpe(byte[] bytes) {
        int n = bytes.length;
        if (ignoreMerges) {
            Integer whole = vocab.get(ByteLevel.encode(bytes, 0, n));
            if (whole != null) {
                return new int[] {whole};
            }
        }
        int[] sym = new int[n];
        for (int k = 0; k < n; k++) {
            sym[k] = byteToId[bytes[k] & 0xff];
        }
        if (n > LONG_PIECE) {
            return bpeHeap(sym);
        }
        while (n > 1) {
            int best = Integer.MAX_VALUE;
            int at = -1;
            for (int k = 0; k + 1 < n; k++) {
                int r = merges.rank(sym[k], sym[k + 1]);
                if (r >= 0 && r < best) {
                    best = r;
                    at = k;
                }
            }
            if (at < 0) {
                break;
            }
            // Merge every occurrence of the pair, left to right, as GPT-2's bpe() does.
            int left = merges.left(best);
            int right = merges.right(best);
            int into = merges.result(best);
            int w = at;
            for (int k = at; k < n; ) {
                if (k + 1 < n && sym[k] == left && sym[k + 1] == right) {
                    sym[w++] = into;
                    k += 2;
                } else {
                    sym[w++] = sym[k++];
                }
            }
            n = w;
        }
        return n == sym.length ? sym : Arrays.copyOf(sym, n);
    }

    /**
     * BPE of a long piece in O(n log n): symbols in a linked list, candidate merges in a heap ordered by rank
     * then position, so the leftmost lowest-ranked pair merges first (the same result as {@link #bpe}'s scans).
     */
    int[] bpeHeap(int[] sym) {
        int n = sym.length;
        int[] next = new int[n];
        int[] prev = new int[n];
        boolean[] dead = new boolean[n];
        LongHeap heap = new LongHeap(n);
        for (int k = 0; k < n; k++) {
            next[k] = k + 1 < n ? k + 1 : -1;
            prev[k] = k - 1;
            if (k + 1 < n) {
                int r = merges.rank(sym[k], sym[k + 1]);
                if (r >= 0) {
                    heap.push(((long) r << 32) | k);
                }
            }
        }
        while (!heap.isEmpty()) {
            long e = heap.pop();
            int r = (int) (e >>> 32);
            int k = (int) e;
            int j = dead[k] ? -1 : next[k];
            if (j < 0 || merges.rank(sym[k], sym[j]) != r) {
                continue; // stale: the pair changed since it was pushed
            }
            sym[k] = merges.result(r);
            dead[j] = true;
            next[k] = next[j];
            if (next[j] >= 0) {
                prev[next[j]] = k;
            }
            if (prev[k] >= 0) {
                int rp = merges.rank(sym[prev[k]], sym[k]);
                if (rp >= 0) {
                    heap.push(((long) rp << 32) | prev[k]);
                }
            }
            if (next[k] >= 0) {
                int rn = merges.rank(sym[k], sym[next[k]]);
                if (rn >= 0) {
                    heap.push(((long) rn << 32) | k);
                }
            }
        }
        IntList out = new IntList(n);
        for (int k = 0; k >= 0; k = next[k]) {
            out.add(sym[k]);
        }
        return out.toArray();
    }

    @Override
    public String decode(int[] ids) {
        return new String(decodeBytes(ids), StandardCharsets.UTF_8);
    }

    @Override
    public byte[] decodeBytes(int[] ids) {
        int len = 0;
        for (int k = 0; k < ids.length; k++) {
            len += bytesOf(ids[k], k).length;
        }
        byte[] out = new byte[len];
        int p = 0;
        for (int k = 0; k < ids.length; k++) {
            byte[] b = bytesOf(ids[k], k);
            System.arraycopy(b, 0, out, p, b.length);
            p += b.length;
        }
        return out;
    }

    private byte[] bytesOf(int id, int position) {
        if (id < 0 || id >= tokenBytes.length || tokenBytes[id] == null) {
            throw new IllegalArgumentException("id " + id + " at position " + position + " is not in the vocabulary of "
                    + tokenBytes.length);
        }
        return tokenBytes[id];
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public OptionalInt eosId() {
        for (String name : EOS_NAMES) {
            AddedToken a = addedByContent.get(name);
            if (a != null) {
                return OptionalInt.of(a.id());
            }
        }
        return OptionalInt.empty();
    }

    @Override
    public Map<String, Integer> specialTokens() {
        Map<String, Integer> m = new LinkedHashMap<>();
        for (AddedToken a : added) {
            if (a.special()) {
                m.put(a.content(), a.id());
            }
        }
        return Collections.unmodifiableMap(m);
    }

    /** The byte-level string of a token id (its added-token text for added tokens). */
    public String token(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new IllegalArgumentException("id " + id + " is outside the vocabulary [0, " + tokens.length + ")");
        }
        return tokens[id] != null ? tokens[id] : addedToken(id);
    }

    /** The id of a byte-level token string or added token, or -1. */
    public int id(String token) {
        Integer id = vocab.get(token);
        if (id != null) {
            return id;
        }
        AddedToken a = addedByContent.get(token);
        return a == null ? -1 : a.id();
    }

    public int mergeCount() {
        return merges.size();
    }

    public List<AddedToken> addedTokens() {
        return added;
    }

    private String addedToken(int id) {
        for (AddedToken a : added) {
            if (a.id() == id) {
                return a.content();
            }
        }
        return null;
    }

    /** Writes a Hugging Face {@code tokenizer.json} (merges as "left right" strings, readable by every version). */
    @Override
    public void save(Path file) throws IOException {
        Files.writeString(file, BpeFiles.toHuggingFaceJson(this), StandardCharsets.UTF_8);
    }

    // Read-only views for BpeFiles.
    String[] tokensView() {
        return tokens;
    }

    MergeTable mergesView() {
        return merges;
    }

    PreTokenizer preTokenizer() {
        return pre;
    }

    boolean addPrefixSpace() {
        return addPrefixSpace;
    }

    boolean ignoreMerges() {
        return ignoreMerges;
    }

    Normalizer.Form normalization() {
        return normalization;
    }

    /** A growable int array. */
    static final class IntList {
        private int[] a;
        private int n;

        IntList(int capacity) {
            a = new int[Math.max(1, capacity)];
        }

        void add(int v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, a.length * 2);
            }
            a[n++] = v;
        }

        void addAll(int[] v) {
            if (n + v.length > a.length) {
                a = Arrays.copyOf(a, Math.max(a.length * 2, n + v.length));
            }
            System.arraycopy(v, 0, a, n, v.length);
            n += v.length;
        }

        int size() {
            return n;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }

    /** A binary min-heap of longs. */
    static final class LongHeap {
        private long[] h;
        private int n;

        LongHeap(int capacity) {
            h = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return n == 0;
        }

        void push(long v) {
            if (n == h.length) {
                h = Arrays.copyOf(h, n * 2);
            }
            int k = n++;
            while (k > 0) {
                int p = (k - 1) >>> 1;
                if (h[p] <= v) {
                    break;
                }
                h[k] = h[p];
                k = p;
            }
            h[k] = v;
        }

        long pop() {
            long top = h[0];
            long v = h[--n];
            int k = 0;
            while (true) {
                int c = 2 * k + 1;
                if (c >= n) {
                    break;
                }
                if (c + 1 < n && h[c + 1] < h[c]) {
                    c++;
                }
                if (v <= h[c]) {
                    break;
                }
                h[k] = h[c];
                k = c;
            }
            h[k] = v;
            return top;
        }
    }

    @Override
    public String toString() {
        return "BpeTokenizer(vocab " + vocabSize() + ", merges " + merges.size() + ", added " + added.size() + ")";
    }

    /** The added tokens sorted by id, for writing. */
    List<AddedToken> addedById() {
        List<AddedToken> l = new ArrayList<>(added);
        l.sort(Comparator.comparingInt(AddedToken::id));
        return l;
    }
}
