package ai.anvil.testkit.reference;

import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.anvil.testkit.FiniteDifferences;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import org.junit.jupiter.api.Test;

/**
 * Validates the backward of each Llama op's fp64 reference against central differences of its own
 * forward (see {@link ReferenceGradientTest} for the tolerance), so the references can judge the
 * native kernels.
 */
class LlamaReferenceGradientTest {
  private static final Tolerance FD = new Tolerance(1e-7, 1e-6);
  private static final double H = 1e-5;

  @Test
  void rmsNormBackward() {
    int rows = 3, cols = 7;
    double eps = 1e-6;
    Random rnd = new Random(21);
    double[] x = rnd.normal(rows * cols, 1.5), weight = rnd.normal(cols, 1), w = rnd.normal(rows * cols, 1);
    RmsNormReference.Backward b = RmsNormReference.backward(x, weight, w, rows, cols, eps);
    assertClose("rmsnorm dx", FiniteDifferences.gradient(
        v -> RmsNormReference.forward(v, weight, rows, cols, eps).y(), x, w, H), b.dx(), FD);
    assertClose("rmsnorm dweight", FiniteDifferences.gradient(
        v -> RmsNormReference.forward(x, v, rows, cols, eps).y(), weight, w, H), b.dweight(), FD);
  }

  @Test
  void rmsNormKnownValue() {
    // x = (3, 4): mean(x^2) = 12.5, so y = x / sqrt(12.5 + eps) * w.
    double[] y = RmsNormReference.forward(new double[] {3, 4}, new double[] {1, 2}, 1, 2, 0).y();
    assertClose("rmsnorm (3, 4)", new double[] {3 / Math.sqrt(12.5), 8 / Math.sqrt(12.5)}, y, new Tolerance(0, 1e-15));
  }

  @Test
  void ropeBackwardIsTheTranspose() {
    int batch = 2, seq = 3, heads = 2, headDim = 6;
    long offset = 5;
    double theta = 1000;
    Random rnd = new Random(22);
    double[] x = rnd.normal(batch * seq * heads * headDim, 1), w = rnd.normal(x.length, 1);
    double[] fd = FiniteDifferences.gradient(
        v -> RopeReference.forward(v, batch, seq, heads, headDim, offset, theta, false), x, w, H);
    assertClose("rope dx", fd, RopeReference.backward(w, batch, seq, heads, headDim, offset, theta), FD);
    // A rotation: the inverse undoes it, and norms are kept.
    double[] y = RopeReference.forward(x, batch, seq, heads, headDim, offset, theta, false);
    assertClose("rope inverse", x, RopeReference.forward(y, batch, seq, heads, headDim, offset, theta, true),
        new Tolerance(1e-14, 1e-13));
    assertEquals(FiniteDifferences.dot(x, x), FiniteDifferences.dot(y, y), 1e-12);
  }

  @Test
  void ropeKnownAngles() {
    // Pair 0 turns by the position itself (inv_freq 1); pair j by pos * theta^(-2j/D), up to fp32 rounding.
    assertEquals(7.0, RopeReference.angle(7, 0, 8, 10000), 0);
    assertEquals(3 * Math.pow(10000, -0.25), RopeReference.angle(3, 1, 8, 10000), 3e-7);
    // Position 0 is the identity; position 1 of a (1, 0 | 0, 0) head with one pair turns it to (cos 1, sin 1).
    double[] out = RopeReference.forward(new double[] {1, 0}, 1, 1, 1, 2, 1, 10000, false);
    assertClose("rope position 1", new double[] {Math.cos(1), Math.sin(1)}, out, new Tolerance(0, 1e-15));
  }

  @Test
  void swigluBackward() {
    Random rnd = new Random(23);
    double[] a = rnd.uniform(33, 8), b = rnd.normal(33, 1), w = rnd.normal(33, 1);
    SwigluReference.Backward g = SwigluReference.backward(a, b, w);
    assertClose("swiglu da", FiniteDifferences.gradient(v -> SwigluReference.forward(v, b), a, w, H), g.da(), FD);
    assertClose("swiglu db", FiniteDifferences.gradient(v -> SwigluReference.forward(a, v), b, w, H), g.db(), FD);
  }

  @Test
  void repeatKvBackward() {
    int rows = 3, kvHeads = 2, groups = 3, headDim = 4;
    Random rnd = new Random(24);
    double[] x = rnd.normal(rows * kvHeads * headDim, 1), w = rnd.normal(rows * kvHeads * groups * headDim, 1);
    double[] fd = FiniteDifferences.gradient(v -> RepeatKvReference.forward(v, rows, kvHeads, groups, headDim), x, w, H);
    assertClose("repeat_kv dx", fd, RepeatKvReference.backward(w, rows, kvHeads, groups, headDim), FD);
  }
}
