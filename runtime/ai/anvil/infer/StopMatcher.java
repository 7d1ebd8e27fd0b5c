package ai.anvil.infer;

import ai.anvil.data.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Turns generated tokens into streamed text while watching for stop sequences, so that nothing after
 * (or part of) a stop sequence is ever streamed:
 *
 * <ul>
 *   <li>tokens that could still begin a stop token sequence are held until they cannot;</li>
 *   <li>committed tokens become UTF-8 bytes, and only whole characters become text (a byte-level BPE
 *       token may carry part of a character);</li>
 *   <li>text that could still begin a stop string is held until it cannot.</li>
 * </ul>
 *
 * Not thread-safe: one per generation.
 */
final class StopMatcher {
  private final Tokenizer tokenizer;
  private final List<int[]> stopTokens;
  private final List<String> stopStrings;
  private final Consumer<String> stream;
  private final List<Integer> generated = new ArrayList<>();
  private int committed;
  private byte[] bytes = new byte[64];
  private int byteCount;
  private int decodedBytes;
  private final StringBuilder text = new StringBuilder();
  private int emitted;
  private int stopAt = -1;
  private boolean stoppedByToken;

  StopMatcher(Tokenizer tokenizer, List<int[]> stopTokens, List<String> stopStrings, Consumer<String> stream) {
    if (tokenizer == null && (!stopStrings.isEmpty() || stream != null)) {
      throw new IllegalArgumentException("stop strings and streaming need a tokenizer");
    }
    this.tokenizer = tokenizer;
    this.stopTokens = stopTokens;
    this.stopStrings = stopStrings;
    this.stream = stream;
  }

  /** Takes one generated token; returns true when a stop sequence has now been seen. */
  boolean accept(int token) {
    generated.add(token);
    int n = generated.size();
    for (int[] s : stopTokens) {
      if (endsWith(s, n)) {
        for (int i = 0; i < s.length; i++) generated.remove(generated.size() - 1);
        stoppedByToken = true;
        commitTokens(generated.size());
        return finishText(true);
      }
    }
    int hold = 0;
    for (int[] s : stopTokens) hold = Math.max(hold, partialTokenMatch(s, n));
    commitTokens(n - hold);
    return scanText(false);
  }

  /** Ends without a stop: commits and streams everything held. */
  void finish() {
    if (stopAt >= 0 || stoppedByToken) return;
    commitTokens(generated.size());
    finishText(false);
  }

  /** The generated tokens, without a matched stop token sequence. */
  int[] tokens() {
    int[] out = new int[generated.size()];
    for (int i = 0; i < out.length; i++) out[i] = generated.get(i);
    return out;
  }

  /** The generated text, cut before a matched stop string (empty without a tokenizer). */
  String text() {
    return stopAt >= 0 ? text.substring(0, stopAt) : text.toString();
  }

  private boolean endsWith(int[] s, int n) {
    if (s.length > n) return false;
    for (int i = 0; i < s.length; i++) if (generated.get(n - s.length + i) != s[i]) return false;
    return true;
  }

  /** The longest proper prefix of s that the generated tokens end with. */
  private int partialTokenMatch(int[] s, int n) {
    for (int k = Math.min(s.length - 1, n); k > 0; k--) {
      boolean match = true;
      for (int i = 0; i < k && match; i++) match = generated.get(n - k + i) == s[i];
      if (match) return k;
    }
    return 0;
  }

  private void commitTokens(int upTo) {
    if (tokenizer == null) {
      committed = Math.max(committed, upTo);
      return;
    }
    for (; committed < upTo; committed++) {
      byte[] b = tokenizer.decodeBytes(new int[] {generated.get(committed)});
      if (byteCount + b.length > bytes.length) bytes = java.util.Arrays.copyOf(bytes, Math.max(2 * bytes.length, byteCount + b.length));
      System.arraycopy(b, 0, bytes, byteCount, b.length);
      byteCount += b.length;
    }
    int end = completeUtf8(bytes, decodedBytes, byteCount);
    if (end > decodedBytes) {
      text.append(new String(bytes, decodedBytes, end - decodedBytes, StandardCharsets.UTF_8));
      decodedBytes = end;
    }
  }

  /** Flushes trailing partial characters (as U+FFFD) and streams the rest of the text. */
  private boolean finishText(boolean stopped) {
    if (byteCount > decodedBytes) {
      text.append(new String(bytes, decodedBytes, byteCount - decodedBytes, StandardCharsets.UTF_8));
      decodedBytes = byteCount;
    }
    return scanText(true) || stopped;
  }

  /** Looks for stop strings in the new text and streams what can no longer be part of one. */
  private boolean scanText(boolean last) {
    if (tokenizer == null) return false;
    int longest = 0;
    for (String s : stopStrings) longest = Math.max(longest, s.length());
    int from = Math.max(0, emitted - longest);
    int found = -1;
    for (String s : stopStrings) {
      int i = text.indexOf(s, from);
      if (i >= 0 && (found < 0 || i < found)) found = i;
    }
    if (found >= 0) {
      stopAt = found;
      emit(found);
      return true;
    }
    int safe = text.length();
    if (!last) {
      for (String s : stopStrings) {
        for (int k = Math.min(s.length() - 1, text.length()); k > 0; k--) {
          if (endsWith(text, s, k)) {
            safe = Math.min(safe, text.length() - k);
            break;
          }
        }
      }
    }
    emit(safe);
    return false;
  }

  /** Whether text ends with the first k characters of s. */
  private static boolean endsWith(StringBuilder text, String s, int k) {
    int base = text.length() - k;
    for (int i = 0; i < k; i++) if (text.charAt(base + i) != s.charAt(i)) return false;
    return true;
  }

  private void emit(int upTo) {
    if (upTo > emitted) {
      if (stream != null) stream.accept(text.substring(emitted, upTo));
      emitted = upTo;
    }
  }

  /** The end of the longest prefix of bytes[from, to) that holds whole UTF-8 sequences only. */
  static int completeUtf8(byte[] b, int from, int to) {
    // Look back at most 3 bytes for the lead byte of a sequence that is not complete yet.
    for (int i = to - 1; i >= Math.max(from, to - 3); i--) {
      int c = b[i] & 0xff;
      if ((c & 0xc0) == 0x80) continue;   // continuation byte: keep looking for its lead
      int need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
      return i + need > to ? i : to;
    }
    return to;
  }
}
