package ai.anvil.data.tokenizer;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;

/**
 * BERT's text handling before WordPiece, as Hugging Face {@code tokenizers} does it: the
 * {@code BertNormalizer} (clean text, space around CJK ideographs, strip accents, lower-case) and the
 * {@code BertPreTokenizer} (split on whitespace, isolate each punctuation character).
 *
 * <p>Character classes follow the Rust definitions the reference uses, not Java's: whitespace is
 * Unicode's White_Space property (so U+00A0 counts, U+001C does not), "control" is the categories Cc,
 * Cf, Co and Cs except tab, newline and carriage return, punctuation is ASCII punctuation (which
 * includes {@code $+<=>^`|~}) or a Unicode P* category, and lower-casing is per code point (no
 * final-sigma rule), with U+0130 becoming "i" plus U+0307 as Rust's {@code char::to_lowercase} gives.
 *
 * @param cleanText drop NUL, U+FFFD and control characters, turn whitespace into ' '
 * @param chineseChars put spaces around CJK ideographs so each becomes a word
 * @param stripAccents NFD, then drop non-spacing marks (Mn)
 * @param lowercase lower-case every code point
 */
record BertText(boolean cleanText, boolean chineseChars, boolean stripAccents, boolean lowercase) {

    /** The normalized text of {@code s}. */
    String normalize(String s) {
        StringBuilder b = new StringBuilder(s.length() + 8);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cleanText) {
                if (cp == 0 || cp == 0xFFFD || isControl(cp)) {
                    continue;
                }
                if (isWhitespace(cp)) {
                    cp = ' ';
                }
            }
            if (chineseChars && isChinese(cp)) {
                b.append(' ').appendCodePoint(cp).append(' ');
            } else {
                b.appendCodePoint(cp);
            }
        }
        String out = b.toString();
        if (stripAccents) {
            String nfd = Normalizer.normalize(out, Normalizer.Form.NFD);
            StringBuilder kept = new StringBuilder(nfd.length());
            nfd.codePoints().filter(cp -> Character.getType(cp) != Character.NON_SPACING_MARK).forEach(kept::appendCodePoint);
            out = kept.toString();
        }
        if (lowercase) {
            StringBuilder lower = new StringBuilder(out.length());
            for (int i = 0; i < out.length(); ) {
                int cp = out.codePointAt(i);
                i += Character.charCount(cp);
                if (cp == 0x130) {
                    lower.append("i\u0307");
                } else {
                    lower.appendCodePoint(Character.toLowerCase(cp));
                }
            }
            out = lower.toString();
        }
        return out;
    }

    /** BertPreTokenizer: words split at whitespace (dropped) and at punctuation (kept, one per piece). */
    static List<String> preTokenize(String s) {
        List<String> words = new ArrayList<>();
        int start = -1;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            int next = i + Character.charCount(cp);
            if (isWhitespace(cp)) {
                if (start >= 0) {
                    words.add(s.substring(start, i));
                }
                start = -1;
            } else if (isPunctuation(cp)) {
                if (start >= 0) {
                    words.add(s.substring(start, i));
                }
                words.add(s.substring(i, next));
                start = -1;
            } else if (start < 0) {
                start = i;
            }
            i = next;
        }
        if (start >= 0) {
            words.add(s.substring(start));
        }
        return words;
    }

    /** Unicode White_Space (Rust's {@code char::is_whitespace}). */
    static boolean isWhitespace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
                || cp == 0x3000;
    }

    /**
     * Categories Cc, Cf, Co, Cs, except tab, newline and carriage return (counted as whitespace).
     * Unassigned code points (Cn) are kept, as the reference keeps them.
     */
    static boolean isControl(int cp) {
        if (cp == '\t' || cp == '\n' || cp == '\r') {
            return false;
        }
        int type = Character.getType(cp);
        return type == Character.CONTROL || type == Character.FORMAT || type == Character.PRIVATE_USE
                || type == Character.SURROGATE;
    }

    /** ASCII punctuation (33-47, 58-64, 91-96, 123-126) or a Unicode punctuation category. */
    static boolean isPunctuation(int cp) {
        if (cp < 128) {
            return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
        }
        return switch (Character.getType(cp)) {
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
                 Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION,
                 Character.OTHER_PUNCTUATION -> true;
            default -> false;
        };
    }

    /**
     * The CJK ideograph blocks BERT isolates (not Hangul, Hiragana or Katakana). Extension E starts at
     * U+2B920 rather than U+2B820 because the reference's table does.
     */
    static boolean isChinese(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF)
                || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }
}
