package ai.anvil.autograd;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.backend.AdamWStep;
import ai.anvil.backend.Backend;
import ai.anvil.nn.Init;
import ai.anvil.nn.LayerNorm;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.MemoryFlatness;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/**
 * A small network (Linear, LayerNorm, GELU, Linear, cross-entropy) learns a real nonlinear task on the
 * CPU through the tape and AdamW; 500 steps keep native memory flat; and the flatness check itself
 * fails when a leak is injected.
 */
class TinyNetworkTrainingTest {
  private static final Device CPU = Device.CPU;
  private static final int CLASSES = 4;

  /** Classifies 2-D points by quadrant after a rotation: not linearly separable in one layer. */
  static final class Classifier extends Module {
    final Linear in;
    final LayerNorm norm;
    final Linear out;

    Classifier(Init init) {
      in = child("in", new Linear(2, 64, true, 0.5, init, CPU));
      norm = child("norm", new LayerNorm(64, true, 1e-5, CPU));
      out = child("out", new Linear(64, CLASSES, true, 0.1, init, CPU));
    }

    Tensor loss(Tensor x, Tensor y) {
      Tensor h = Ops.gelu(norm.forward(in.forward(x)), false);
      return Ops.crossEntropy(out.forward(h), y, CLASSES, -100, y.numel());
    }
  }

  private static final class Optimizer implements AutoCloseable {
    final List<Parameter> params;
    final List<Tensor> m = new ArrayList<>(), v = new ArrayList<>();
    long step;

    Optimizer(Module model) {
      params = model.trainableParameters();
      for (Parameter p : params) {
        m.add(Tensor.zeros(DType.F32, CPU, p.value().dims()));
        v.add(Tensor.zeros(DType.F32, CPU, p.value().dims()));
      }
    }

    void step(double lr) {
      List<Tensor> values = new ArrayList<>(), grads = new ArrayList<>();
      boolean[] decay = new boolean[params.size()];
      for (int i = 0; i < params.size(); i++) {
        values.add(params.get(i).value());
        grads.add(params.get(i).grad());
        decay[i] = params.get(i).decay();
      }
      double norm = Backend.of(CPU).gradNorm(grads);
      double clip = norm > 1.0 ? 1.0 / norm : 1.0;
      Backend.of(CPU).adamw(values, grads, m, v, decay, new AdamWStep(lr, 0.9, 0.99, 1e-8, 0.01, ++step, clip));
    }

    @Override
    public void close() {
      m.forEach(Tensor::close);
      v.forEach(Tensor::close);
    }
  }

  private static Tensor[] batch(SplittableRandom rnd, int n) {
    float[] x = new float[2 * n];
    int[] y = new int[n];
    for (int i = 0; i < n; i++) {
      double a = rnd.nextDouble() * 2 - 1, b = rnd.nextDouble() * 2 - 1;
      x[2 * i] = (float) a;
      x[2 * i + 1] = (float) b;
      double u = a + b, w = a - b; // rotated by 45 degrees
      y[i] = (u >= 0 ? 0 : 2) + (w >= 0 ? 0 : 1);
    }
    return new Tensor[] {Tensor.of(x, n, 2), Tensor.ofInts(y, n)};
  }

  private static float trainStep(Classifier model, Optimizer opt, SplittableRandom rnd, boolean leak) {
    try (Scope step = Scope.open(); Tape tape = Tape.record()) {
      Tensor[] b = batch(rnd, 64);
      model.zeroGrad();
      Tensor loss = model.loss(b[0], b[1]);
      tape.backward(loss);
      opt.step(3e-3);
      if (leak) Tensor.zeros(DType.F32, CPU, 16).detachFromScope();
      return loss.item();
    }
  }

  @Test
  void lossFallsWell() {
    SplittableRandom rnd = new SplittableRandom(1);
    try (Classifier model = new Classifier(new Init(7)); Optimizer opt = new Optimizer(model)) {
      double first = 0, last = 0;
      for (int i = 0; i < 400; i++) {
        float loss = trainStep(model, opt, rnd, false);
        if (i < 10) first += loss / 10;
        if (i >= 390) last += loss / 10;
      }
      // ln(4) = 1.386 at chance; the quadrant task is learned to well below 0.2.
      assertTrue(first > 1.0, "starts near chance, got " + first);
      assertTrue(last < 0.2, "mean loss of the last 10 steps " + last + " (first 10: " + first + ")");
    }
  }

  @Test
  void fiveHundredStepsKeepMemoryFlat() {
    SplittableRandom rnd = new SplittableRandom(2);
    try (Classifier model = new Classifier(new Init(3)); Optimizer opt = new Optimizer(model)) {
      MemoryFlatness.assertFlat(CPU, 5, 500, () -> trainStep(model, opt, rnd, false));
    }
  }

  @Test
  void theFlatnessCheckCatchesAnInjectedLeak() {
    SplittableRandom rnd = new SplittableRandom(2);
    try (Classifier model = new Classifier(new Init(3)); Optimizer opt = new Optimizer(model)) {
      assertThrows(AssertionFailedError.class,
          () -> MemoryFlatness.assertFlat(CPU, 5, 50, () -> trainStep(model, opt, rnd, true)));
    }
  }
}
