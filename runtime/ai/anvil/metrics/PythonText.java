package ai.anvil.metrics;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The few string operations of Python 3 that the reference metric tools rely on, reproduced exactly so
 * that tokens agree with sacreBLEU and rouge-score on any input.
 *
 * <p>Python's {@code str.split()} and {@code str.rstrip()} treat as whitespace exactly the code points
 * for which {@code str.isspace()} is true (29 of them, listed in {@link #isSpace}); Java's
 * {@code String.strip()}/{@code \\s} disagree on several (U+001C..U+001F, U+0085, U+00A0, U+2007,
 * U+202F are Python whitespace, and {@code \\s} knows none of the non-ASCII ones).
 */
public final class PythonText {
  private PythonText() {}

  /** Python 3's {@code str.isspace()} for one code point (Unicode 14 as shipped with CPython 3.11). */
  public static boolean isSpace(int cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    switch (cp) {
      case 0x85:
      case 0xA0:
      case 0x1680:
      case 0x2028:
      case 0x2029:
      case 0x202F:
      case 0x205F:
      case 0x3000:
        return true;
      default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
  }

  /** Python's {@code s.split()}: runs of whitespace separate tokens; no empty tokens. */
  public static List<String> split(String s) {
    List<String> out = new ArrayList<>();
    int n = s.length();
    int i = 0;
    while (i < n) {
      while (i < n && isSpace(s.codePointAt(i))) i += Character.charCount(s.codePointAt(i));
      if (i >= n) break;
      int start = i;
      while (i < n && !isSpace(s.codePointAt(i))) i += Character.charCount(s.codePointAt(i));
      out.add(s.substring(start, i));
    }
    return out;
  }

  /** Python's {@code s.rstrip()}. */
  public static String rstrip(String s) {
    int end = s.length();
    while (end > 0) {
      int cp = s.codePointBefore(end);
      if (!isSpace(cp)) break;
      end -= Character.charCount(cp);
    }
    return s.substring(0, end);
  }

  /**
   * Python's {@code s.lower()}: full Unicode lower-casing, locale-free, with CPython's rule for capital
   * sigma (final form when a cased letter precedes it and none follows, skipping case-ignorable
   * characters either way), which the JDK decides differently. The two then agree on every code point
   * except the few whose properties changed between the JDK's and CPython's Unicode versions.
   */
  public static String lower(String s) {
    if (s.indexOf('\u03A3') < 0) return s.toLowerCase(Locale.ROOT);
    StringBuilder out = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i += Character.charCount(s.codePointAt(i))) {
      int cp = s.codePointAt(i);
      if (cp == 0x03A3) out.append(isFinalSigma(s, i) ? '\u03C2' : '\u03C3');
      else out.append(new String(Character.toChars(cp)).toLowerCase(Locale.ROOT));
    }
    return out.toString();
  }

  // \p{cased} \p{case-ignorable}* SIGMA !( \p{case-ignorable}* \p{cased} ), as CPython's handle_capital_sigma
  private static boolean isFinalSigma(String s, int at) {
    int j = at;
    int before = -1;
    while (j > 0) {
      int cp = s.codePointBefore(j);
      j -= Character.charCount(cp);
      if (!isCaseIgnorable(cp)) {
        before = cp;
        break;
      }
    }
    if (before < 0 || !isCased(before)) return false;
    for (j = at + 1; j < s.length(); j += Character.charCount(s.codePointAt(j))) {
      int cp = s.codePointAt(j);
      if (!isCaseIgnorable(cp)) return !isCased(cp);
    }
    return true;
  }

  private static boolean isCased(int cp) {
    return Character.isLowerCase(cp) || Character.isUpperCase(cp) || Character.isTitleCase(cp);
  }

  // Unicode's Case_Ignorable: Mn, Me, Cf, Lm, Sk, and Word_Break MidLetter, MidNumLet, Single_Quote
  private static boolean isCaseIgnorable(int cp) {
    switch (cp) {
      case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018: case 0x2019:
      case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return true;
      default:
        int t = Character.getType(cp);
        return t == Character.NON_SPACING_MARK || t == Character.ENCLOSING_MARK || t == Character.FORMAT
            || t == Character.MODIFIER_LETTER || t == Character.MODIFIER_SYMBOL;
    }
  }
}
