package ai.anvil.testkit.reference;

/**
 * Hugging Face's repeat_kv on token rows, in fp64: x (rows, kvHeads * headDim) -> (rows, kvHeads * groups
 * * headDim), out head h = x head h / groups. The oracle for native/cpu/repeat_kv.cpp.
 */
public final class RepeatKvReference {
  private RepeatKvReference() {}

  public static double[] forward(double[] x, int rows, int kvHeads, int groups, int headDim) {
    int in = kvHeads * headDim, outWidth = in * groups;
    double[] out = new double[rows * outWidth];
    for (int r = 0; r < rows; r++) {
      for (int h = 0; h < kvHeads * groups; h++) {
        for (int d = 0; d < headDim; d++) out[r * outWidth + h * headDim + d] = x[r * in + (h / groups) * headDim + d];
      }
    }
    return out;
  }

  /** dx head g = sum of dout heads g * groups .. g * groups + groups - 1. */
  public static double[] backward(double[] dout, int rows, int kvHeads, int groups, int headDim) {
    int in = kvHeads * headDim, outWidth = in * groups;
    double[] dx = new double[rows * in];
    for (int r = 0; r < rows; r++) {
      for (int h = 0; h < kvHeads * groups; h++) {
        for (int d = 0; d < headDim; d++) dx[r * in + (h / groups) * headDim + d] += dout[r * outWidth + h * headDim + d];
      }
    }
    return dx;
  }
}
