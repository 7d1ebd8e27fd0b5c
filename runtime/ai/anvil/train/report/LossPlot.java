package ai.anvil.train.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * A PNG of the training and validation loss curves: raw train loss (light), its exponential moving
 * average, and val loss at each evaluation, over steps. Drawn with java.awt in memory (headless).
 */
public final class LossPlot {
  private static final int W = 960, H = 540, LEFT = 70, RIGHT = 20, TOP = 40, BOTTOM = 50;
  private static final Color TRAIN_RAW = new Color(120, 160, 230);
  private static final Color TRAIN = new Color(30, 80, 200);
  private static final Color VAL = new Color(220, 80, 30);

  private LossPlot() {}

  /** Writes the plot; train and val are (step, loss) pairs in step order. */
  public static void write(Path png, List<double[]> train, List<double[]> val, String title) throws IOException {
    System.setProperty("java.awt.headless", "true");
    BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, W, H);
      double maxStep = 1, lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
      for (List<double[]> s : List.of(train, val)) {
        for (double[] p : s) {
          if (!Double.isFinite(p[1])) continue;
          maxStep = Math.max(maxStep, p[0]);
          lo = Math.min(lo, p[1]);
          hi = Math.max(hi, p[1]);
        }
      }
      if (!(lo <= hi)) {
        lo = 0;
        hi = 1;
      }
      if (hi - lo < 1e-6) hi = lo + 1;
      double pad = (hi - lo) * 0.05;
      Axes ax = new Axes(maxStep, lo - pad, hi + pad);
      grid(g, ax);
      if (!train.isEmpty()) {
        g.setStroke(new BasicStroke(1f));
        g.setColor(TRAIN_RAW);
        g.draw(path(ax, train));
        g.setStroke(new BasicStroke(2f));
        g.setColor(TRAIN);
        g.draw(path(ax, ema(train, 0.95)));
      }
      if (!val.isEmpty()) {
        g.setStroke(new BasicStroke(2f));
        g.setColor(VAL);
        g.draw(path(ax, val));
        for (double[] p : val) {
          if (Double.isFinite(p[1])) g.fillOval((int) ax.x(p[0]) - 3, (int) ax.y(p[1]) - 3, 7, 7);
        }
      }
      g.setColor(Color.BLACK);
      g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
      g.drawString(title, LEFT, 26);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
      legend(g, "train loss (EMA 0.95)", TRAIN, 0);
      legend(g, "val loss", VAL, 1);
      g.drawString("step", LEFT + (W - LEFT - RIGHT) / 2 - 12, H - 12);
    } finally {
      g.dispose();
    }
    if (!ImageIO.write(img, "png", png.toFile())) throw new IOException("no PNG writer in this JVM");
  }

  private record Axes(double maxStep, double lo, double hi) {
    double x(double step) {
      return LEFT + step / maxStep * (W - LEFT - RIGHT);
    }

    double y(double v) {
      return TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
    }
  }

  private static void grid(Graphics2D g, Axes ax) {
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    FontMetrics fm = g.getFontMetrics();
    double yStep = niceStep((ax.hi - ax.lo) / 6);
    for (double v = Math.ceil(ax.lo / yStep) * yStep; v <= ax.hi; v += yStep) {
      int y = (int) ax.y(v);
      g.setColor(new Color(230, 230, 230));
      g.drawLine(LEFT, y, W - RIGHT, y);
      g.setColor(Color.DARK_GRAY);
      String label = String.format("%.2f", v);
      g.drawString(label, LEFT - 6 - fm.stringWidth(label), y + 4);
    }
    double xStep = niceStep(ax.maxStep / 8);
    for (double s = 0; s <= ax.maxStep; s += xStep) {
      int x = (int) ax.x(s);
      g.setColor(new Color(230, 230, 230));
      g.drawLine(x, TOP, x, H - BOTTOM);
      g.setColor(Color.DARK_GRAY);
      String label = String.valueOf((long) s);
      g.drawString(label, x - fm.stringWidth(label) / 2, H - BOTTOM + 16);
    }
    g.setColor(Color.GRAY);
    g.drawRect(LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
  }

  private static void legend(Graphics2D g, String text, Color color, int row) {
    int x = W - RIGHT - 200, y = TOP + 20 + row * 20;
    g.setColor(color);
    g.fillRect(x, y - 8, 18, 4);
    g.setColor(Color.BLACK);
    g.drawString(text, x + 26, y);
  }

  private static double niceStep(double raw) {
    if (!(raw > 0)) return 1;
    double mag = Math.pow(10, Math.floor(Math.log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
  }

  private static Path2D path(Axes ax, List<double[]> points) {
    Path2D p = new Path2D.Double();
    boolean started = false;
    for (double[] pt : points) {
      if (!Double.isFinite(pt[1])) {
        started = false;
        continue;
      }
      if (started) p.lineTo(ax.x(pt[0]), ax.y(pt[1]));
      else p.moveTo(ax.x(pt[0]), ax.y(pt[1]));
      started = true;
    }
    return p;
  }

  private static List<double[]> ema(List<double[]> points, double decay) {
    List<double[]> out = new java.util.ArrayList<>();
    double avg = Double.NaN;
    for (double[] p : points) {
      if (!Double.isFinite(p[1])) continue;
      avg = Double.isNaN(avg) ? p[1] : decay * avg + (1 - decay) * p[1];
      out.add(new double[] {p[0], avg});
    }
    return out;
  }
}
