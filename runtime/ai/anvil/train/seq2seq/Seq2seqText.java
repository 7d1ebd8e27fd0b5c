package ai.anvil.train.seq2seq;

import ai.anvil.data.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Verse text to model ids: fitted to the tokenizer (characters it lacks replaced: curly single quotes,
 * then curly double quotes, then straight double quotes by an apostrophe; en and em dashes by a hyphen),
 * then encoded with eos appended. Pairs whose source or target is longer than maxChars characters, or still
 * does not encode, are left out and counted.
 */
final class Seq2seqText {
  /** The kept pairs (with fitted text) and their ids; dropped counts the pairs left out. */
  record Encoded(List<VersePairs.Pair> pairs, List<int[]> sources, List<int[]> targets, int dropped) {
    int size() {
      return pairs.size();
    }
  }

  private final Tokenizer tokenizer;
  private final int eosId;
  private final int maxChars;

  Seq2seqText(Tokenizer tokenizer, int eosId, int maxChars) {
    this.tokenizer = tokenizer;
    this.eosId = eosId;
    this.maxChars = maxChars;
  }

  int maxChars() {
    return maxChars;
  }

  Encoded encode(List<VersePairs.Pair> pairs) {
    List<VersePairs.Pair> kept = new ArrayList<>();
    List<int[]> sources = new ArrayList<>(), targets = new ArrayList<>();
    int dropped = 0;
    for (VersePairs.Pair p : pairs) {
      String s = fit(p.source()), t = fit(p.target());
      int[] si = s == null || s.length() > maxChars ? null : ids(s);
      int[] ti = t == null || t.length() > maxChars ? null : ids(t);
      if (si == null || ti == null || si.length > maxChars + 1 || ti.length > maxChars + 1) {
        dropped++;
        continue;
      }
      kept.add(new VersePairs.Pair(p.book(), p.chapter(), p.verse(), s, t));
      sources.add(si);
      targets.add(ti);
    }
    return new Encoded(kept, sources, targets, dropped);
  }

  /** The text, or its substitute that the tokenizer encodes, or null. */
  String fit(String text) {
    if (encodes(text)) return text;
    String t = text.replace('\u2018', '\'').replace('\u2019', '\'').replace('\u2014', '-').replace('\u2013', '-');
    if (encodes(t)) return t;
    t = t.replace('\u201c', '"').replace('\u201d', '"');
    if (encodes(t)) return t;
    t = t.replace('"', '\'');
    return encodes(t) ? t : null;
  }

  private boolean encodes(String text) {
    try {
      tokenizer.encode(text);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /** Token ids of text, then eos. */
  private int[] ids(String text) {
    int[] ids = tokenizer.encode(text);
    int[] out = java.util.Arrays.copyOf(ids, ids.length + 1);
    out[ids.length] = eosId;
    return out;
  }
}
