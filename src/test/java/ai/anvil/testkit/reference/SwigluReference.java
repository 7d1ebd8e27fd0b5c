package ai.anvil.testkit.reference;

/** silu(a) * b in fp64, silu(a) = a / (1 + exp(-a)): the oracle for native/cpu/swiglu.cpp. */
public final class SwigluReference {
  private SwigluReference() {}

  public record Backward(double[] da, double[] db) {}

  public static double sigmoid(double a) {
    return a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a));
  }

  public static double[] forward(double[] a, double[] b) {
    double[] out = new double[a.length];
    for (int i = 0; i < a.length; i++) out[i] = a[i] * sigmoid(a[i]) * b[i];
    return out;
  }

  /** da = dout b s (1 + a (1 - s)), db = dout a s, s = sigmoid(a). */
  public static Backward backward(double[] a, double[] b, double[] dout) {
    double[] da = new double[a.length], db = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      double s = sigmoid(a[i]);
      da[i] = dout[i] * b[i] * s * (1 + a[i] * (1 - s));
      db[i] = dout[i] * a[i] * s;
    }
    return new Backward(da, db);
  }
}
