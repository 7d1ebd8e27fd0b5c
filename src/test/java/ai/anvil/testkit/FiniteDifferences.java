package ai.anvil.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.anvil.nn.Parameter;
import java.util.function.DoubleSupplier;
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

  /**
   * Checks a parameter's recorded gradient (p.grad(), from one backward of objective) against central
   * differences of objective with step h at every stride-th element of p, each within 2e-3 + 2e-2 |numeric|
   * (fp32 forwards); label[i] names a failing element. p's value is restored after every probe.
   */
  public static void assertParameterGradient(Parameter p, DoubleSupplier objective, int stride, double h,
                                             String label) {
    float[] grad = p.grad().toFloatArray(), value = p.value().toFloatArray();
    for (int i = 0; i < grad.length; i += stride) {
      float[] v = value.clone();
      v[i] += (float) h;
      p.value().copyFrom(v);
      double plus = objective.getAsDouble();
      v[i] -= (float) (2 * h);
      p.value().copyFrom(v);
      double minus = objective.getAsDouble();
      p.value().copyFrom(value);
      double numeric = (plus - minus) / (2 * h);
      assertEquals(numeric, grad[i], 2e-3 + 2e-2 * Math.abs(numeric), label + "[" + i + "]");
    }
  }

  public static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }
}
