package ai.anvil.testkit;

import ai.anvil.tensor.Tensor;
import org.opentest4j.AssertionFailedError;

/** Comparisons that report the worst element: max abs and rel error, and where they occur. */
public final class Assertions {
  private Assertions() {}

  public static void assertClose(String what, double[] expected, float[] actual, Tolerance tol) {
    if (expected.length != actual.length) {
      throw new AssertionFailedError(what + ": length " + actual.length + ", expected " + expected.length);
    }
    double maxAbs = 0, maxRel = 0;
    int worst = -1, firstBad = -1;
    for (int i = 0; i < expected.length; i++) {
      double e = expected[i], a = actual[i];
      if (Double.isNaN(a) != Double.isNaN(e) || Double.isInfinite(a) != Double.isInfinite(e)) {
        throw new AssertionFailedError(what + ": element " + i + " is " + a + ", expected " + e);
      }
      if (Double.isNaN(e) || Double.isInfinite(e)) {
        if (Double.compare(a, e) != 0) throw new AssertionFailedError(what + ": element " + i + " is " + a + ", expected " + e);
        continue;
      }
      double abs = Math.abs(a - e);
      double rel = abs / Math.max(Math.abs(e), 1e-30);
      if (abs > maxAbs) {
        maxAbs = abs;
        worst = i;
      }
      maxRel = Math.max(maxRel, Math.min(rel, abs));
      if (firstBad < 0 && !tol.accepts(a, e)) firstBad = i;
    }
    if (firstBad >= 0) {
      throw new AssertionFailedError(String.format(
          "%s: element %d is %.9g, expected %.9g (tolerance atol %.1e rtol %.1e); max abs error %.3e at %d",
          what, firstBad, (double) actual[firstBad], expected[firstBad], tol.atol(), tol.rtol(), maxAbs, worst));
    }
  }

  public static void assertClose(String what, double[] expected, Tensor actual, Tolerance tol) {
    assertClose(what, expected, actual.toFloatArray(), tol);
  }

  public static void assertClose(String what, double[] expected, double[] actual, Tolerance tol) {
    float[] f = new float[actual.length];
    boolean ok = true;
    for (int i = 0; i < actual.length; i++) {
      if (!tol.accepts(actual[i], expected[i])) {
        ok = false;
      }
      f[i] = (float) actual[i];
    }
    if (!ok) {
      for (int i = 0; i < actual.length; i++) {
        if (!tol.accepts(actual[i], expected[i])) {
          throw new AssertionFailedError(String.format("%s: element %d is %.12g, expected %.12g", what, i, actual[i],
              expected[i]));
        }
      }
    }
  }

  /** Max abs error of actual against the fp64 reference. */
  public static double maxAbsError(double[] expected, float[] actual) {
    double m = 0;
    for (int i = 0; i < expected.length; i++) m = Math.max(m, Math.abs(actual[i] - expected[i]));
    return m;
  }

  /**
   * The low-precision rule (DESIGN.md, FlashAttention's tests): a kernel passes when its max error
   * against the fp64 reference is at most twice the error of the same math done naively at that
   * precision (plus a tiny floor for exact cases).
   */
  public static void assertWithinNaiveError(String what, double[] reference, float[] kernel, float[] naive) {
    double kernelError = maxAbsError(reference, kernel);
    double naiveError = maxAbsError(reference, naive);
    if (kernelError > 2 * naiveError + 1e-6) {
      throw new AssertionFailedError(String.format("%s: kernel error %.3e exceeds 2x the naive error %.3e", what,
          kernelError, naiveError));
    }
  }

  /** Every element was written: no NaN left from {@link Poison}. */
  public static void assertAllWritten(String what, Tensor t) {
    float[] v = t.toFloatArray();
    for (int i = 0; i < v.length; i++) {
      if (Float.isNaN(v[i])) throw new AssertionFailedError(what + ": element " + i + " of " + t.shape() + " not written (NaN poison left)");
    }
  }
}
