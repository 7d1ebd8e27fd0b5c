package ai.anvil.testkit;

import java.util.function.Function;

/**
 * fp64 central differences: the check that validates each plain-Java reference backward before that
 * reference is used to judge a native kernel.
 */
public final class FiniteDifferences {
  private FiniteDifferences() {}

  /**
   * d(sum(f(x) * weights))/dx by central differences with step h, where f maps the input to an output
   * vector. Choose random weights so every output element matters.
   */
  public static double[] gradient(Function<double[], double[]> f, double[] x, double[] weights, double h) {
    double[] grad = new double[x.length];
    double[] probe = x.clone();
    for (int i = 0; i < x.length; i++) {
      probe[i] = x[i] + h;
      double plus = dot(f.apply(probe), weights);
      probe[i] = x[i] - h;
      double minus = dot(f.apply(probe), weights);
      probe[i] = x[i];
      grad[i] = (plus - minus) / (2 * h);
    }
    return grad;
  }

  public static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }
}
