package ai.anvil.data.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The hand-written GPT-2 pre-tokenizer gives the pieces of the regex it replaces. */
class PreTokenizerTest {
    private static final Pattern GPT2 = Pattern.compile(PreTokenizer.GPT2_PATTERN, Pattern.UNICODE_CHARACTER_CLASS);

    static List<String> byRegex(String s) {
        List<String> out = new ArrayList<>();
        Matcher m = GPT2.matcher(s);
        int last = 0;
        while (m.find()) {
            assertEquals(last, m.start(), "the pattern leaves no gaps");
            out.add(m.group());
            last = m.end();
        }
        assertEquals(s.length(), last);
        return out;
    }

    static List<String> byScanner(String s) {
        List<String> out = new ArrayList<>();
        PreTokenizer.Gpt2.INSTANCE.split(s, 0, s.length(), (a, b) -> out.add(s.substring(a, b)));
        return out;
    }

    @Test
    void examples() {
        assertEquals(List.of("Hello", ",", " world", "'s", " 12", "!!", "  ", " x", "\n", "\n", "y", "   "),
                byScanner("Hello, world's 12!!   x\n\ny   "));
        assertEquals(List.of(" '", "s", "'re", "\u00a0", "a"), byScanner(" 's're\u00a0a"));
    }

    @Test
    void randomTextSplitsLikeTheRegex() {
        String alphabet = "aZé東'’sStrevmld \t\n\r\u000b\u000c\u001c\u0085\u00a0\u1680\u2000\u2028\u2029\u202f\u3000"
                + "\ufeff09①Ⅻ².,!-_🐋\ud83d\u0301\u200d";
        int[] cps = alphabet.codePoints().toArray();
        SplittableRandom r = new SplittableRandom(11);
        for (int n = 0; n < 20_000; n++) {
            StringBuilder b = new StringBuilder();
            int len = r.nextInt(30);
            for (int k = 0; k < len; k++) {
                b.appendCodePoint(cps[r.nextInt(cps.length)]);
            }
            String s = b.toString();
            assertEquals(byRegex(s), byScanner(s), () -> s.codePoints().mapToObj(c -> String.format("U+%04X", c)).toList()
                    .toString());
        }
    }

    @Test
    void splitRespectsTheRange() {
        String s = "ab cd  ef";
        List<String> out = new ArrayList<>();
        PreTokenizer.Gpt2.INSTANCE.split(s, 1, 7, (a, b) -> out.add(s.substring(a, b)));
        assertEquals(List.of("b", " cd", "  "), out, "lookahead stops at the range end");
    }

    @Test
    void regexSplitKeepsGapsAsPieces() {
        PreTokenizer p = new PreTokenizer.Regex("\\p{N}{1,3}");
        String s = "ab12345cd";
        List<String> out = new ArrayList<>();
        p.split(s, 0, s.length(), (a, b) -> out.add(s.substring(a, b)));
        assertEquals(List.of("ab", "123", "45", "cd"), out);
    }
}
