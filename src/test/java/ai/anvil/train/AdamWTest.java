package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.backend.Backend;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.MemoryStats;
import ai.anvil.tensor.Tensor;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AdamWTest {
  /** Three updates of a small model match torch.optim.AdamW's formula, computed here in fp64. */
  @Test
  void matchesTheReferenceFormula() {
    try (TinyLm model = new TinyLm(11, 5, 3)) {
      Map<String, Parameter> params = model.namedParameters();
      double b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.1;
      java.util.Map<String, double[][]> ref = new java.util.HashMap<>();
      for (var e : params.entrySet()) {
        float[] p = e.getValue().value().toFloatArray();
        double[] pd = new double[p.length];
        for (int i = 0; i < p.length; i++) pd[i] = p[i];
        ref.put(e.getKey(), new double[][] {pd, new double[p.length], new double[p.length]});
      }
      try (AdamW opt = new AdamW(params, b1, b2, eps, wd)) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        double[] lrs = {1e-2, 5e-3, 2e-2};
        double[] scales = {1.0, 0.25, 1.0};
        for (int step = 1; step <= 3; step++) {
          for (var e : params.entrySet()) {
            Parameter p = e.getValue();
            float[] g = new float[(int) p.value().numel()];
            for (int i = 0; i < g.length; i++) g[i] = (float) r.nextGaussian();
            if (p.grad() == null) p.value().setGrad(Tensor.zeros(ai.anvil.tensor.DType.F32, Device.CPU, p.value().dims()));
            p.grad().copyFrom(g);
            double[][] s = ref.get(e.getKey());
            double lr = lrs[step - 1], scale = scales[step - 1];
            for (int i = 0; i < g.length; i++) {
              double gi = g[i] * scale;
              s[1][i] = b1 * s[1][i] + (1 - b1) * gi;
              s[2][i] = b2 * s[2][i] + (1 - b2) * gi * gi;
              if (p.decay()) s[0][i] *= 1 - lr * wd;
              double mh = s[1][i] / (1 - Math.pow(b1, step)), vh = s[2][i] / (1 - Math.pow(b2, step));
              s[0][i] -= lr * mh / (Math.sqrt(vh) + eps);
            }
          }
          opt.step(lrs[step - 1], scales[step - 1]);
        }
        assertEquals(3, opt.steps());
        for (var e : params.entrySet()) {
          float[] got = e.getValue().value().toFloatArray();
          double[] want = ref.get(e.getKey())[0];
          for (int i = 0; i < got.length; i++) {
            assertEquals(want[i], got[i], 1e-5 * Math.max(1, Math.abs(want[i])), e.getKey() + "[" + i + "]");
          }
        }
      }
    }
  }

  @Test
  void decayAppliesOnlyToMarkedParameters() {
    try (TinyLm model = new TinyLm(7, 3, 1)) {
      Parameter bias = model.namedParameters().get("head.bias");
      assertFalse(bias.decay(), "1-D parameters are not decayed");
      float[] before = bias.value().toFloatArray();
      for (Parameter p : model.parameters()) {
        p.value().setGrad(Tensor.zeros(ai.anvil.tensor.DType.F32, Device.CPU, p.value().dims()));
      }
      try (AdamW opt = new AdamW(model.namedParameters(), 0.9, 0.99, 1e-8, 0.5)) {
        opt.step(0.1, 1.0);
      }
      // zero gradient: only decay could move a value
      float[] after = bias.value().toFloatArray();
      for (int i = 0; i < before.length; i++) assertEquals(before[i], after[i], 0.0);
      Parameter w = model.namedParameters().get("head.weight");
      assertEquals(true, w.decay());
    }
  }

  @Test
  void frozenParametersGetNoStateAndStateIsFreed() {
    try (TinyLm model = new TinyLm(7, 3, 1)) {
      model.namedParameters().get("wte.weight").setTrainable(false);
      long before = MemoryStats.liveBytes(Device.CPU);
      AdamW opt = new AdamW(model.namedParameters(), 0.9, 0.99, 1e-8, 0.1);
      assertEquals(2, opt.parameters().size());
      assertThrows(IllegalArgumentException.class, () -> opt.firstMoment("wte.weight"));
      long moments = 2L * 4 * (7 * 3 + 7);
      assertEquals(before + moments, MemoryStats.liveBytes(Device.CPU));
      opt.close();
      assertEquals(before, MemoryStats.liveBytes(Device.CPU));
      assertThrows(IllegalStateException.class, () -> opt.step(0.1, 1));
    }
  }

  @Test
  void unusedParametersAreLeftAlone() {
    try (TinyLm model = new TinyLm(7, 3, 1); AdamW opt = new AdamW(model.namedParameters(), 0.9, 0.99, 1e-8, 0.1)) {
      float[] before = model.namedParameters().get("wte.weight").value().toFloatArray();
      Parameter head = model.namedParameters().get("head.weight");
      head.value().setGrad(Tensor.full(1.0, ai.anvil.tensor.DType.F32, Device.CPU, head.value().dims()));
      opt.step(0.1, 1.0);
      assertEquals(java.util.Arrays.toString(before),
          java.util.Arrays.toString(model.namedParameters().get("wte.weight").value().toFloatArray()));
      Backend.of(Device.CPU).synchronize();
    }
  }
}
