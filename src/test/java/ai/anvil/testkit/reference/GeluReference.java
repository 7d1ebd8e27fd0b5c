package ai.anvil.testkit.reference;

/**
 * GELU in fp64, both forms, forward and backward: the oracle for native/cpu/gelu.cpp and the CUDA
 * kernel. Written in the forms that stay accurate in the negative tail, where the textbook
 * 0.5 x (1 + tanh) and 0.5 x (1 + erf) cancel to nothing even in fp64:
 * <ul>
 *   <li>tanh (GPT-2): gelu(x) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3);
 *   <li>erf (BERT): gelu(x) = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2.
 * </ul>
 */
public final class GeluReference {
  private static final double C = Math.sqrt(2 / Math.PI);
  private static final double K = 0.044715;

  private GeluReference() {}

  /** y (n) = gelu(x (n)). */
  public static double[] forward(double[] x, boolean tanh) {
    double[] y = new double[x.length];
    for (int i = 0; i < x.length; i++) y[i] = x[i] * (tanh ? sigmoid2u(x[i]) : cdf(x[i]));
    return y;
  }

  /** dx (n) = dy * gelu'(x). */
  public static double[] backward(double[] x, double[] dy, boolean tanh) {
    double[] dx = new double[x.length];
    for (int i = 0; i < x.length; i++) dx[i] = dy[i] * slope(x[i], tanh);
    return dx;
  }

  /** gelu'(x). */
  public static double slope(double x, boolean tanh) {
    if (!tanh) return cdf(x) + x * Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
    double u = C * (x + K * x * x * x);
    double e = Math.exp(-2 * u);
    double s = 1 / (1 + e);
    double oneMinusS = s < 0.5 ? 1 - s : e * s;
    return s + x * s * oneMinusS * 2 * C * (1 + 3 * K * x * x);
  }

  private static double sigmoid2u(double x) {
    return 1 / (1 + Math.exp(-2 * C * (x + K * x * x * x)));
  }

  /** The standard normal CDF. */
  public static double cdf(double x) {
    return 0.5 * erfc(-x / Math.sqrt(2));
  }

  /**
   * erfc in fp64 (the JDK has none). |z| < 2: 1 - erf(z) with erf from its everywhere-positive series
   * erf(z) = 2/sqrt(pi) e^{-z^2} sum 2^n z^{2n+1} / (1*3*...*(2n+1)); z >= 2: the continued fraction
   * erfc(z) = e^{-z^2}/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))) by Lentz's method.
   * About 1e-15 relative error, ~1e-14 near z = 2 (where 1 - erf keeps two fewer digits).
   */
  public static double erfc(double z) {
    if (Double.isNaN(z)) return Double.NaN;
    if (z < 0) return 2 - erfc(-z);
    if (z < 2) {
      double term = z, sum = z;
      for (int n = 1; n < 200 && term > 1e-17 * sum; n++) {
        term *= 2 * z * z / (2 * n + 1);
        sum += term;
      }
      return 1 - 2 / Math.sqrt(Math.PI) * Math.exp(-z * z) * sum;
    }
    if (z > 27) return 0;  // below the smallest double
    // Lentz: f = b0 + a1/(b1 + a2/(b2 + ...)), b_k = z, a_k = k/2.
    double tiny = 1e-300;
    double f = z, c = z, d = 0;
    for (int k = 1; k < 500; k++) {
      double a = k / 2.0;
      d = z + a * d;
      d = Math.abs(d) < tiny ? tiny : d;
      c = z + a / c;
      c = Math.abs(c) < tiny ? tiny : c;
      d = 1 / d;
      double delta = c * d;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
  }
}
