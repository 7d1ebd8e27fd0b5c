package ai.anvil.data.tokenizer;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into the pieces that BPE encodes one by one. The pieces of {@code text[from, to)} are reported
 * in order and cover the range exactly. Implementations are stateless and thread-safe.
 */
interface PreTokenizer {

    /** GPT-2's pattern, as its encoder.py and Hugging Face's ByteLevel pre-tokenizer apply it. */
    String GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    interface Sink {
        void piece(int start, int end);
    }

    void split(String text, int from, int to, Sink sink);

    /** The pattern this pre-tokenizer applies, for saving. */
    String pattern();

    /**
     * GPT-2's pattern, hand-written: the same pieces as {@code Pattern.compile(GPT2_PATTERN,
     * UNICODE_CHARACTER_CLASS)} (a test checks this on random text), several times faster. {@code \s} is
     * Java's Unicode White_Space: categories Zs, Zl, Zp, U+0009..U+000D and U+0085.
     */
    final class Gpt2 implements PreTokenizer {
        static final Gpt2 INSTANCE = new Gpt2();

        private static final byte LETTER = 0;
        private static final byte NUMBER = 1;
        private static final byte SPACE = 2;
        private static final byte OTHER = 3;
        private static final byte[] ASCII = new byte[128];

        static {
            for (int c = 0; c < 128; c++) {
                ASCII[c] = classifySlow(c);
            }
        }

        private Gpt2() {}

        @Override
        public String pattern() {
            return GPT2_PATTERN;
        }

        @Override
        public void split(String s, int from, int to, Sink sink) {
            int i = from;
            while (i < to) {
                char c = s.charAt(i);
                if (c == '\'' && i + 1 < to) {
                    char c1 = s.charAt(i + 1);
                    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
                        sink.piece(i, i + 2);
                        i += 2;
                        continue;
                    }
                    if (i + 2 < to) {
                        char c2 = s.charAt(i + 2);
                        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
                            sink.piece(i, i + 3);
                            i += 3;
                            continue;
                        }
                    }
                }
                int j = (c == ' ' && i + 1 < to) ? i + 1 : i;
                int cls = classify(codePointAt(s, j, to)); // a final space is SPACE itself
                if (cls != SPACE) {
                    int e = j;
                    while (e < to) {
                        int cp = codePointAt(s, e, to);
                        if (classify(cp) != cls) {
                            break;
                        }
                        e += Character.charCount(cp);
                    }
                    sink.piece(i, e);
                    i = e;
                    continue;
                }
                // Whitespace: \s+(?!\S) takes the run but leaves its last character to the next piece when a
                // non-space follows; a run of one followed by a non-space is taken by \s+.
                int e = i;
                while (e < to && classify(s.charAt(e)) == SPACE) {
                    e++; // White_Space characters are all in the BMP
                }
                int end = (e < to && e - i >= 2) ? e - 1 : e;
                sink.piece(i, end);
                i = end;
            }
        }

        private static int codePointAt(String s, int i, int to) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < to) {
                char d = s.charAt(i + 1);
                if (Character.isLowSurrogate(d)) {
                    return Character.toCodePoint(c, d);
                }
            }
            return c;
        }

        private static int classify(int cp) {
            return cp < 128 ? ASCII[cp] : classifySlow(cp);
        }

        private static byte classifySlow(int cp) {
            int type = Character.getType(cp);
            switch (type) {
                case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                        Character.MODIFIER_LETTER, Character.OTHER_LETTER:
                    return LETTER;
                case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER:
                    return NUMBER;
                case Character.SPACE_SEPARATOR, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR:
                    return SPACE;
                default:
                    return (cp >= 0x9 && cp <= 0xd) || cp == 0x85 ? SPACE : OTHER;
            }
        }
    }

    /**
     * A Hugging Face {@code Split} pre-tokenizer with behavior "Isolated": every match is a piece, and so is
     * every stretch between matches. Compiled with {@code UNICODE_CHARACTER_CLASS}.
     */
    final class Regex implements PreTokenizer {
        private final Pattern pattern;

        Regex(String pattern) {
            this.pattern = Pattern.compile(pattern, Pattern.UNICODE_CHARACTER_CLASS);
        }

        @Override
        public String pattern() {
            return pattern.pattern();
        }

        @Override
        public void split(String text, int from, int to, Sink sink) {
            Matcher m = pattern.matcher(text).region(from, to);
            int last = from;
            while (m.find()) {
                if (m.end() == m.start()) {
                    continue; // an empty match splits nothing
                }
                if (m.start() > last) {
                    sink.piece(last, m.start());
                }
                sink.piece(m.start(), m.end());
                last = m.end();
            }
            if (last < to) {
                sink.piece(last, to);
            }
        }
    }
}
