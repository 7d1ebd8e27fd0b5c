package ai.anvil.testkit.reference;

import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.anvil.backend.AttentionSpec;
import ai.anvil.testkit.FiniteDifferences;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import org.junit.jupiter.api.Test;

/**
 * Validates {@link AttentionReference}: its forward on cases with a closed form, its backward against
 * fp64 central differences of its own forward (h = 1e-5: truncation ~h^2 |f'''| and rounding
 * ~1e-16 |f| / h, both near 1e-10 for these O(1) inputs; a wrong term is off by 1e-2 or more).
 */
class AttentionReferenceTest {
  private static final Tolerance FD = new Tolerance(1e-7, 1e-6);
  private static final Tolerance EXACT = new Tolerance(1e-14, 1e-13);
  private static final double H = 1e-5;

  @Test
  void oneVisibleKeyCopiesItsValue() {
    // Causal with Tq = Tk: query 0 sees only key 0, so out_0 = v_0 and lse_0 = scale q_0.k_0.
    AttentionSpec spec = new AttentionSpec(1, 2, true, 0.5, 0, 0, 0);
    double[] q = {1, 2, 3, 4}, k = {0.5, -1, 2, 2}, v = {7, 8, 9, 10};
    AttentionReference.Forward f = AttentionReference.forward(
        AttentionReference.Shape.separate(spec, 1, 2, 2, null), q, k, v);
    assertClose("out_0", new double[] {7, 8}, new double[] {f.out()[0], f.out()[1]}, EXACT);
    assertEquals(0.5 * (0.5 - 2), f.lse()[0], 1e-15);
  }

  @Test
  void equalScoresAverageTheVisibleValues() {
    // q = 0: every visible key scores 0, so out is the mean of their values and lse = log(count).
    // Key 1 is masked; causal with Tq = 2 < Tk = 4 lets query 0 see keys 0..2 and query 1 all four.
    AttentionSpec spec = new AttentionSpec(1, 1, true, 1.0, 0, 0, 0);
    double[] q = {0, 0}, k = {3, -1, 4, 1}, v = {1, 100, 2, 6};
    int[] mask = {1, 0, 1, 1};
    AttentionReference.Forward f = AttentionReference.forward(
        AttentionReference.Shape.separate(spec, 1, 2, 4, mask), q, k, v);
    assertClose("out", new double[] {1.5, 3}, f.out(), EXACT);
    assertClose("lse", new double[] {Math.log(2), Math.log(3)}, f.lse(), EXACT);
  }

  @Test
  void queryThatSeesNothingGivesZerosAndMinusInfinity() {
    // Causal with Tq = 3 > Tk = 2: query 0 sees key j <= 0 + (2 - 3) = -1, i.e. none.
    AttentionSpec spec = new AttentionSpec(1, 2, true, 1.0, 0, 0, 0);
    Random rnd = new Random(1);
    double[] q = rnd.normal(6, 1), k = rnd.normal(4, 1), v = rnd.normal(4, 1), dout = rnd.normal(6, 1);
    AttentionReference.Shape s = AttentionReference.Shape.separate(spec, 1, 3, 2, null);
    AttentionReference.Forward f = AttentionReference.forward(s, q, k, v);
    assertEquals(Double.NEGATIVE_INFINITY, f.lse()[0]);
    assertEquals(0.0, f.out()[0]);
    assertEquals(0.0, f.out()[1]);
    AttentionReference.Backward g = AttentionReference.backward(s, q, k, v, dout);
    assertEquals(0.0, g.dq()[0]);
    assertEquals(0.0, g.dq()[1]);
  }

  @Test
  void backwardOfSeparateTensors() {
    // Causal cross-attention (Tq < Tk, bottom-right) with a masked key, and a causal Tq > Tk case
    // whose first query sees nothing.
    checkSeparate(2, 2, 3, 3, 5, true, new int[] {1, 1, 0, 1, 1, 1, 1, 1, 1, 0}, 11);
    checkSeparate(1, 2, 2, 4, 2, true, null, 12);
    checkSeparate(2, 1, 4, 3, 3, false, new int[] {0, 0, 0, 1, 0, 1}, 13);  // batch 0 fully masked
  }

  private void checkSeparate(int batch, int heads, int dim, int tq, int tk, boolean causal, int[] mask, long seed) {
    AttentionSpec spec = new AttentionSpec(heads, dim, causal, 0.6, 0, 0, 0);
    AttentionReference.Shape s = AttentionReference.Shape.separate(spec, batch, tq, tk, mask);
    Random rnd = new Random(seed);
    int w = spec.width();
    double[] q = rnd.normal(batch * tq * w, 1), k = rnd.normal(batch * tk * w, 1), v = rnd.normal(batch * tk * w, 1);
    double[] weights = rnd.normal(batch * tq * w, 1);
    AttentionReference.Backward g = AttentionReference.backward(s, q, k, v, weights);
    String at = " B=" + batch + " H=" + heads + " D=" + dim + " Tq=" + tq + " Tk=" + tk + " causal=" + causal;
    assertClose("dq" + at, FiniteDifferences.gradient(x -> AttentionReference.forward(s, x, k, v).out(), q,
        weights, H), g.dq(), FD);
    assertClose("dk" + at, FiniteDifferences.gradient(x -> AttentionReference.forward(s, q, x, v).out(), k,
        weights, H), g.dk(), FD);
    assertClose("dv" + at, FiniteDifferences.gradient(x -> AttentionReference.forward(s, q, k, x).out(), v,
        weights, H), g.dv(), FD);
  }

  @Test
  void backwardOfPackedQkv() {
    // One (B, T, 3C) array is q, k and v at once: its gradient is dq + dk + dv in their own columns.
    AttentionSpec spec = AttentionSpec.packed(2, 3, true);
    int batch = 2, len = 4;
    AttentionReference.Shape s = AttentionReference.Shape.packed(spec, batch, len, new int[] {1, 1, 1, 1, 0, 1, 1, 1});
    Random rnd = new Random(14);
    double[] qkv = rnd.normal(batch * len * 3 * spec.width(), 1);
    double[] weights = rnd.normal(batch * len * spec.width(), 1);
    double[] fd = FiniteDifferences.gradient(x -> AttentionReference.forward(s, x, x, x).out(), qkv, weights, H);
    assertClose("dqkv", fd, AttentionReference.backward(s, qkv, qkv, qkv, weights).sum(), FD);
  }
}
