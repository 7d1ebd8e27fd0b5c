package ai.anvil.testkit.reference;

/**
 * Softmax over the last dim in fp64: the oracle for native/cpu/softmax.cpp. A row whose scaled entries
 * are all -inf (fully masked) gives zeros, as the kernels do.
 */
public final class SoftmaxReference {
  private SoftmaxReference() {}

  /** y (rows, cols) = softmax(scale * x (rows, cols)). */
  public static double[] forward(double[] x, int rows, int cols, double scale) {
    double[] y = new double[rows * cols];
    for (int r = 0; r < rows; r++) {
      int o = r * cols;
      double max = Double.NEGATIVE_INFINITY, sum = 0;
      for (int j = 0; j < cols; j++) max = Math.max(max, scale * x[o + j]);
      if (max == Double.NEGATIVE_INFINITY) continue;
      for (int j = 0; j < cols; j++) {
        y[o + j] = Math.exp(scale * x[o + j] - max);
        sum += y[o + j];
      }
      for (int j = 0; j < cols; j++) y[o + j] /= sum;
    }
    return y;
  }

  /** dx (rows, cols) = scale * y * (dy - sum(dy * y)), from the forward's y. */
  public static double[] backward(double[] y, double[] dy, int rows, int cols, double scale) {
    double[] dx = new double[rows * cols];
    for (int r = 0; r < rows; r++) {
      int o = r * cols;
      double dot = 0;
      for (int j = 0; j < cols; j++) dot += dy[o + j] * y[o + j];
      for (int j = 0; j < cols; j++) dx[o + j] = scale * y[o + j] * (dy[o + j] - dot);
    }
    return dx;
  }
}
