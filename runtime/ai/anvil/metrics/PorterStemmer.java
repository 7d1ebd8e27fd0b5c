package ai.anvil.metrics;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The Porter stemmer as NLTK implements it in its default {@code NLTK_EXTENSIONS} mode
 * ({@code nltk/stem/porter.py}), which is the stemmer rouge-score builds for {@code use_stemmer=True}.
 * NLTK's departures from Porter (1980), all reproduced: a table of irregular forms, words of one or two
 * letters left alone, {@code ies/ied} on four-letter words ({@code dies -> die}), {@code y -> i} only after
 * a consonant that is not the first letter, {@code alli} tried before the other step-2 rules and re-run,
 * {@code bli -> ble} instead of {@code abli -> able}, extra {@code fulli} and {@code logi} rules, and a
 * two-letter vowel-consonant word counting as ending in cvc.
 *
 * <p>Python indexes strings by code point; characters outside the BMP are mapped to distinct stand-ins
 * inside the BMP for the duration of a call, which changes nothing else because the rules only test
 * ASCII letters and the equality of neighbours.
 */
public final class PorterStemmer {
  private static final Map<String, String> IRREGULAR = new HashMap<>();

  static {
    String[][] forms = {
      {"sky", "sky", "skies"}, {"die", "dying"}, {"lie", "lying"}, {"tie", "tying"}, {"news", "news"},
      {"inning", "innings", "inning"}, {"outing", "outings", "outing"}, {"canning", "cannings", "canning"},
      {"howe", "howe"}, {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"},
    };
    for (String[] f : forms) {
      for (int i = 1; i < f.length; i++) IRREGULAR.put(f[i], f[0]);
    }
  }

  private PorterStemmer() {}

  private record Rule(String suffix, String replacement, Predicate<String> condition) {}

  /** The stem of {@code word}, lower-cased first (NLTK's {@code stem(word)} with {@code to_lowercase=True}). */
  public static String stem(String word) {
    String lower = PythonText.lower(word);
    String irregular = IRREGULAR.get(lower);
    if (irregular != null) return irregular;
    if (word.codePointCount(0, word.length()) <= 2) return lower;
    if (lower.length() != lower.codePointCount(0, lower.length())) return stemWithStandIns(lower);
    return stemBmp(lower);
  }

  private static String stemBmp(String w) {
    w = step1a(w);
    w = step1b(w);
    w = step1c(w);
    w = step2(w);
    w = step3(w);
    w = step4(w);
    w = step5a(w);
    return step5b(w);
  }

  private static String stemWithStandIns(String w) {
    Map<Integer, Character> to = new HashMap<>();
    Map<Character, Integer> from = new HashMap<>();
    StringBuilder mapped = new StringBuilder();
    char next = 0xE000; // private use area, skipping any stand-in the word itself holds
    for (int i = 0; i < w.length(); i += Character.charCount(w.codePointAt(i))) {
      int cp = w.codePointAt(i);
      if (cp < Character.MIN_SUPPLEMENTARY_CODE_POINT) {
        mapped.append((char) cp);
        continue;
      }
      Character c = to.get(cp);
      if (c == null) {
        while (w.indexOf(next) >= 0) next++;
        c = next++;
        to.put(cp, c);
        from.put(c, cp);
      }
      mapped.append(c.charValue());
    }
    String stemmed = stemBmp(mapped.toString());
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < stemmed.length(); i++) {
      Integer cp = from.get(stemmed.charAt(i));
      out.appendCodePoint(cp != null ? cp : stemmed.charAt(i));
    }
    return out.toString();
  }

  // ---- the paper's predicates

  private static boolean isVowel(char c) {
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
  }

  /** A consonant: not a vowel, and a 'y' only when it starts the word or follows a vowel. */
  private static boolean isConsonant(String w, int i) {
    char c = w.charAt(i);
    if (isVowel(c)) return false;
    if (c != 'y') return true;
    boolean negate = false;
    while (i > 0 && w.charAt(i) == 'y') {
      negate = !negate;
      i--;
    }
    return !isVowel(w.charAt(i)) != negate;
  }

  /** m in [C](VC)^m[V]: the number of vowel-to-consonant transitions. */
  private static int measure(String stem) {
    int m = 0;
    boolean prevConsonant = false;
    for (int i = 0; i < stem.length(); i++) {
      char c = stem.charAt(i);
      boolean consonant = isVowel(c) ? false : c != 'y' || i == 0 || !prevConsonant;
      if (consonant && i > 0 && !prevConsonant) m++;
      prevConsonant = consonant;
    }
    return m;
  }

  private static boolean containsVowel(String stem) {
    for (int i = 0; i < stem.length(); i++) {
      if (!isConsonant(stem, i)) return true;
    }
    return false;
  }

  private static boolean positiveMeasure(String stem) {
    return measure(stem) > 0;
  }

  /** *d: ends with a double consonant. */
  private static boolean endsDoubleConsonant(String w) {
    int n = w.length();
    return n >= 2 && w.charAt(n - 1) == w.charAt(n - 2) && isConsonant(w, n - 1);
  }

  /** *o: ends consonant-vowel-consonant, the last not w, x or y; or (NLTK) is a two-letter vc word. */
  private static boolean endsCvc(String w) {
    int n = w.length();
    if (n >= 3 && isConsonant(w, n - 3) && !isConsonant(w, n - 2) && isConsonant(w, n - 1)) {
      char last = w.charAt(n - 1);
      if (last != 'w' && last != 'x' && last != 'y') return true;
    }
    return n == 2 && !isConsonant(w, 0) && isConsonant(w, 1);
  }

  private static String dropSuffix(String w, String suffix) {
    return w.substring(0, w.length() - suffix.length());
  }

  /**
   * The first rule whose suffix matches decides: its replacement if its condition holds, else the word
   * unchanged. The suffix "*d" matches a double consonant and removes both letters.
   */
  private static String applyRules(String w, List<Rule> rules) {
    for (Rule r : rules) {
      if (r.suffix.equals("*d") && endsDoubleConsonant(w)) {
        String stem = w.substring(0, w.length() - 2);
        return r.condition == null || r.condition.test(stem) ? stem + r.replacement : w;
      }
      if (w.endsWith(r.suffix)) {
        String stem = dropSuffix(w, r.suffix);
        return r.condition == null || r.condition.test(stem) ? stem + r.replacement : w;
      }
    }
    return w;
  }

  // ---- the steps

  private static String step1a(String w) {
    if (w.endsWith("ies") && w.length() == 4) return dropSuffix(w, "ies") + "ie";
    return applyRules(w, List.of(
        new Rule("sses", "ss", null), new Rule("ies", "i", null), new Rule("ss", "ss", null), new Rule("s", "", null)));
  }

  private static String step1b(String w) {
    if (w.endsWith("ied")) return dropSuffix(w, "ied") + (w.length() == 4 ? "ie" : "i");
    if (w.endsWith("eed")) {
      String stem = dropSuffix(w, "eed");
      return measure(stem) > 0 ? stem + "ee" : w;
    }
    String stem = null;
    for (String suffix : new String[] {"ed", "ing"}) {
      if (w.endsWith(suffix) && containsVowel(dropSuffix(w, suffix))) {
        stem = dropSuffix(w, suffix);
        break;
      }
    }
    if (stem == null) return w;
    char last = stem.charAt(stem.length() - 1);
    return applyRules(stem, List.of(
        new Rule("at", "ate", null), new Rule("bl", "ble", null), new Rule("iz", "ize", null),
        new Rule("*d", String.valueOf(last), s -> last != 'l' && last != 's' && last != 'z'),
        new Rule("", "e", s -> measure(s) == 1 && endsCvc(s))));
  }

  private static String step1c(String w) {
    return applyRules(w, List.of(new Rule("y", "i", s -> s.length() > 1 && isConsonant(s, s.length() - 1))));
  }

  private static String step2(String w) {
    if (w.endsWith("alli") && positiveMeasure(dropSuffix(w, "alli"))) return step2(dropSuffix(w, "alli") + "al");
    Predicate<String> m0 = PorterStemmer::positiveMeasure;
    String word = w;
    return applyRules(w, List.of(
        new Rule("ational", "ate", m0), new Rule("tional", "tion", m0), new Rule("enci", "ence", m0),
        new Rule("anci", "ance", m0), new Rule("izer", "ize", m0), new Rule("bli", "ble", m0),
        new Rule("alli", "al", m0), new Rule("entli", "ent", m0), new Rule("eli", "e", m0),
        new Rule("ousli", "ous", m0), new Rule("ization", "ize", m0), new Rule("ation", "ate", m0),
        new Rule("ator", "ate", m0), new Rule("alism", "al", m0), new Rule("iveness", "ive", m0),
        new Rule("fulness", "ful", m0), new Rule("ousness", "ous", m0), new Rule("aliti", "al", m0),
        new Rule("iviti", "ive", m0), new Rule("biliti", "ble", m0), new Rule("fulli", "ful", m0),
        // the 'l' of 'logi' stays with the stem for the measure, so 'geologi' -> 'geolog'
        new Rule("logi", "log", s -> positiveMeasure(word.substring(0, word.length() - 3)))));
  }

  private static String step3(String w) {
    Predicate<String> m0 = PorterStemmer::positiveMeasure;
    return applyRules(w, List.of(
        new Rule("icate", "ic", m0), new Rule("ative", "", m0), new Rule("alize", "al", m0),
        new Rule("iciti", "ic", m0), new Rule("ical", "ic", m0), new Rule("ful", "", m0), new Rule("ness", "", m0)));
  }

  private static String step4(String w) {
    Predicate<String> m1 = s -> measure(s) > 1;
    return applyRules(w, List.of(
        new Rule("al", "", m1), new Rule("ance", "", m1), new Rule("ence", "", m1), new Rule("er", "", m1),
        new Rule("ic", "", m1), new Rule("able", "", m1), new Rule("ible", "", m1), new Rule("ant", "", m1),
        new Rule("ement", "", m1), new Rule("ment", "", m1), new Rule("ent", "", m1),
        new Rule("ion", "", s -> measure(s) > 1 && (s.endsWith("s") || s.endsWith("t"))),
        new Rule("ou", "", m1), new Rule("ism", "", m1), new Rule("ate", "", m1), new Rule("iti", "", m1),
        new Rule("ous", "", m1), new Rule("ive", "", m1), new Rule("ize", "", m1)));
  }

  private static String step5a(String w) {
    if (!w.endsWith("e")) return w;
    String stem = dropSuffix(w, "e");
    int m = measure(stem);
    if (m > 1 || (m == 1 && !endsCvc(stem))) return stem;
    return w;
  }

  private static String step5b(String w) {
    String word = w;
    return applyRules(w, List.of(new Rule("ll", "l", s -> measure(word.substring(0, word.length() - 1)) > 1)));
  }
}
