package ai.anvil.metrics;

import java.util.regex.Pattern;

/**
 * sacreBLEU's default {@code 13a} tokenizer (the mteval-v13a.pl tokenization WMT uses), step for step as
 * {@code sacrebleu/tokenizers/tokenizer_13a.py} and {@code tokenizer_re.py} of sacreBLEU 2.x:
 *
 * <ol>
 *   <li>remove {@code <skipped>}, join {@code "-\n"} line breaks, turn other newlines into spaces;
 *   <li>if the line holds {@code &}: unescape {@code &quot; &amp; &lt; &gt;} (in that order, once);
 *   <li>pad the line with one space each side, then apply, in order:
 *       <ul>
 *         <li>{@code ([\{-\~\[-\` -\&\(-\+\:-\@\/])} -> {@code " \1 "} (ASCII symbols become tokens)
 *         <li>{@code ([^0-9])([\.,])} -> {@code "\1 \2 "} (period/comma unless after a digit)
 *         <li>{@code ([\.,])([^0-9])} -> {@code " \1 \2"} (period/comma unless before a digit)
 *         <li>{@code ([0-9])(-)} -> {@code "\1 \2 "} (dash after a digit)
 *       </ul>
 *   <li>collapse whitespace the way Python's {@code ' '.join(line.split())} does.
 * </ol>
 *
 * Java's regex engine substitutes left to right without overlaps, as Python's {@code re.sub} does, and
 * matches code points, so {@code [^0-9]} covers a whole surrogate pair in both.
 */
public final class Tokenizer13a {
  private static final Pattern SYMBOLS = Pattern.compile("([\\{-\\~\\[-\\` -\\&\\(-\\+\\:-\\@\\/])");
  private static final Pattern PERIOD_COMMA_AFTER_NON_DIGIT = Pattern.compile("([^0-9])([\\.,])");
  private static final Pattern PERIOD_COMMA_BEFORE_NON_DIGIT = Pattern.compile("([\\.,])([^0-9])");
  private static final Pattern DASH_AFTER_DIGIT = Pattern.compile("([0-9])(-)");

  private Tokenizer13a() {}

  /** The tokenized line, tokens separated by single spaces. */
  public static String tokenize(String line) {
    line = line.replace("<skipped>", "");
    line = line.replace("-\n", "");
    line = line.replace("\n", " ");
    if (line.indexOf('&') >= 0) {
      line = line.replace("&quot;", "\"");
      line = line.replace("&amp;", "&");
      line = line.replace("&lt;", "<");
      line = line.replace("&gt;", ">");
    }
    line = " " + line + " ";
    line = SYMBOLS.matcher(line).replaceAll(" $1 ");
    line = PERIOD_COMMA_AFTER_NON_DIGIT.matcher(line).replaceAll("$1 $2 ");
    line = PERIOD_COMMA_BEFORE_NON_DIGIT.matcher(line).replaceAll(" $1 $2");
    line = DASH_AFTER_DIGIT.matcher(line).replaceAll("$1 $2 ");
    return String.join(" ", PythonText.split(line));
  }
}
