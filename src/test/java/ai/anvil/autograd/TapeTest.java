package ai.anvil.autograd;

import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.backend.AttentionSpec;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import org.junit.jupiter.api.Test;

/** The tape's plumbing: fan-out sums, leaf accumulation, no-grad, and a composed graph vs differences. */
class TapeTest {

  @Test
  void aTensorUsedTwiceGetsTheSumOfItsGradients() {
    double[] x = {0.5, -1.25, 2.0};
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor leaf = Random.tensor(x, 3).setRequiresGrad(true);
      Tensor y = Ops.add(Ops.mul(leaf, leaf), leaf); // y = x^2 + x
      Tensor ones = Tensor.of(new float[] {1, 1, 1}, 3);
      tape.backward(y, ones);
      assertClose("dy/dx = 2x + 1", new double[] {2, -1.5, 5}, leaf.grad(), Tolerance.F32);
      tape.backward(y, ones);
      assertClose("leaf gradients accumulate", new double[] {4, -3, 10}, leaf.grad(), Tolerance.F32);
      leaf.grad().close();
    }
  }

  @Test
  void noGradRecordsNothing() {
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor leaf = Tensor.of(new float[] {1, 2}, 2).setRequiresGrad(true);
      try (Tape.NoGrad ignored = Tape.noGrad()) {
        Ops.scale(leaf, 2);
      }
      assertEquals(0, tape.size());
      Tensor y = Ops.scale(leaf, 2);
      assertEquals(1, tape.size());
      assertThrows(IllegalArgumentException.class, () -> tape.backward(y));
      assertNull(leaf.grad());
    }
  }

  /**
   * loss = CE(linear(layerNorm(gelu(linear(x)))) + attention) checked against fp32 central differences
   * of the whole forward: a loose tolerance, since the point is the wiring, not the kernels (each
   * kernel has its own fp64-reference test).
   */
  @Test
  void composedGraphMatchesFiniteDifferences() {
    Random rnd = new Random(11);
    int b = 2, t = 3, c = 4, v = 5;
    double[] x = rnd.uniform(b * t * c, 1);
    double[] w1 = rnd.uniform(3 * c * c, 0.5);
    double[] w2 = rnd.uniform(v * c, 0.5);
    int[] targets = {0, 4, 2, 1, 3, 3};
    double[] grad;
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor leaf = Random.tensor(x, b, t, c).setRequiresGrad(true);
      Tensor loss = forward(leaf, w1, w2, targets, b, t, c, v);
      tape.backward(loss);
      grad = Random.toDoubles(leaf.grad().toFloatArray());
      leaf.grad().close();
    }
    double h = 1e-2;
    double[] numeric = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double[] plus = x.clone(), minus = x.clone();
      plus[i] += h;
      minus[i] -= h;
      try (Scope s = Scope.open()) {
        double lp = forward(Random.tensor(plus, b, t, c), w1, w2, targets, b, t, c, v).item();
        double lm = forward(Random.tensor(minus, b, t, c), w1, w2, targets, b, t, c, v).item();
        numeric[i] = (lp - lm) / (2 * h);
      }
    }
    assertClose("d loss / d x", numeric, grad, new Tolerance(2e-3, 2e-2));
  }

  private static Tensor forward(Tensor x, double[] w1, double[] w2, int[] targets, int b, int t, int c, int v) {
    Tensor qkv = Ops.gelu(Ops.linear(x, Random.tensor(w1, 3 * c, c), null), true);
    Tensor att = Ops.attention(AttentionSpec.packed(2, c / 2, true), qkv, qkv, qkv, null);
    Tensor h = Ops.add(att, x);
    Tensor n = Ops.layerNorm(h, Tensor.of(new float[] {1, 1.5f, 0.5f, 1}, c), null, 1e-5);
    Tensor logits = Ops.linear(n, Random.tensor(w2, v, c), null);
    return Ops.crossEntropy(logits, Tensor.ofInts(targets, b, t), v, -100, b * t);
  }
}
