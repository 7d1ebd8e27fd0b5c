package ai.anvil.testkit.reference;

/**
 * RMS normalization over the last dim in fp64: the oracle for native/cpu/rmsnorm.cpp.
 * y = x * rstd * weight, rstd = 1 / sqrt(mean(x^2) + eps).
 */
public final class RmsNormReference {
  private RmsNormReference() {}

  /** y (rows, cols), rstd (rows). */
  public record Forward(double[] y, double[] rstd) {}

  /** dx (rows, cols); dweight (cols): this call's contribution (the kernels add it). */
  public record Backward(double[] dx, double[] dweight) {}

  public static Forward forward(double[] x, double[] weight, int rows, int cols, double eps) {
    double[] y = new double[rows * cols], rstd = new double[rows];
    for (int r = 0; r < rows; r++) {
      int o = r * cols;
      double squares = 0;
      for (int j = 0; j < cols; j++) squares += x[o + j] * x[o + j];
      rstd[r] = 1 / Math.sqrt(squares / cols + eps);
      for (int j = 0; j < cols; j++) y[o + j] = x[o + j] * rstd[r] * weight[j];
    }
    return new Forward(y, rstd);
  }

  /** dx = rstd (g - xhat mean_j(g xhat)), g = dy w, xhat = x rstd; dweight = sum_rows dy xhat. */
  public static Backward backward(double[] x, double[] weight, double[] dy, int rows, int cols, double eps) {
    double[] rstd = forward(x, weight, rows, cols, eps).rstd();
    double[] dx = new double[rows * cols], dweight = new double[cols];
    for (int r = 0; r < rows; r++) {
      int o = r * cols;
      double b = 0;
      for (int j = 0; j < cols; j++) {
        double xhat = x[o + j] * rstd[r];
        b += dy[o + j] * weight[j] * xhat;
        dweight[j] += dy[o + j] * xhat;
      }
      for (int j = 0; j < cols; j++) {
        dx[o + j] = rstd[r] * (dy[o + j] * weight[j] - x[o + j] * rstd[r] * b / cols);
      }
    }
    return new Backward(dx, dweight);
  }
}
