package ai.anvil.testkit.reference;

/**
 * Layer normalization over the last dim in fp64: the oracle for native/cpu/layernorm.cpp.
 * y = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps), var biased (divided by cols).
 */
public final class LayerNormReference {
  private LayerNormReference() {}

  /** y (rows, cols), mean (rows), rstd (rows). */
  public record Forward(double[] y, double[] mean, double[] rstd) {}

  /** dx (rows, cols); dweight, dbias (cols): this call's contributions (the kernels add them). */
  public record Backward(double[] dx, double[] dweight, double[] dbias) {}

  /** bias may be null (no bias). */
  public static Forward forward(double[] x, double[] weight, double[] bias, int rows, int cols, double eps) {
    double[] y = new double[rows * cols], mean = new double[rows], rstd = new double[rows];
    for (int r = 0; r < rows; r++) {
      int o = r * cols;
      double sum = 0, squares = 0;
      for (int j = 0; j < cols; j++) sum += x[o + j];
      mean[r] = sum / cols;
      for (int j = 0; j < cols; j++) squares += (x[o + j] - mean[r]) * (x[o + j] - mean[r]);
      rstd[r] = 1 / Math.sqrt(squares / cols + eps);
      for (int j = 0; j < cols; j++) {
        y[o + j] = (x[o + j] - mean[r]) * rstd[r] * weight[j] + (bias == null ? 0 : bias[j]);
      }
    }
    return new Forward(y, mean, rstd);
  }

  /**
   * dx = rstd (dy w - mean_j(dy w) - xhat mean_j(dy w xhat)); dweight = sum_rows dy xhat;
   * dbias = sum_rows dy. The statistics are recomputed from x in fp64.
   */
  public static Backward backward(double[] x, double[] weight, double[] dy, int rows, int cols, double eps) {
    Forward f = forward(x, weight, null, rows, cols, eps);
    double[] dx = new double[rows * cols], dweight = new double[cols], dbias = new double[cols];
    for (int r = 0; r < rows; r++) {
      int o = r * cols;
      double a = 0, b = 0;
      for (int j = 0; j < cols; j++) {
        double xhat = (x[o + j] - f.mean()[r]) * f.rstd()[r];
        a += dy[o + j] * weight[j];
        b += dy[o + j] * weight[j] * xhat;
        dweight[j] += dy[o + j] * xhat;
        dbias[j] += dy[o + j];
      }
      for (int j = 0; j < cols; j++) {
        double xhat = (x[o + j] - f.mean()[r]) * f.rstd()[r];
        dx[o + j] = f.rstd()[r] * (dy[o + j] * weight[j] - a / cols - xhat * b / cols);
      }
    }
    return new Backward(dx, dweight, dbias);
  }
}
