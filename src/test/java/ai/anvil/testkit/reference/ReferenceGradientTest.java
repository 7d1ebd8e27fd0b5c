package ai.anvil.testkit.reference;

import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.anvil.backend.AdamWStep;
import ai.anvil.testkit.FiniteDifferences;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Validates every reference backward against fp64 central differences of its own forward, so that the
 * references can then judge the native kernels. Central differences with h = 1e-5 in fp64 are good to
 * about h^2 |f'''| + 1e-16 |f| / h, i.e. ~1e-9 for these O(1) functions: {@link #FD} leaves room for
 * that and nothing more (a wrong term in a backward is off by O(1e-2) or more).
 */
class ReferenceGradientTest {
  private static final Tolerance FD = new Tolerance(1e-7, 1e-6);
  private static final double H = 1e-5;

  @Test
  void erfcMatchesKnownValues() {
    // erfc at 0, 0.5, 1, 2, 3, 5 and -1 (Abramowitz & Stegun table 7.1; erfc(-z) = 2 - erfc(z)).
    double[] z = {0, 0.5, 1, 2, 3, 5, -1};
    double[] expected = {1, 0.4795001221869535, 0.15729920705028513, 0.004677734981047266, 2.209049699858544e-05,
        1.5374597944280349e-12, 1.8427007929497148};
    double[] actual = new double[z.length];
    for (int i = 0; i < z.length; i++) actual[i] = GeluReference.erfc(z[i]);
    assertClose("erfc", expected, actual, new Tolerance(0, 1e-13));
  }

  @Test
  void geluKnownValues() {
    // x Phi(x) at x = 1, -1, -10: Phi(1) = 0.8413447460685429, Phi(-10) = 7.619853024160527e-24.
    double[] y = GeluReference.forward(new double[] {1, -1, -10}, false);
    assertClose("gelu erf", new double[] {0.8413447460685429, -0.15865525393145707, -7.619853024160527e-23}, y,
        new Tolerance(0, 1e-13));
    // The tanh form equals the textbook 0.5 x (1 + tanh u) where that does not cancel.
    double x = 0.7, u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
    assertEquals(0.5 * x * (1 + Math.tanh(u)), GeluReference.forward(new double[] {x}, true)[0], 1e-15);
  }

  @Test
  void geluBackward() {
    Random rnd = new Random(1);
    double[] x = rnd.uniform(41, 9);
    double[] w = rnd.normal(41, 1);
    for (boolean tanh : new boolean[] {true, false}) {
      double[] fd = FiniteDifferences.gradient(v -> GeluReference.forward(v, tanh), x, w, H);
      assertClose("gelu backward, tanh=" + tanh, fd, GeluReference.backward(x, w, tanh), FD);
    }
  }

  @Test
  void layerNormBackward() {
    int rows = 3, cols = 7;
    double eps = 1e-5;
    Random rnd = new Random(2);
    double[] x = rnd.normal(rows * cols, 1.5), weight = rnd.normal(cols, 1), bias = rnd.normal(cols, 1);
    double[] w = rnd.normal(rows * cols, 1);
    LayerNormReference.Backward b = LayerNormReference.backward(x, weight, w, rows, cols, eps);
    assertClose("layernorm dx", FiniteDifferences.gradient(
        v -> LayerNormReference.forward(v, weight, bias, rows, cols, eps).y(), x, w, H), b.dx(), FD);
    assertClose("layernorm dweight", FiniteDifferences.gradient(
        v -> LayerNormReference.forward(x, v, bias, rows, cols, eps).y(), weight, w, H), b.dweight(), FD);
    assertClose("layernorm dbias", FiniteDifferences.gradient(
        v -> LayerNormReference.forward(x, weight, v, rows, cols, eps).y(), bias, w, H), b.dbias(), FD);
  }

  @Test
  void softmaxBackward() {
    int rows = 3, cols = 9;
    double scale = 0.7;
    Random rnd = new Random(3);
    double[] x = rnd.normal(rows * cols, 2), w = rnd.normal(rows * cols, 1);
    x[4] = Double.NEGATIVE_INFINITY;  // a masked entry: probability 0, gradient 0
    double[] y = SoftmaxReference.forward(x, rows, cols, scale);
    double[] fd = FiniteDifferences.gradient(v -> SoftmaxReference.forward(v, rows, cols, scale), x, w, H);
    fd[4] = 0;  // -inf +- h is -inf: the difference is NaN, the derivative 0
    assertClose("softmax dx", fd, SoftmaxReference.backward(y, w, rows, cols, scale), FD);
  }

  @Test
  void crossEntropyBackward() {
    int vocab = 6, stride = 8, ignore = -100;
    int[] targets = {2, ignore, 5, 0};
    double normalizer = 5, grad = 0.8;
    Random rnd = new Random(4);
    double[] logits = rnd.normal(targets.length * stride, 2);
    Function<double[], double[]> loss = v -> new double[] {
        CrossEntropyReference.forward(v, targets, vocab, stride, ignore, normalizer).loss()};
    double[] fd = FiniteDifferences.gradient(loss, logits, new double[] {grad}, H);
    double[] d = CrossEntropyReference.backward(logits, targets, vocab, stride, ignore, normalizer, grad);
    assertClose("cross-entropy dlogits", fd, d, FD);
    // The per-row losses sum to loss * normalizer, ignored rows are 0.
    CrossEntropyReference.Forward f = CrossEntropyReference.forward(logits, targets, vocab, stride, ignore,
        normalizer);
    assertEquals(0.0, f.losses()[1]);
    assertEquals(f.loss() * normalizer, f.losses()[0] + f.losses()[2] + f.losses()[3], 1e-12);
  }

  @Test
  void embeddingBackward() {
    int vocab = 4, dim = 3;
    int[] ids = {1, 3, 1, 0, 1};  // repeats: their gradients add
    Random rnd = new Random(5);
    double[] table = rnd.normal(vocab * dim, 1), w = rnd.normal(ids.length * dim, 1);
    double[] fd = FiniteDifferences.gradient(v -> EmbeddingReference.forward(ids, v, dim), table, w, H);
    assertClose("embedding dtable", fd, EmbeddingReference.backward(ids, w, vocab, dim), FD);
  }

  @Test
  void adamWFirstStepIsSignedLearningRate() {
    // At step 1 bias correction makes m_hat = g and v_hat = g^2, so p moves by lr * g / (|g| + eps)
    // after the decoupled decay p *= 1 - lr * wd; gradScale multiplies g first.
    double lr = 0.01, wd = 0.1, eps = 1e-8;
    double[] p = {1.0, -2.0, 0.5}, g = {0.3, -4.0, 0.0}, m = new double[3], v = new double[3];
    AdamWStep step = new AdamWStep(lr, 0.9, 0.95, eps, wd, 1, 2.0);
    AdamWReference.step(p, g, m, v, true, step);
    double[] expected = new double[3];
    double[] start = {1.0, -2.0, 0.5};
    for (int i = 0; i < 3; i++) {
      double gs = 2.0 * g[i];
      expected[i] = start[i] * (1 - lr * wd) - lr * gs / (Math.abs(gs) + eps);
    }
    assertClose("adamw step 1", expected, p, new Tolerance(1e-15, 1e-13));
    assertClose("adamw m", new double[] {0.1 * 0.6, 0.1 * -8.0, 0}, m, new Tolerance(1e-15, 1e-13));
    assertClose("adamw v", new double[] {0.05 * 0.36, 0.05 * 64, 0}, v, new Tolerance(1e-15, 1e-13));
  }
}
