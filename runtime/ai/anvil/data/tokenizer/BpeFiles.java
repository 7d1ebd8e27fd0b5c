package ai.anvil.data.tokenizer;

import ai.anvil.data.tokenizer.BpeTokenizer.AddedToken;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** Reading and writing the files of byte-level BPE vocabularies: GPT-2's pair of files and HF tokenizer.json. */
final class BpeFiles {
    private BpeFiles() {}

    static BpeTokenizer load(Path p) throws IOException {
        if (Files.isDirectory(p)) {
            if (Files.isRegularFile(p.resolve("tokenizer.json"))) {
                return readHuggingFace(p.resolve("tokenizer.json"));
            }
            for (String[] pair : new String[][] {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}}) {
                if (Files.isRegularFile(p.resolve(pair[0])) && Files.isRegularFile(p.resolve(pair[1]))) {
                    return readGpt2(p.resolve(pair[0]), p.resolve(pair[1]));
                }
            }
            throw new IllegalArgumentException(p + ": no tokenizer.json, vocab.json + merges.txt or encoder.json +"
                    + " vocab.bpe in this folder");
        }
        return readHuggingFace(p);
    }

    static BpeTokenizer readGpt2(Path vocabJson, Path mergesTxt) throws IOException {
        Map<?, ?> vocab = asMap(Json.parse(read(vocabJson), vocabJson.toString()), vocabJson + ": vocabulary");
        String[] tokens = tokensOf(vocab, vocabJson.toString());
        Map<String, Integer> ids = idsOf(tokens);
        List<String> lines = List.of(read(mergesTxt).split("\n", -1));
        List<int[]> merges = new ArrayList<>(lines.size());
        for (int k = 0; k < lines.size(); k++) {
            String line = lines.get(k).strip();
            if (line.isEmpty() || (k == 0 && line.startsWith("#version"))) {
                continue;
            }
            merges.add(mergePair(line.split(" ", -1), ids, mergesTxt + ":" + (k + 1)));
        }
        List<AddedToken> added = new ArrayList<>();
        Integer eot = ids.get("<|endoftext|>");
        if (eot != null) {
            added.add(new AddedToken(eot, "<|endoftext|>", true, false, false));
        }
        return new BpeTokenizer(tokens, merges.toArray(new int[0][]), added, PreTokenizer.Gpt2.INSTANCE, false, false,
                null, vocabJson.toString());
    }

    static BpeTokenizer readHuggingFace(Path file) throws IOException {
        return fromHuggingFace(Json.parse(read(file), file.toString()), file.toString());
    }

    /** A tokenizer.json already parsed; {@code src} names it in errors. */
    static BpeTokenizer fromHuggingFace(Object parsed, String src) {
        if (parsed instanceof Map<?, ?> m && CharTokenizer.TYPE.equals(m.get("type"))) {
            throw new IllegalArgumentException(src + ": a character tokenizer, not BPE; use Tokenizers.load");
        }
        Map<?, ?> root = asMap(parsed, src);
        Map<?, ?> model = asMap(root.get("model"), src + ": \"model\"");
        Object type = model.get("type");
        if (type != null && !"BPE".equals(type)) {
            throw new IllegalArgumentException(src + ": model type " + type + " is not supported, only BPE");
        }
        if (model.get("dropout") instanceof Number d && d.doubleValue() != 0) {
            throw new IllegalArgumentException(src + ": BPE dropout is not supported");
        }
        for (String key : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (model.get(key) instanceof String s && !s.isEmpty()) {
                throw new IllegalArgumentException(src + ": model." + key + " '" + s + "' is not supported");
            }
        }
        if (Boolean.TRUE.equals(model.get("byte_fallback"))) {
            throw new IllegalArgumentException(src + ": byte_fallback vocabularies are not byte-level; not supported");
        }
        String[] tokens = tokensOf(asMap(model.get("vocab"), src + ": model.vocab"), src);
        Map<String, Integer> ids = idsOf(tokens);
        List<?> mergeList = model.get("merges") instanceof List<?> l ? l : List.of();
        int[][] merges = new int[mergeList.size()][];
        for (int k = 0; k < merges.length; k++) {
            Object m = mergeList.get(k);
            String where = src + ": model.merges[" + k + "]";
            if (m instanceof String s) {
                merges[k] = mergePair(s.split(" ", -1), ids, where);
            } else if (m instanceof List<?> pair && pair.size() == 2 && pair.get(0) instanceof String a
                    && pair.get(1) instanceof String b) {
                merges[k] = mergePair(new String[] {a, b}, ids, where);
            } else {
                throw new IllegalArgumentException(where + ": expected \"left right\" or [left, right]");
            }
        }
        List<AddedToken> added = new ArrayList<>();
        if (root.get("added_tokens") instanceof List<?> list) {
            for (int k = 0; k < list.size(); k++) {
                Map<?, ?> a = asMap(list.get(k), src + ": added_tokens[" + k + "]");
                if (!(a.get("id") instanceof Long id) || !(a.get("content") instanceof String content) || content.isEmpty()) {
                    throw new IllegalArgumentException(src + ": added_tokens[" + k + "] needs an id and a content");
                }
                added.add(new AddedToken(Math.toIntExact(id), content, Boolean.TRUE.equals(a.get("special")),
                        Boolean.TRUE.equals(a.get("lstrip")), Boolean.TRUE.equals(a.get("rstrip"))));
            }
        }
        Normalizer.Form form = normalizer(root.get("normalizer"), src);
        PreTokenizer pre = PreTokenizer.Gpt2.INSTANCE;
        boolean prefixSpace = false;
        Object pt = root.get("pre_tokenizer");
        List<?> steps = pt instanceof Map<?, ?> ptm && "Sequence".equals(ptm.get("type"))
                && ptm.get("pretokenizers") instanceof List<?> seq ? seq : pt == null ? List.of() : List.of(pt);
        boolean byteLevel = false;
        for (Object o : steps) {
            Map<?, ?> step = asMap(o, src + ": pre_tokenizer");
            if ("ByteLevel".equals(step.get("type"))) {
                byteLevel = true;
                prefixSpace = Boolean.TRUE.equals(step.get("add_prefix_space"));
                if (Boolean.FALSE.equals(step.get("use_regex")) && steps.size() == 1) {
                    throw new IllegalArgumentException(src + ": a ByteLevel pre-tokenizer without its regex and"
                            + " without a Split before it is not supported");
                }
            } else if ("Split".equals(step.get("type")) && steps.indexOf(o) == 0) {
                pre = split(step, src);
            } else {
                throw new IllegalArgumentException(src + ": pre-tokenizer " + step.get("type") + " is not supported"
                        + " (supported: ByteLevel, or Sequence[Split, ByteLevel])");
            }
        }
        if (!byteLevel) {
            throw new IllegalArgumentException(src + ": the pre-tokenizer is not byte-level; only byte-level BPE is"
                    + " supported");
        }
        boolean ignoreMerges = Boolean.TRUE.equals(model.get("ignore_merges"));
        return new BpeTokenizer(tokens, merges, added, pre, prefixSpace, ignoreMerges, form, src);
    }

    private static PreTokenizer split(Map<?, ?> step, String src) {
        Map<?, ?> pattern = asMap(step.get("pattern"), src + ": Split.pattern");
        if (!"Isolated".equals(step.get("behavior")) || Boolean.TRUE.equals(step.get("invert"))) {
            throw new IllegalArgumentException(src + ": Split behavior " + step.get("behavior")
                    + " is not supported, only Isolated without invert");
        }
        String regex = pattern.get("Regex") instanceof String r ? r
                : pattern.get("String") instanceof String s ? Pattern.quote(s) : null;
        if (regex == null) {
            throw new IllegalArgumentException(src + ": Split.pattern needs Regex or String");
        }
        return regex.equals(PreTokenizer.GPT2_PATTERN) ? PreTokenizer.Gpt2.INSTANCE : new PreTokenizer.Regex(regex);
    }

    private static Normalizer.Form normalizer(Object n, String src) {
        if (n == null) {
            return null;
        }
        Map<?, ?> m = asMap(n, src + ": normalizer");
        if ("Sequence".equals(m.get("type")) && m.get("normalizers") instanceof List<?> l && l.isEmpty()) {
            return null;
        }
        Object t = m.get("type");
        for (Normalizer.Form f : Normalizer.Form.values()) {
            if (f.name().equals(t)) {
                return f;
            }
        }
        throw new IllegalArgumentException(src + ": normalizer " + t + " is not supported (NFC, NFD, NFKC, NFKD)");
    }

    static String toHuggingFaceJson(BpeTokenizer t) {
        StringBuilder b = new StringBuilder(1 << 20);
        b.append("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [");
        List<AddedToken> added = t.addedById();
        for (int k = 0; k < added.size(); k++) {
            AddedToken a = added.get(k);
            b.append(k == 0 ? "\n" : ",\n").append("    {\"id\": ").append(a.id()).append(", \"content\": ")
                    .append(Json.quote(a.content())).append(", \"single_word\": false, \"lstrip\": ").append(a.lstrip())
                    .append(", \"rstrip\": ").append(a.rstrip()).append(", \"normalized\": false, \"special\": ")
                    .append(a.special()).append('}');
        }
        b.append(added.isEmpty() ? "],\n" : "\n  ],\n");
        b.append("  \"normalizer\": ").append(t.normalization() == null ? "null"
                : "{\"type\": \"" + t.normalization().name() + "\"}").append(",\n");
        String byteLevel = "{\"type\": \"ByteLevel\", \"add_prefix_space\": " + t.addPrefixSpace()
                + ", \"trim_offsets\": true, \"use_regex\": %s}";
        if (t.preTokenizer() instanceof PreTokenizer.Gpt2) {
            b.append("  \"pre_tokenizer\": ").append(String.format(byteLevel, "true")).append(",\n");
        } else {
            b.append("  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\":"
                    + " {\"Regex\": ").append(Json.quote(t.preTokenizer().pattern())).append("}, \"behavior\":"
                    + " \"Isolated\", \"invert\": false}, ").append(String.format(byteLevel, "false")).append("]},\n");
        }
        b.append("  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": false,"
                + " \"use_regex\": true},\n");
        b.append("  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true,"
                + " \"use_regex\": true},\n");
        b.append("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
                + "    \"continuing_subword_prefix\": \"\",\n    \"end_of_word_suffix\": \"\",\n"
                + "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": ")
                .append(t.ignoreMerges()).append(",\n    \"vocab\": {");
        String[] tokens = t.tokensView();
        boolean first = true;
        for (int id = 0; id < tokens.length; id++) {
            if (tokens[id] != null) {
                b.append(first ? "\n      " : ",\n      ").append(Json.quote(tokens[id])).append(": ").append(id);
                first = false;
            }
        }
        b.append("\n    },\n    \"merges\": [");
        MergeTable m = t.mergesView();
        for (int r = 0; r < m.size(); r++) {
            b.append(r == 0 ? "\n      " : ",\n      ")
                    .append(Json.quote(tokens[m.left(r)] + " " + tokens[m.right(r)]));
        }
        b.append(m.size() == 0 ? "]\n  }\n}\n" : "\n    ]\n  }\n}\n");
        return b.toString();
    }

    private static String[] tokensOf(Map<?, ?> vocab, String src) {
        int max = -1;
        for (Map.Entry<?, ?> e : vocab.entrySet()) {
            if (!(e.getValue() instanceof Long id) || id < 0 || id > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException(src + ": token '" + e.getKey() + "' has id " + e.getValue()
                        + ", not a non-negative integer");
            }
            max = Math.max(max, Math.toIntExact(id));
        }
        String[] tokens = new String[max + 1];
        for (Map.Entry<?, ?> e : vocab.entrySet()) {
            int id = Math.toIntExact((Long) e.getValue());
            if (tokens[id] != null) {
                throw new IllegalArgumentException(src + ": id " + id + " is given to both '" + tokens[id] + "' and '"
                        + e.getKey() + "'");
            }
            tokens[id] = (String) e.getKey();
        }
        return tokens;
    }

    private static Map<String, Integer> idsOf(String[] tokens) {
        Map<String, Integer> ids = new HashMap<>(tokens.length * 2);
        for (int id = 0; id < tokens.length; id++) {
            if (tokens[id] != null) {
                ids.put(tokens[id], id);
            }
        }
        return ids;
    }

    private static int[] mergePair(String[] parts, Map<String, Integer> ids, String where) {
        if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty()) {
            throw new IllegalArgumentException(where + ": a merge is two tokens separated by one space");
        }
        Integer a = ids.get(parts[0]);
        Integer c = ids.get(parts[1]);
        if (a == null || c == null) {
            throw new IllegalArgumentException(where + ": merge token '" + (a == null ? parts[0] : parts[1])
                    + "' is not in the vocabulary");
        }
        return new int[] {a, c};
    }

    private static Map<?, ?> asMap(Object o, String what) {
        if (!(o instanceof Map<?, ?> m)) {
            throw new IllegalArgumentException(what + ": expected a JSON object");
        }
        return m;
    }

    static String read(Path file) throws IOException {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new IOException(file + ": not valid UTF-8", e);
        }
    }
}
