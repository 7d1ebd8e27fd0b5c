package ai.anvil.testkit.reference;

/**
 * Rotary position embedding in fp64, Hugging Face's rotate_half convention: the oracle for
 * native/cpu/rope.cpp. x (batch, seq, heads * headDim); per head, for j < half = headDim / 2:
 * out[j] = x[j] cos - x[j + half] sin, out[j + half] = x[j + half] cos + x[j] sin, at the angle
 * {@link #angle}. The op is defined with the angles transformers forms in fp32; everything after them is
 * exact here.
 */
public final class RopeReference {
  private RopeReference() {}

  /**
   * The rotation angle of pair j at position pos, formed as transformers' LlamaRotaryEmbedding forms it:
   * inv_freq = 1 / theta^((2j) / headDim) with every operation in fp32, angle = fp32(pos * inv_freq).
   */
  public static double angle(long pos, int j, int headDim, double theta) {
    float exponent = (float) (2 * j) / (float) headDim;
    float power = (float) Math.pow((float) theta, exponent);
    float invFreq = 1.0f / power;
    return (float) pos * invFreq;
  }

  /** out = rotate(x) by +angle, or by -angle when inverse (the backward: the transpose). */
  public static double[] forward(double[] x, int batch, int seq, int heads, int headDim, long posOffset, double theta,
                                 boolean inverse) {
    int half = headDim / 2, width = heads * headDim;
    double[] out = new double[x.length];
    for (int b = 0; b < batch; b++) {
      for (int t = 0; t < seq; t++) {
        int row = (b * seq + t) * width;
        for (int j = 0; j < half; j++) {
          double a = angle(posOffset + t, j, headDim, theta);
          double c = Math.cos(a), s = inverse ? -Math.sin(a) : Math.sin(a);
          for (int h = 0; h < heads; h++) {
            int i = row + h * headDim + j;
            double x1 = x[i], x2 = x[i + half];
            out[i] = x1 * c - x2 * s;
            out[i + half] = x2 * c + x1 * s;
          }
        }
      }
    }
    return out;
  }

  /** dx from dout: the inverse rotation. */
  public static double[] backward(double[] dout, int batch, int seq, int heads, int headDim, long posOffset,
                                  double theta) {
    return forward(dout, batch, seq, heads, headDim, posOffset, theta, true);
  }
}
