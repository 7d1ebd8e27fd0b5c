package ai.anvil.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Tape.Grads.pass, as Ops.add's backward uses it: the output's gradient becomes an input's gradient
 * instead of a copy, so later contributions add into that buffer. Sums must still come out right where
 * one tensor feeds an add twice or feeds several adds, and a gradient the caller gave (the seed) must
 * never change hands: it is read, not written.
 */
class GradPassTest {
  private static float[] values(int n, float scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = scale * (i - n / 3f);
    return v;
  }

  @Test
  void sumsThroughSharedAndRepeatedInputs() {
    int n = 37;
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor x = Tensor.of(values(n, 0.5f), Device.CPU, n).setRequiresGrad(true);
      Tensor u = Ops.scale(x, 2.0);            // an intermediate
      Tensor z = Ops.add(u, u);                // u twice: z = 4x
      Tensor v = Ops.add(z, u);                // u once more: v = 6x
      Tensor out = Ops.add(Ops.add(v, z), v);  // 6x + 4x + 6x = 16x, z and v each feed two adds
      float[] seedValues = values(n, 0.25f);
      Tensor seed = Tensor.of(seedValues, Device.CPU, n);
      tape.backward(out, seed);
      float[] want = new float[n];
      for (int i = 0; i < n; i++) want[i] = 16f * seedValues[i];
      assertArrayEquals(want, x.grad().toFloatArray(), "d out / dx = 16 seed");
      assertArrayEquals(seedValues, seed.toFloatArray(), "the seed is read, never handed on");
      x.grad().close();
    }
  }

  @Test
  void aLeafInputStillAccumulatesIntoItsGrad() {
    int n = 9;
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor a = Tensor.of(values(n, 1f), Device.CPU, n).setRequiresGrad(true);
      Tensor b = Tensor.of(values(n, 2f), Device.CPU, n).setRequiresGrad(true);
      a.setGrad(Tensor.full(1.0, DType.F32, Device.CPU, n).detachFromScope());
      Tensor loss = Ops.scale(Ops.add(a, b), 3.0);
      tape.backward(loss, Tensor.full(1.0, DType.F32, Device.CPU, n));
      float[] three = new float[n], four = new float[n];
      java.util.Arrays.fill(three, 3f);
      java.util.Arrays.fill(four, 4f);
      assertArrayEquals(four, a.grad().toFloatArray(), "a.grad += 3 on top of 1");
      assertArrayEquals(three, b.grad().toFloatArray(), "b.grad = 3");
      a.grad().close();
      b.grad().close();
    }
  }
}
