package ai.anvil.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import org.junit.jupiter.api.Test;

/**
 * concat, narrow and repeat move values without arithmetic, so forward and backward must equal the
 * plain-Java index reference exactly (every element, including the gradient's zeros outside a narrow
 * and the sums where one input is used several times).
 */
class ShapeOpsTest {
  private static float[] values(int n, long seed) {
    return Random.toFloats(new Random(seed).normal(n, 1.0));
  }

  @Test
  void concatAlongTimeMatchesTheIndexReferenceBothWays() {
    int b = 3, t1 = 2, t2 = 5, w = 7;
    float[] av = values(b * t1 * w, 1), bv = values(b * t2 * w, 2), weights = values(b * (t1 + t2) * w, 3);
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor a = Tensor.of(av, b, t1, w).setRequiresGrad(true);
      Tensor c = Tensor.of(bv, b, t2, w).setRequiresGrad(true);
      Tensor out = ShapeOps.concat(1, a, c);
      float[] expected = new float[b * (t1 + t2) * w];
      for (int i = 0; i < b; i++) {
        System.arraycopy(av, i * t1 * w, expected, i * (t1 + t2) * w, t1 * w);
        System.arraycopy(bv, i * t2 * w, expected, i * (t1 + t2) * w + t1 * w, t2 * w);
      }
      assertArrayEquals(expected, out.toFloatArray());
      tape.backward(out, Tensor.of(weights, out.dims()));
      float[] ga = new float[av.length], gb = new float[bv.length];
      for (int i = 0; i < b; i++) {
        System.arraycopy(weights, i * (t1 + t2) * w, ga, i * t1 * w, t1 * w);
        System.arraycopy(weights, i * (t1 + t2) * w + t1 * w, gb, i * t2 * w, t2 * w);
      }
      assertArrayEquals(ga, a.grad().toFloatArray());
      assertArrayEquals(gb, c.grad().toFloatArray());
      a.grad().close();
      c.grad().close();
    }
  }

  @Test
  void concatOfColumnsAndRepeatSumGradientsOfReusedInputs() {
    int p = 4, w = 3, times = 5;
    float[] kv = values(p * w, 4), weights = values(times * p * 3 * w, 5);
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor k = Tensor.of(kv, p, w).setRequiresGrad(true);
      Tensor rows = ShapeOps.concat(1, k, Tensor.zeros(k.dtype(), k.device(), p, w), k);     // (P, 3W): k, 0, k
      Tensor out = ShapeOps.repeat(rows, times);                                           // (times, P, 3W)
      float[] expected = new float[times * p * 3 * w];
      for (int r = 0; r < times; r++) {
        for (int i = 0; i < p; i++) {
          System.arraycopy(kv, i * w, expected, (r * p + i) * 3 * w, w);
          System.arraycopy(kv, i * w, expected, (r * p + i) * 3 * w + 2 * w, w);
        }
      }
      assertArrayEquals(expected, out.toFloatArray());
      tape.backward(out, Tensor.of(weights, out.dims()));
      double[] g = new double[p * w];
      for (int r = 0; r < times; r++) {
        for (int i = 0; i < p; i++) {
          for (int j = 0; j < w; j++) g[i * w + j] += weights[(r * p + i) * 3 * w + j] + weights[(r * p + i) * 3 * w + 2 * w + j];
        }
      }
      float[] got = k.grad().toFloatArray();
      for (int i = 0; i < g.length; i++) org.junit.jupiter.api.Assertions.assertEquals(g[i], got[i], 1e-5 * (1 + Math.abs(g[i])));
      k.grad().close();
    }
  }

  @Test
  void narrowKeepsARangeAndItsGradientIsZeroElsewhere() {
    int b = 2, t = 6, w = 5, start = 2, len = 3;
    float[] xv = values(b * t * w, 6), weights = values(b * len * w, 7);
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor x = Tensor.of(xv, b, t, w).setRequiresGrad(true);
      Tensor out = ShapeOps.narrow(x, 1, start, len);
      float[] expected = new float[b * len * w];
      float[] grad = new float[xv.length];
      for (int i = 0; i < b; i++) {
        System.arraycopy(xv, (i * t + start) * w, expected, i * len * w, len * w);
        System.arraycopy(weights, i * len * w, grad, (i * t + start) * w, len * w);
      }
      assertArrayEquals(expected, out.toFloatArray());
      tape.backward(out, Tensor.of(weights, out.dims()));
      assertArrayEquals(grad, x.grad().toFloatArray());
      x.grad().close();
    }
  }

  @Test
  void mismatchedShapesAreRejectedWithTheirShapes() {
    try (Scope s = Scope.open()) {
      Tensor a = Tensor.zeros(ai.anvil.tensor.DType.F32, ai.anvil.tensor.Device.CPU, 2, 3, 4);
      Tensor b = Tensor.zeros(ai.anvil.tensor.DType.F32, ai.anvil.tensor.Device.CPU, 2, 3, 5);
      assertThrows(IllegalArgumentException.class, () -> ShapeOps.concat(1, a, b));
      assertThrows(IllegalArgumentException.class, () -> ShapeOps.narrow(a, 1, 2, 2));
      assertThrows(IllegalArgumentException.class, () -> ShapeOps.repeat(a, 0));
    }
  }
}
