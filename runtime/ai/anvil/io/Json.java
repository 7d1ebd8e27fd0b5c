package ai.anvil.io;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader and writer for Anvil's own files (config.json, training configs, metrics lines).
 * Values map to Java as: object -> {@code LinkedHashMap<String,Object>} (key order kept), array ->
 * {@code ArrayList<Object>}, string -> String, number -> Long when integral and in range, else Double,
 * true/false -> Boolean, null -> null. Writing accepts the same types plus any Number and records with
 * no special handling (call {@link #write} on maps built by hand).
 */
public final class Json {
  private final String text;
  private int pos;

  private Json(String text) {
    this.text = text;
  }

  /** Parses one JSON value; throws IllegalArgumentException with the offset on malformed input. */
  public static Object parse(String text) {
    Json p = new Json(text);
    p.skipSpace();
    Object v = p.value();
    p.skipSpace();
    if (p.pos != text.length()) throw p.error("trailing characters");
    return v;
  }

  /** Parses a JSON object. */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> parseObject(String text) {
    Object v = parse(text);
    if (!(v instanceof Map)) throw new IllegalArgumentException("JSON: expected an object at the top level");
    return (Map<String, Object>) v;
  }

  private Object value() {
    if (pos >= text.length()) throw error("unexpected end");
    char c = text.charAt(pos);
    switch (c) {
      case '{':
        return object();
      case '[':
        return array();
      case '"':
        return string();
      case 't':
        return literal("true", Boolean.TRUE);
      case 'f':
        return literal("false", Boolean.FALSE);
      case 'n':
        return literal("null", null);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        throw error("unexpected character '" + c + "'");
    }
  }

  private Map<String, Object> object() {
    Map<String, Object> out = new LinkedHashMap<>();
    pos++;
    skipSpace();
    if (peek() == '}') {
      pos++;
      return out;
    }
    while (true) {
      skipSpace();
      if (peek() != '"') throw error("expected a key");
      String key = string();
      skipSpace();
      expect(':');
      skipSpace();
      out.put(key, value());
      skipSpace();
      char c = next();
      if (c == '}') return out;
      if (c != ',') throw error("expected ',' or '}'");
    }
  }

  private List<Object> array() {
    List<Object> out = new ArrayList<>();
    pos++;
    skipSpace();
    if (peek() == ']') {
      pos++;
      return out;
    }
    while (true) {
      skipSpace();
      out.add(value());
      skipSpace();
      char c = next();
      if (c == ']') return out;
      if (c != ',') throw error("expected ',' or ']'");
    }
  }

  private String string() {
    expect('"');
    StringBuilder b = new StringBuilder();
    while (true) {
      char c = next();
      if (c == '"') return b.toString();
      if (c == '\\') {
        char e = next();
        switch (e) {
          case '"', '\\', '/' -> b.append(e);
          case 'b' -> b.append('\b');
          case 'f' -> b.append('\f');
          case 'n' -> b.append('\n');
          case 'r' -> b.append('\r');
          case 't' -> b.append('\t');
          case 'u' -> {
            if (pos + 4 > text.length()) throw error("short \\u escape");
            b.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16));
            pos += 4;
          }
          default -> throw error("bad escape \\" + e);
        }
      } else {
        if (c < 0x20) throw error("control character in string");
        b.append(c);
      }
    }
  }

  private Object number() {
    int start = pos;
    if (peek() == '-') pos++;
    while (pos < text.length() && "0123456789+-.eE".indexOf(text.charAt(pos)) >= 0) pos++;
    String s = text.substring(start, pos);
    try {
      if (s.indexOf('.') < 0 && s.indexOf('e') < 0 && s.indexOf('E') < 0) {
        try {
          return Long.parseLong(s);
        } catch (NumberFormatException tooLong) {
          return Double.parseDouble(s);
        }
      }
      return Double.parseDouble(s);
    } catch (NumberFormatException e) {
      throw error("bad number '" + s + "'");
    }
  }

  private Object literal(String word, Object value) {
    if (!text.startsWith(word, pos)) throw error("expected " + word);
    pos += word.length();
    return value;
  }

  private void skipSpace() {
    while (pos < text.length()) {
      char c = text.charAt(pos);
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
      pos++;
    }
  }

  private char peek() {
    if (pos >= text.length()) throw error("unexpected end");
    return text.charAt(pos);
  }

  private char next() {
    char c = peek();
    pos++;
    return c;
  }

  private void expect(char c) {
    if (next() != c) throw error("expected '" + c + "'");
  }

  private IllegalArgumentException error(String what) {
    return new IllegalArgumentException("JSON: " + what + " at offset " + pos);
  }

  // ---- writing ----------------------------------------------------------------------------------

  /** Compact JSON on one line. Doubles print with Java's shortest round-trip form; NaN/inf as null. */
  public static String write(Object value) {
    StringBuilder b = new StringBuilder();
    write(b, value, -1, 0);
    return b.toString();
  }

  /** Indented JSON (two spaces), for files people read. */
  public static String writePretty(Object value) {
    StringBuilder b = new StringBuilder();
    write(b, value, 2, 0);
    return b.append('\n').toString();
  }

  private static void write(StringBuilder b, Object v, int indent, int depth) {
    if (v == null) {
      b.append("null");
    } else if (v instanceof String s) {
      quote(b, s);
    } else if (v instanceof Boolean) {
      b.append(v);
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      if (!Double.isFinite(d)) b.append("null");
      else if (d == Math.rint(d) && Math.abs(d) < 1e15) b.append((long) d).append(".0");
      else b.append(v instanceof Float ? Float.toString((Float) v) : Double.toString(d));
    } else if (v instanceof Number) {
      b.append(v);
    } else if (v instanceof Map<?, ?> m) {
      b.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!first) b.append(',');
        first = false;
        newline(b, indent, depth + 1);
        quote(b, String.valueOf(e.getKey()));
        b.append(indent < 0 ? ":" : ": ");
        write(b, e.getValue(), indent, depth + 1);
      }
      if (!m.isEmpty()) newline(b, indent, depth);
      b.append('}');
    } else if (v instanceof Iterable<?> it) {
      b.append('[');
      boolean first = true;
      for (Object o : it) {
        if (!first) b.append(indent < 0 ? "," : ", ");
        first = false;
        write(b, o, indent, depth + 1);
      }
      b.append(']');
    } else if (v instanceof int[] a) {
      List<Object> l = new ArrayList<>();
      for (int x : a) l.add(x);
      write(b, l, indent, depth);
    } else if (v instanceof long[] a) {
      List<Object> l = new ArrayList<>();
      for (long x : a) l.add(x);
      write(b, l, indent, depth);
    } else {
      throw new IllegalArgumentException("JSON: cannot write a " + v.getClass().getName());
    }
  }

  private static void newline(StringBuilder b, int indent, int depth) {
    if (indent < 0) return;
    b.append('\n');
    for (int i = 0; i < indent * depth; i++) b.append(' ');
  }

  private static void quote(StringBuilder b, String s) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
        }
      }
    }
    b.append('"');
  }

  // ---- typed access -----------------------------------------------------------------------------

  /** A number field as double, or def when absent or null. */
  public static double getDouble(Map<String, Object> m, String key, double def) {
    Object v = m.get(key);
    if (v == null) return def;
    if (!(v instanceof Number n)) throw new IllegalArgumentException("JSON: '" + key + "' must be a number, got " + v);
    return n.doubleValue();
  }

  /** An integral field as long, or def when absent or null. */
  public static long getLong(Map<String, Object> m, String key, long def) {
    Object v = m.get(key);
    if (v == null) return def;
    if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
      throw new IllegalArgumentException("JSON: '" + key + "' must be an integer, got " + v);
    }
    return n.longValue();
  }

  public static int getInt(Map<String, Object> m, String key, int def) {
    return Math.toIntExact(getLong(m, key, def));
  }

  public static String getString(Map<String, Object> m, String key, String def) {
    Object v = m.get(key);
    if (v == null) return def;
    if (!(v instanceof String s)) throw new IllegalArgumentException("JSON: '" + key + "' must be a string, got " + v);
    return s;
  }

  public static boolean getBoolean(Map<String, Object> m, String key, boolean def) {
    Object v = m.get(key);
    if (v == null) return def;
    if (!(v instanceof Boolean b)) throw new IllegalArgumentException("JSON: '" + key + "' must be true or false, got " + v);
    return b;
  }
}
