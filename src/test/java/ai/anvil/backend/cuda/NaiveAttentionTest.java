package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The yardstick of the bf16 attention checks is itself checked (it runs without a GPU): without rounding,
 * NaiveAttention must agree with the CPU backend's attention, forward and backward, for causal, masked,
 * cross and packed layouts; with bf16 rounding its error must be that of bf16 (nonzero, near 2^-8
 * relative), so the 2x rule it feeds is neither vacuous nor impossible.
 */
class NaiveAttentionTest {
  @ParameterizedTest
  @CsvSource({"2,2,8,7,7,true,false,false", "1,2,16,9,9,true,true,false", "2,1,8,3,11,true,false,true",
      "3,2,8,6,4,false,false,true"})
  void unroundedNaiveMatchesTheCpuBackend(int batch, int heads, int dim, int tq, int tk, boolean causal,
                                          boolean packed, boolean masked) {
    Backend cpu = Backend.of(Device.CPU);
    Random rnd = new Random(batch * 100 + tq * 10 + tk);
    int c = heads * dim;
    AttentionSpec spec = packed ? AttentionSpec.packed(heads, dim, causal) : AttentionSpec.of(heads, dim, causal);
    try (Scope s = Scope.open()) {
      int[] mask = null;
      if (masked) {
        mask = new int[batch * tk];
        for (int i = 0; i < mask.length; i++) mask[i] = i < tk || i % 3 == 1 ? 0 : 1;  // batch 0 sees nothing
      }
      int qW = packed ? 3 * c : c;
      double[] qv = Random.roundToFloat(rnd.normal(batch * tq * qW, 1));
      double[] kv = packed ? qv : Random.roundToFloat(rnd.normal(batch * tk * c, 1));
      double[] vv = packed ? qv : Random.roundToFloat(rnd.normal(batch * tk * c, 1));
      double[] gv = Random.roundToFloat(rnd.normal(batch * tq * c, 1));
      Tensor q = Random.tensor(qv, batch, tq, qW);
      Tensor k = packed ? q : Random.tensor(kv, batch, tk, c);
      Tensor v = packed ? q : Random.tensor(vv, batch, tk, c);
      Tensor m = mask == null ? null : Tensor.ofInts(mask, batch, tk);
      Tensor out = Tensor.empty(DType.F32, Device.CPU, batch, tq, c);
      Tensor lse = Tensor.empty(DType.F32, Device.CPU, batch, heads, tq);
      cpu.attention(spec, q, k, v, m, out, lse);
      NaiveAttention exact = new NaiveAttention(batch, heads, dim, tq, tk, qW, packed ? qW : c, packed ? qW : c,
          spec.qColumn(), spec.kColumn(), spec.vColumn(), causal, spec.scale(), mask, false);
      Assertions.assertClose("out", exact.forward(qv, kv, vv), out, Tolerance.F32_REDUCTION);

      Tensor dout = Random.tensor(gv, batch, tq, c);
      Tensor dq = Tensor.empty(DType.F32, Device.CPU, q.dims());
      Tensor dk = packed ? dq : Tensor.empty(DType.F32, Device.CPU, k.dims());
      Tensor dv = packed ? dq : Tensor.empty(DType.F32, Device.CPU, v.dims());
      cpu.attentionBackward(spec, q, k, v, m, out, lse, dout, dq, dk, dv);
      double[][] g = exact.backward(qv, kv, vv, gv);
      if (packed) {
        double[] sum = new double[g[0].length];
        for (int i = 0; i < sum.length; i++) sum[i] = g[0][i] + g[1][i] + g[2][i];
        Assertions.assertClose("dqkv", sum, dq, Tolerance.F32_REDUCTION);
      } else {
        Assertions.assertClose("dq", g[0], dq, Tolerance.F32_REDUCTION);
        Assertions.assertClose("dk", g[1], dk, Tolerance.F32_REDUCTION);
        Assertions.assertClose("dv", g[2], dv, Tolerance.F32_REDUCTION);
      }

      NaiveAttention rounded = new NaiveAttention(batch, heads, dim, tq, tk, qW, packed ? qW : c, packed ? qW : c,
          spec.qColumn(), spec.kColumn(), spec.vColumn(), causal, spec.scale(), mask, true);
      double[] ref = exact.forward(qv, kv, vv);
      double err = Assertions.maxAbsError(ref, Random.toFloats(rounded.forward(qv, kv, vv)));
      double max = 0;
      for (double x : ref) max = Math.max(max, Math.abs(x));
      assertTrue(err > 0 && err < max / 32, "bf16 naive error " + err + " for outputs up to " + max);
    }
  }
}
