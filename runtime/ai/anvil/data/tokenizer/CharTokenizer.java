package ai.anvil.data.tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One token per Unicode code point, the vocabulary being the distinct code points of a corpus in ascending
 * order (so the KJV's 65 characters give ids 0..64, '\n' first). A character outside the vocabulary is an
 * error. Saved as {@code {"type": "char", "vocab": ["\n", " ", "!", ...]}}.
 */
public final class CharTokenizer implements Tokenizer {
    static final String TYPE = "char";

    private final int[] codePoints;           // id -> code point, ascending
    private final int[] bmpToId;              // BMP code point -> id, or -1
    private final Map<Integer, Integer> supplementary = new HashMap<>();

    private CharTokenizer(int[] sortedDistinct) {
        if (sortedDistinct.length == 0) {
            throw new IllegalArgumentException("a character vocabulary needs at least one character");
        }
        this.codePoints = sortedDistinct;
        this.bmpToId = new int[Character.MIN_SUPPLEMENTARY_CODE_POINT];
        Arrays.fill(bmpToId, -1);
        for (int id = 0; id < codePoints.length; id++) {
            int cp = codePoints[id];
            if (cp < bmpToId.length) {
                bmpToId[cp] = id;
            } else {
                supplementary.put(cp, id);
            }
        }
    }

    /** The vocabulary of {@code corpus}: its distinct code points, ascending. */
    public static CharTokenizer fromText(String corpus) {
        return new CharTokenizer(corpus.codePoints().distinct().sorted().toArray());
    }

    /** A tokenizer over exactly these characters (any order, duplicates allowed). */
    public static CharTokenizer of(String characters) {
        return fromText(characters);
    }

    @Override
    public int[] encode(String text) {
        int[] ids = new int[text.length()];
        int n = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int id = cp < bmpToId.length ? bmpToId[cp] : supplementary.getOrDefault(cp, -1);
            if (id < 0) {
                throw new IllegalArgumentException(String.format(
                        "character '%s' (U+%04X) at index %d is not in the vocabulary of %d characters",
                        new String(Character.toChars(cp)), cp, i, codePoints.length));
            }
            ids[n++] = id;
            i += Character.charCount(cp);
        }
        return n == ids.length ? ids : Arrays.copyOf(ids, n);
    }

    @Override
    public String decode(int[] ids) {
        StringBuilder b = new StringBuilder(ids.length);
        for (int k = 0; k < ids.length; k++) {
            int id = ids[k];
            if (id < 0 || id >= codePoints.length) {
                throw new IllegalArgumentException("id " + id + " at position " + k + " is outside the vocabulary [0, "
                        + codePoints.length + ")");
            }
            b.appendCodePoint(codePoints[id]);
        }
        return b.toString();
    }

    @Override
    public int vocabSize() {
        return codePoints.length;
    }

    /** The vocabulary as a string, in id order. */
    public String characters() {
        return new String(codePoints, 0, codePoints.length);
    }

    @Override
    public void save(Path file) throws IOException {
        StringBuilder b = new StringBuilder("{\"type\": \"char\", \"vocab\": [");
        for (int id = 0; id < codePoints.length; id++) {
            b.append(id == 0 ? "" : ", ").append(Json.quote(new String(Character.toChars(codePoints[id]))));
        }
        Files.writeString(file, b.append("]}\n"), StandardCharsets.UTF_8);
    }

    /** Reads what {@link #save} wrote. */
    public static CharTokenizer load(Path file) throws IOException {
        return fromJson(Json.parse(Files.readString(file, StandardCharsets.UTF_8), file.toString()), file.toString());
    }

    static CharTokenizer fromJson(Object json, String source) {
        if (!(json instanceof Map<?, ?> m) || !TYPE.equals(m.get("type")) || !(m.get("vocab") instanceof List<?> v)) {
            throw new IllegalArgumentException(source + ": not a character tokenizer (expected {\"type\": \"char\","
                    + " \"vocab\": [...]})");
        }
        int[] cps = new int[v.size()];
        for (int k = 0; k < cps.length; k++) {
            if (!(v.get(k) instanceof String s) || s.codePointCount(0, s.length()) != 1) {
                throw new IllegalArgumentException(source + ": vocab entry " + k + " is not a single character");
            }
            cps[k] = s.codePointAt(0);
            if (k > 0 && cps[k] <= cps[k - 1]) {
                throw new IllegalArgumentException(source + ": vocab entry " + k + " is out of order or repeated");
            }
        }
        return new CharTokenizer(cps);
    }
}
