package ai.anvil.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the golden files under src/test/resources/golden/metrics (made by
 * tools/golden/make_metrics_golden.py) into maps, lists, strings, doubles, longs, booleans and nulls,
 * and holds the comparison every golden test uses: equal to 4 decimals.
 */
final class GoldenJson {
  /** "Matched to 4 decimals": the difference rounds away at the fourth decimal. */
  static final double TOLERANCE = 5e-5;

  private final String text;
  private int pos;

  private GoldenJson(String text) {
    this.text = text;
  }

  static Map<String, Object> load(String name) {
    String path = "/golden/metrics/" + name;
    try (InputStream in = GoldenJson.class.getResourceAsStream(path)) {
      if (in == null) throw new IllegalStateException("missing test resource " + path);
      return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Parses one JSON object, e.g. a line the metrics command printed. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> parse(String json) {
    GoldenJson p = new GoldenJson(json);
    Object v = p.value();
    p.space();
    if (p.pos != p.text.length()) throw p.error("trailing characters");
    return (Map<String, Object>) v;
  }

  static void assertClose(double expected, double actual, String what) {
    assertEquals(expected, actual, TOLERANCE, what);
  }

  @SuppressWarnings("unchecked")
  static List<Map<String, Object>> cases(Map<String, Object> file, String key) {
    return (List<Map<String, Object>>) file.get(key);
  }

  @SuppressWarnings("unchecked")
  static List<String> strings(Object list) {
    return (List<String>) list;
  }

  static double num(Object v) {
    return ((Number) v).doubleValue();
  }

  static long[] longs(Object list) {
    List<?> l = (List<?>) list;
    long[] out = new long[l.size()];
    for (int i = 0; i < out.length; i++) out[i] = ((Number) l.get(i)).longValue();
    return out;
  }

  private Object value() {
    space();
    if (pos >= text.length()) throw error("unexpected end");
    char c = text.charAt(pos);
    if (c == '{') return object();
    if (c == '[') return array();
    if (c == '"') return string();
    if (text.startsWith("true", pos)) return literal(4, Boolean.TRUE);
    if (text.startsWith("false", pos)) return literal(5, Boolean.FALSE);
    if (text.startsWith("null", pos)) return literal(4, null);
    return number();
  }

  private Object literal(int length, Object v) {
    pos += length;
    return v;
  }

  private Map<String, Object> object() {
    Map<String, Object> m = new LinkedHashMap<>();
    pos++;
    space();
    if (text.charAt(pos) == '}') {
      pos++;
      return m;
    }
    while (true) {
      space();
      String key = string();
      space();
      expect(':');
      m.put(key, value());
      space();
      if (text.charAt(pos) == '}') {
        pos++;
        return m;
      }
      expect(',');
    }
  }

  private List<Object> array() {
    List<Object> l = new ArrayList<>();
    pos++;
    space();
    if (text.charAt(pos) == ']') {
      pos++;
      return l;
    }
    while (true) {
      l.add(value());
      space();
      if (text.charAt(pos) == ']') {
        pos++;
        return l;
      }
      expect(',');
    }
  }

  private String string() {
    expect('"');
    StringBuilder sb = new StringBuilder();
    while (true) {
      char c = text.charAt(pos++);
      if (c == '"') return sb.toString();
      if (c != '\\') {
        sb.append(c);
        continue;
      }
      char e = text.charAt(pos++);
      switch (e) {
        case 'n' -> sb.append('\n');
        case 't' -> sb.append('\t');
        case 'r' -> sb.append('\r');
        case 'b' -> sb.append('\b');
        case 'f' -> sb.append('\f');
        case 'u' -> {
          sb.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16)); // surrogate halves pair up
          pos += 4;
        }
        default -> sb.append(e); // \" \\ \/
      }
    }
  }

  private Object number() {
    int start = pos;
    while (pos < text.length() && "+-0123456789.eE".indexOf(text.charAt(pos)) >= 0) pos++;
    String s = text.substring(start, pos);
    if (s.isEmpty()) throw error("unexpected character");
    if (s.contains(".") || s.contains("e") || s.contains("E")) return Double.parseDouble(s);
    return Long.parseLong(s);
  }

  private void expect(char c) {
    if (pos >= text.length() || text.charAt(pos) != c) throw error("expected '" + c + "'");
    pos++;
  }

  private void space() {
    while (pos < text.length() && " \t\r\n".indexOf(text.charAt(pos)) >= 0) pos++;
  }

  private IllegalStateException error(String what) {
    return new IllegalStateException("golden JSON: " + what + " at offset " + pos);
  }
}
