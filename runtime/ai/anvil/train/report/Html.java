package ai.anvil.train.report;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** The few HTML pieces the run report is made of: escaping, value formatting and tables. */
final class Html {
  static final String STYLE = "body{font-family:sans-serif;margin:24px;max-width:1100px;color:#222}"
      + "table{border-collapse:collapse;margin:8px 0 20px;display:block;overflow-x:auto}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
      + "th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}h1{font-size:20px}h2{font-size:16px;margin-top:28px}"
      + ".muted{color:#777;font-size:12px}svg{margin:4px 12px 4px 0}";

  private Html() {}

  static String escape(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
      switch (c) {
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '&' -> b.append("&amp;");
        case '"' -> b.append("&quot;");
        default -> b.append(c);
      }
    }
    return b.toString();
  }

  /** Numbers with 4 significant digits (integers as they are), null as a dash, the rest escaped. */
  static String format(Object v) {
    if (v == null) return "&ndash;";
    if (v instanceof Number n) {
      double d = n.doubleValue();
      if (Double.isNaN(d)) return "&ndash;";
      if (d == Math.rint(d) && Math.abs(d) < 1e15) return String.format(Locale.ROOT, "%,d", (long) d);
      return String.format(Locale.ROOT, "%.4g", d);
    }
    return escape(String.valueOf(v));
  }

  /** A two-column table of a map's entries. */
  static String keyValues(Map<String, Object> m) {
    StringBuilder b = new StringBuilder("<table>");
    for (Map.Entry<String, Object> e : m.entrySet()) {
      b.append("<tr><td>").append(escape(e.getKey())).append("</td><td>").append(format(e.getValue())).append("</td></tr>");
    }
    return b.append("</table>").toString();
  }

  /** A table with one row per map; columns are the given keys, or the union of the rows' keys when null. */
  static String rows(List<String> rowNames, String firstHeader, List<Map<String, Object>> rows, List<String> columns) {
    List<String> cols;
    if (columns != null) {
      cols = new ArrayList<>();
      for (String c : columns) for (Map<String, Object> r : rows) if (r.containsKey(c) && !cols.contains(c)) cols.add(c);
    } else {
      Set<String> all = new LinkedHashSet<>();
      for (Map<String, Object> r : rows) all.addAll(r.keySet());
      cols = new ArrayList<>(all);
    }
    StringBuilder b = new StringBuilder("<table><tr>");
    if (rowNames != null) b.append("<th>").append(escape(firstHeader)).append("</th>");
    for (String c : cols) b.append("<th>").append(escape(c)).append("</th>");
    b.append("</tr>");
    for (int i = 0; i < rows.size(); i++) {
      b.append("<tr>");
      if (rowNames != null) b.append("<td>").append(escape(rowNames.get(i))).append("</td>");
      for (String c : cols) b.append("<td>").append(format(rows.get(i).get(c))).append("</td>");
      b.append("</tr>");
    }
    return b.append("</table>").toString();
  }
}
