package ai.anvil.data.tokenizer;

import ai.anvil.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * BERT's WordPiece tokenizer read from a Hugging Face {@code tokenizer.json}, giving the ids HF
 * {@code tokenizers} gives: added (special) tokens are cut out of the raw text first; the rest is
 * normalized and pre-tokenized by {@link BertText}; each word becomes the greedy longest-match-first
 * pieces of the vocabulary (continuations carry the {@code ##} prefix), or the unknown token when some
 * part matches nothing or the word is longer than {@code max_input_chars_per_word}; finally the
 * post-processor's template wraps the ids ({@code [CLS] A [SEP]}, {@code [CLS] A [SEP] B [SEP]}).
 *
 * <p>{@link #encode(String)} adds the template's special tokens, as HF's {@code encode} does by default;
 * the padding and truncation settings of the file are not applied (use {@link #encode(String, int)}).
 * {@link #decode} drops special tokens and joins pieces as HF's WordPiece decoder does.
 */
public final class WordPieceTokenizer implements Tokenizer {
    /** Ids and token-type ids (segment A = 0, B = 1 in BERT's template) of one model input. */
    public record Encoding(int[] ids, int[] typeIds) {}

    /** One item of a TemplateProcessing template: a special token, or sequence A or B. */
    private record Piece(boolean special, String id, int typeId) {}

    private record Added(int id, String content, boolean special) {}

    private final String[] tokens;
    private final Map<String, Integer> vocab;
    private final int unkId;
    private final String prefix;
    private final int maxInputChars;
    private final BertText normalizer;
    private final List<Added> added;
    private final Map<String, Added> addedByContent = new HashMap<>();
    private final List<Piece> single;
    private final List<Piece> pair;
    private final Map<String, int[]> templateTokens;
    private final boolean decodeCleanup;
    private final String source;

    private WordPieceTokenizer(String[] tokens, String unk, String prefix, int maxInputChars, BertText normalizer,
                               List<Added> added, List<Piece> single, List<Piece> pair, Map<String, int[]> templateTokens,
                               boolean decodeCleanup, String source) {
        this.tokens = tokens;
        this.vocab = new HashMap<>(tokens.length * 2);
        for (int id = 0; id < tokens.length; id++) {
            if (tokens[id] != null && vocab.put(tokens[id], id) != null) {
                throw new IllegalArgumentException(source + ": token '" + tokens[id] + "' appears twice in the vocabulary");
            }
        }
        Integer u = vocab.get(unk);
        if (u == null) {
            throw new IllegalArgumentException(source + ": the unknown token '" + unk + "' is not in the vocabulary");
        }
        this.unkId = u;
        this.prefix = prefix;
        if (maxInputChars < 1) {
            throw new IllegalArgumentException(source + ": max_input_chars_per_word must be >= 1, got " + maxInputChars);
        }
        this.maxInputChars = maxInputChars;
        this.normalizer = normalizer;
        // Longest first, so "[MASK]x" never matches a shorter token that is a prefix of a longer one.
        List<Added> sorted = new ArrayList<>(added);
        sorted.sort(Comparator.comparingInt((Added a) -> a.content().length()).reversed());
        this.added = List.copyOf(sorted);
        for (Added a : added) {
            if (a.id() < 0 || a.id() >= tokens.length || !a.content().equals(tokens[a.id()])) {
                throw new IllegalArgumentException(source + ": added token '" + a.content() + "' (id " + a.id()
                        + ") is not that entry of the vocabulary");
            }
            addedByContent.put(a.content(), a);
        }
        this.single = List.copyOf(single);
        this.pair = List.copyOf(pair);
        this.templateTokens = Map.copyOf(templateTokens);
        for (Piece p : concat(single, pair)) {
            if (p.special() && !templateTokens.containsKey(p.id())) {
                throw new IllegalArgumentException(source + ": the template names special token " + p.id()
                        + " that post_processor.special_tokens does not define");
            }
        }
        this.decodeCleanup = decodeCleanup;
        this.source = source;
    }

    private static List<Piece> concat(List<Piece> a, List<Piece> b) {
        List<Piece> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

    // ---- reading tokenizer.json --------------------------------------------------------------------

    /** A Hugging Face {@code tokenizer.json} whose model is WordPiece. */
    public static WordPieceTokenizer fromHuggingFace(Path tokenizerJson) throws IOException {
        return fromHuggingFace(Json.parse(BpeFiles.read(tokenizerJson), tokenizerJson.toString()), tokenizerJson.toString());
    }

    /** Whether a parsed tokenizer.json has a WordPiece model. */
    static boolean isWordPiece(Object parsed) {
        return parsed instanceof Map<?, ?> m && m.get("model") instanceof Map<?, ?> model && "WordPiece".equals(model.get("type"));
    }

    /** A parsed tokenizer.json; {@code src} names it in errors. */
    static WordPieceTokenizer fromHuggingFace(Object parsed, String src) {
        Map<?, ?> root = map(parsed, src);
        Map<?, ?> model = map(root.get("model"), src + ": \"model\"");
        if (!"WordPiece".equals(model.get("type"))) {
            throw new IllegalArgumentException(src + ": model type " + model.get("type") + " is not WordPiece");
        }
        Map<?, ?> vocabJson = map(model.get("vocab"), src + ": model.vocab");
        int size = 0;
        for (Object id : vocabJson.values()) {
            size = Math.max(size, Math.toIntExact(integer(id, src + ": model.vocab id")) + 1);
        }
        String[] tokens = new String[size];
        for (Map.Entry<?, ?> e : vocabJson.entrySet()) {
            int id = (int) integer(e.getValue(), src + ": model.vocab id");
            if (id < 0 || tokens[id] != null) {
                throw new IllegalArgumentException(src + ": vocabulary id " + id + " is negative or used twice");
            }
            tokens[id] = (String) e.getKey();
        }
        String unk = string(model.get("unk_token"), "[UNK]");
        String prefix = string(model.get("continuing_subword_prefix"), "##");
        int maxChars = model.get("max_input_chars_per_word") == null ? 100
                : (int) integer(model.get("max_input_chars_per_word"), src + ": max_input_chars_per_word");

        List<Added> added = new ArrayList<>();
        if (root.get("added_tokens") instanceof List<?> list) {
            for (int k = 0; k < list.size(); k++) {
                Map<?, ?> a = map(list.get(k), src + ": added_tokens[" + k + "]");
                String content = (String) a.get("content");
                for (String flag : new String[] {"single_word", "lstrip", "rstrip", "normalized"}) {
                    if (Boolean.TRUE.equals(a.get(flag))) {
                        throw new IllegalArgumentException(src + ": added token '" + content + "' sets " + flag
                                + ", which this tokenizer does not support");
                    }
                }
                added.add(new Added((int) integer(a.get("id"), src + ": added_tokens[" + k + "].id"), content,
                        Boolean.TRUE.equals(a.get("special"))));
            }
        }
        BertText normalizer = normalizer(root.get("normalizer"), src);
        Object pre = root.get("pre_tokenizer");
        if (pre != null && !"BertPreTokenizer".equals(map(pre, src + ": pre_tokenizer").get("type"))) {
            throw new IllegalArgumentException(src + ": pre_tokenizer " + ((Map<?, ?>) pre).get("type")
                    + " is not supported, only BertPreTokenizer");
        }
        boolean cleanup = true;
        if (root.get("decoder") instanceof Map<?, ?> dec) {
            if (!"WordPiece".equals(dec.get("type"))) {
                throw new IllegalArgumentException(src + ": decoder " + dec.get("type") + " is not supported, only WordPiece");
            }
            cleanup = !Boolean.FALSE.equals(dec.get("cleanup"));
        }
        List<Piece> single = new ArrayList<>(), pair = new ArrayList<>();
        Map<String, int[]> special = new HashMap<>();
        template(root.get("post_processor"), src, single, pair, special);
        return new WordPieceTokenizer(tokens, unk, prefix, maxChars, normalizer, added, single, pair, special, cleanup, src);
    }

    private static BertText normalizer(Object n, String src) {
        if (n == null) {
            return null;
        }
        Map<?, ?> m = map(n, src + ": normalizer");
        if (!"BertNormalizer".equals(m.get("type"))) {
            throw new IllegalArgumentException(src + ": normalizer " + m.get("type") + " is not supported, only BertNormalizer");
        }
        boolean lowercase = !Boolean.FALSE.equals(m.get("lowercase"));
        Object strip = m.get("strip_accents");
        return new BertText(!Boolean.FALSE.equals(m.get("clean_text")), !Boolean.FALSE.equals(m.get("handle_chinese_chars")),
                strip == null ? lowercase : Boolean.TRUE.equals(strip), lowercase);
    }

    /** TemplateProcessing (or the older BertProcessing) into single/pair pieces and special-token ids. */
    private static void template(Object p, String src, List<Piece> single, List<Piece> pair, Map<String, int[]> special) {
        if (p == null) {
            single.add(new Piece(false, "A", 0));
            pair.add(new Piece(false, "A", 0));
            pair.add(new Piece(false, "B", 1));
            return;
        }
        Map<?, ?> m = map(p, src + ": post_processor");
        if ("BertProcessing".equals(m.get("type"))) {
            List<?> cls = (List<?>) m.get("cls"), sep = (List<?>) m.get("sep");
            special.put((String) cls.get(0), new int[] {(int) integer(cls.get(1), src + ": cls")});
            special.put((String) sep.get(0), new int[] {(int) integer(sep.get(1), src + ": sep")});
            single.addAll(List.of(new Piece(true, (String) cls.get(0), 0), new Piece(false, "A", 0),
                    new Piece(true, (String) sep.get(0), 0)));
            pair.addAll(single);
            pair.addAll(List.of(new Piece(false, "B", 1), new Piece(true, (String) sep.get(0), 1)));
            return;
        }
        if (!"TemplateProcessing".equals(m.get("type"))) {
            throw new IllegalArgumentException(src + ": post_processor " + m.get("type") + " is not supported");
        }
        pieces(m.get("single"), src + ": post_processor.single", single);
        pieces(m.get("pair"), src + ": post_processor.pair", pair);
        for (Map.Entry<?, ?> e : map(m.get("special_tokens"), src + ": post_processor.special_tokens").entrySet()) {
            List<?> ids = (List<?>) map(e.getValue(), src + ": special token " + e.getKey()).get("ids");
            int[] v = new int[ids.size()];
            for (int k = 0; k < v.length; k++) {
                v[k] = (int) integer(ids.get(k), src + ": special token " + e.getKey());
            }
            special.put((String) e.getKey(), v);
        }
    }

    private static void pieces(Object list, String where, List<Piece> out) {
        if (!(list instanceof List<?> l)) {
            throw new IllegalArgumentException(where + " is not a list");
        }
        for (Object o : l) {
            Map<?, ?> item = map(o, where);
            boolean special = item.containsKey("SpecialToken");
            Map<?, ?> body = map(special ? item.get("SpecialToken") : item.get("Sequence"), where);
            out.add(new Piece(special, (String) body.get("id"), (int) integer(body.get("type_id"), where + " type_id")));
        }
    }

    // ---- encoding ----------------------------------------------------------------------------------

    @Override
    public int[] encode(String text) {
        return encode(text, true);
    }

    /** The ids of text, wrapped in the template's special tokens when addSpecialTokens. */
    public int[] encode(String text, boolean addSpecialTokens) {
        int[] ids = encodeRaw(text);
        return addSpecialTokens ? apply(single, ids, null).ids() : ids;
    }

    /**
     * The ids of text truncated so that, with the special tokens, there are at most maxLength (HF's
     * truncation of a single sequence: the end of the text is cut, the special tokens stay).
     */
    public int[] encode(String text, int maxLength) {
        int[] ids = encodeRaw(text);
        int specials = apply(single, new int[0], null).ids().length;
        if (maxLength < specials) {
            throw new IllegalArgumentException("maxLength " + maxLength + " leaves no room for the " + specials
                    + " special tokens");
        }
        if (ids.length > maxLength - specials) {
            ids = Arrays.copyOf(ids, maxLength - specials);
        }
        return apply(single, ids, null).ids();
    }

    /** A pair of texts through the pair template, with their token-type ids. */
    public Encoding encodePair(String a, String b) {
        return apply(pair, encodeRaw(a), encodeRaw(b));
    }

    /** The WordPiece tokens of text, without special tokens around them. */
    public List<String> tokenize(String text) {
        List<String> out = new ArrayList<>();
        for (int id : encodeRaw(text)) {
            out.add(tokens[id]);
        }
        return out;
    }

    private Encoding apply(List<Piece> template, int[] a, int[] b) {
        IntList ids = new IntList(a.length + (b == null ? 0 : b.length) + 4);
        IntList types = new IntList(ids.capacity());
        for (Piece p : template) {
            int[] part = p.special() ? templateTokens.get(p.id()) : ("A".equals(p.id()) ? a : b);
            if (part == null) {
                throw new IllegalArgumentException(source + ": the template uses sequence " + p.id() + ", which was not given");
            }
            for (int id : part) {
                ids.add(id);
                types.add(p.typeId());
            }
        }
        return new Encoding(ids.toArray(), types.toArray());
    }

    /** Added tokens out of the raw text, then normalize, pre-tokenize and WordPiece the rest. */
    private int[] encodeRaw(String text) {
        IntList out = new IntList(Math.max(16, text.length() / 4));
        int last = 0;
        for (int i = 0; i < text.length() && !added.isEmpty(); ) {
            Added match = null;
            for (Added a : added) {
                if (text.startsWith(a.content(), i)) {
                    match = a;
                    break;
                }
            }
            if (match == null) {
                i++;
                continue;
            }
            encodeSegment(text.substring(last, i), out);
            out.add(match.id());
            i += match.content().length();
            last = i;
        }
        encodeSegment(text.substring(last), out);
        return out.toArray();
    }

    private void encodeSegment(String segment, IntList out) {
        if (segment.isEmpty()) {
            return;
        }
        String normalized = normalizer == null ? segment : normalizer.normalize(segment);
        for (String word : BertText.preTokenize(normalized)) {
            wordPiece(word, out);
        }
    }

    /** Greedy longest-match-first over code points; any unmatched part makes the whole word unknown. */
    private void wordPiece(String word, IntList out) {
        int chars = word.codePointCount(0, word.length());
        if (chars > maxInputChars) {
            out.add(unkId);
            return;
        }
        int mark = out.size();
        int start = 0;
        while (start < word.length()) {
            int end = word.length();
            Integer found = null;
            while (end > start) {
                String piece = word.substring(start, end);
                found = vocab.get(start > 0 ? prefix + piece : piece);
                if (found != null) {
                    break;
                }
                end = word.offsetByCodePoints(end, -1);
            }
            if (found == null) {
                out.truncate(mark);
                out.add(unkId);
                return;
            }
            out.add(found);
            start = end;
        }
    }

    // ---- decoding ----------------------------------------------------------------------------------

    /** The text of ids with special tokens left out, pieces joined as HF's WordPiece decoder does. */
    @Override
    public String decode(int[] ids) {
        StringBuilder b = new StringBuilder();
        boolean first = true;
        for (int k = 0; k < ids.length; k++) {
            int id = ids[k];
            if (id < 0 || id >= tokens.length || tokens[id] == null) {
                throw new IllegalArgumentException("id " + id + " at position " + k + " is outside the vocabulary");
            }
            Added a = addedByContent.get(tokens[id]);
            if (a != null && a.special() && a.id() == id) {
                continue;
            }
            String t = tokens[id];
            if (!first) {
                t = t.startsWith(prefix) ? t.substring(prefix.length()) : " " + t;
            }
            first = false;
            b.append(decodeCleanup ? cleanup(t) : t);
        }
        return b.toString();
    }

    /** HF's clean_up_tokenization, applied to each piece as its decoder does. */
    private static String cleanup(String s) {
        return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
                .replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't").replace(" 's", "'s")
                .replace(" 've", "'ve").replace(" 're", "'re");
    }

    // ---- vocabulary --------------------------------------------------------------------------------

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    /** The id of a token of the vocabulary ("[MASK]", "##ing"), if present. */
    public OptionalInt tokenId(String token) {
        Integer id = vocab.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The token of an id. */
    public String token(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null) {
            throw new IllegalArgumentException("id " + id + " is outside the vocabulary");
        }
        return tokens[id];
    }

    @Override
    public Map<String, Integer> specialTokens() {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (Added a : added) {
            if (a.special()) {
                out.put(a.content(), a.id());
            }
        }
        return out;
    }

    /** The unknown-token id. */
    public int unkId() {
        return unkId;
    }

    // ---- writing -----------------------------------------------------------------------------------

    /** Writes a Hugging Face tokenizer.json (no padding or truncation) that HF and {@link Tokenizers#load} read. */
    @Override
    public void save(Path file) throws IOException {
        AtomicFiles.writeString(file, ai.anvil.io.Json.writePretty(toHuggingFace()));
    }

    private Map<String, Object> toHuggingFace() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        List<Object> addedJson = new ArrayList<>();
        List<Added> byId = new ArrayList<>(added);
        byId.sort(Comparator.comparingInt(Added::id));
        for (Added a : byId) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", a.id());
            m.put("content", a.content());
            m.put("single_word", false);
            m.put("lstrip", false);
            m.put("rstrip", false);
            m.put("normalized", false);
            m.put("special", a.special());
            addedJson.add(m);
        }
        root.put("added_tokens", addedJson);
        if (normalizer == null) {
            root.put("normalizer", null);
        } else {
            Map<String, Object> n = new LinkedHashMap<>();
            n.put("type", "BertNormalizer");
            n.put("clean_text", normalizer.cleanText());
            n.put("handle_chinese_chars", normalizer.chineseChars());
            n.put("strip_accents", normalizer.stripAccents());
            n.put("lowercase", normalizer.lowercase());
            root.put("normalizer", n);
        }
        root.put("pre_tokenizer", Map.of("type", "BertPreTokenizer"));
        Map<String, Object> post = new LinkedHashMap<>();
        post.put("type", "TemplateProcessing");
        post.put("single", piecesJson(single));
        post.put("pair", piecesJson(pair));
        Map<String, Object> specials = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : new java.util.TreeMap<>(templateTokens).entrySet()) {
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("id", e.getKey());
            s.put("ids", e.getValue());
            List<String> names = new ArrayList<>();
            for (int id : e.getValue()) {
                names.add(tokens[id]);
            }
            s.put("tokens", names);
            specials.put(e.getKey(), s);
        }
        post.put("special_tokens", specials);
        root.put("post_processor", post);
        Map<String, Object> decoder = new LinkedHashMap<>();
        decoder.put("type", "WordPiece");
        decoder.put("prefix", prefix);
        decoder.put("cleanup", decodeCleanup);
        root.put("decoder", decoder);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "WordPiece");
        model.put("unk_token", tokens[unkId]);
        model.put("continuing_subword_prefix", prefix);
        model.put("max_input_chars_per_word", maxInputChars);
        Map<String, Object> v = new LinkedHashMap<>();
        for (int id = 0; id < tokens.length; id++) {
            if (tokens[id] != null) {
                v.put(tokens[id], id);
            }
        }
        model.put("vocab", v);
        root.put("model", model);
        return root;
    }

    private static List<Object> piecesJson(List<Piece> pieces) {
        List<Object> out = new ArrayList<>();
        for (Piece p : pieces) {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("id", p.id());
            body.put("type_id", p.typeId());
            out.add(Map.of(p.special() ? "SpecialToken" : "Sequence", body));
        }
        return out;
    }

    // ---- helpers -----------------------------------------------------------------------------------

    private static Map<?, ?> map(Object o, String what) {
        if (!(o instanceof Map<?, ?> m)) {
            throw new IllegalArgumentException(what + " is not a JSON object");
        }
        return m;
    }

    private static long integer(Object o, String what) {
        if (!(o instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
            throw new IllegalArgumentException(what + " is not an integer: " + o);
        }
        return n.longValue();
    }

    private static String string(Object o, String def) {
        return o instanceof String s ? s : def;
    }

    /** A growable int array. */
    private static final class IntList {
        private int[] a;
        private int n;

        IntList(int capacity) {
            a = new int[Math.max(4, capacity)];
        }

        void add(int v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, 2 * n);
            }
            a[n++] = v;
        }

        int size() {
            return n;
        }

        int capacity() {
            return a.length;
        }

        void truncate(int size) {
            n = size;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
