package ai.anvil.train.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A line chart as an inline SVG element (no script, no network): several (x, y) series on shared
 * axes with "nice" ticks, a legend, and points drawn for short series (val curves have few points).
 * Non-finite values are left out.
 */
final class SvgChart {
  /** One named line. */
  record Series(String name, List<double[]> points) {}

  static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  private static final int W = 640, H = 320, LEFT = 60, RIGHT = 20, TOP = 30, BOTTOM = 45;

  private SvgChart() {}

  /** The chart; an SVG saying "no data" when no series has a finite point. */
  static String render(String title, String xLabel, String yLabel, List<Series> series) {
    double x0 = Double.POSITIVE_INFINITY, x1 = Double.NEGATIVE_INFINITY, y0 = Double.POSITIVE_INFINITY, y1 = Double.NEGATIVE_INFINITY;
    for (Series s : series) {
      for (double[] p : s.points()) {
        if (!Double.isFinite(p[0]) || !Double.isFinite(p[1])) continue;
        x0 = Math.min(x0, p[0]);
        x1 = Math.max(x1, p[0]);
        y0 = Math.min(y0, p[1]);
        y1 = Math.max(y1, p[1]);
      }
    }
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
        + "font-family=\"sans-serif\" font-size=\"11\" role=\"img\">", W, H, W, H));
    b.append("<title>").append(Html.escape(title)).append("</title>");
    b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"18\" font-size=\"13\" font-weight=\"bold\">%s</text>", LEFT, Html.escape(title)));
    if (x0 > x1) {
      b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">no data</text></svg>", W / 2 - 20, H / 2));
      return b.toString();
    }
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) {
      y0 -= 0.5;
      y1 += 0.5;
    }
    double[] yt = ticks(y0, y1), xt = ticks(x0, x1);
    y0 = Math.min(y0, yt[0]);
    y1 = Math.max(y1, yt[yt.length - 1]);
    final double fx0 = x0, fx1 = x1, fy0 = y0, fy1 = y1;
    int pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
    java.util.function.DoubleUnaryOperator sx = x -> LEFT + (x - fx0) / (fx1 - fx0) * pw;
    java.util.function.DoubleUnaryOperator sy = y -> TOP + ph - (y - fy0) / (fy1 - fy0) * ph;
    b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>", LEFT, TOP, pw, ph));
    for (double t : yt) {
      if (t < y0 || t > y1) continue;
      double y = sy.applyAsDouble(t);
      b.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", LEFT, LEFT + pw, y, y));
      b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>", LEFT - 4, y + 4, label(t)));
    }
    for (double t : xt) {
      if (t < x0 || t > x1) continue;
      double x = sx.applyAsDouble(t);
      b.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>", x, TOP + ph + 15, label(t)));
    }
    b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>", LEFT + pw / 2, H - 8, Html.escape(xLabel)));
    b.append(String.format(Locale.ROOT, "<text x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">%s</text>",
        TOP + ph / 2, TOP + ph / 2, Html.escape(yLabel)));
    for (int i = 0; i < series.size(); i++) {
      Series s = series.get(i);
      String color = COLORS[i % COLORS.length];
      List<String> pts = new ArrayList<>();
      for (double[] p : s.points()) {
        if (Double.isFinite(p[0]) && Double.isFinite(p[1])) {
          pts.add(String.format(Locale.ROOT, "%.1f,%.1f", sx.applyAsDouble(p[0]), sy.applyAsDouble(p[1])));
        }
      }
      b.append("<polyline fill=\"none\" stroke=\"").append(color).append("\" stroke-width=\"1.5\" points=\"")
          .append(String.join(" ", pts)).append("\"/>");
      if (pts.size() <= 40) {
        for (String p : pts) {
          String[] xy = p.split(",");
          b.append("<circle cx=\"").append(xy[0]).append("\" cy=\"").append(xy[1]).append("\" r=\"2.5\" fill=\"").append(color).append("\"/>");
        }
      }
      int ly = TOP + 12 + 14 * i;
      b.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>",
          LEFT + pw - 150, LEFT + pw - 132, ly - 4, ly - 4, color));
      b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>", LEFT + pw - 128, ly, Html.escape(s.name())));
    }
    return b.append("</svg>").toString();
  }

  /** About five round tick values covering [lo, hi]. */
  static double[] ticks(double lo, double hi) {
    double span = hi - lo;
    double step = Math.pow(10, Math.floor(Math.log10(span / 5)));
    for (double m : new double[] {1, 2, 5, 10}) {
      if (span / (step * m) <= 6) {
        step *= m;
        break;
      }
    }
    double start = Math.floor(lo / step) * step;
    List<Double> out = new ArrayList<>();
    for (double t = start; t <= hi + step * 0.999; t += step) out.add(Math.abs(t) < step * 1e-9 ? 0 : t);
    return out.stream().mapToDouble(Double::doubleValue).toArray();
  }

  private static String label(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e7) return String.format(Locale.ROOT, "%d", (long) v);
    return new java.math.BigDecimal(String.format(Locale.ROOT, "%.3g", v)).stripTrailingZeros().toPlainString();
  }
}
