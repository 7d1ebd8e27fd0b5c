package ai.anvil.autograd;

import static ai.anvil.testkit.Assertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import ai.anvil.testkit.Tolerance;
import ai.anvil.testkit.reference.RepeatKvReference;
import ai.anvil.testkit.reference.RmsNormReference;
import ai.anvil.testkit.reference.RopeReference;
import ai.anvil.testkit.reference.SwigluReference;
import org.junit.jupiter.api.Test;

/**
 * The tape rules of {@link LlamaOps}: a small graph that uses an intermediate twice (its gradient is the
 * sum of both paths) compared with the same chain of fp64 references, each of which is checked against
 * central differences in LlamaReferenceGradientTest.
 */
class LlamaOpsTest {
  private static final int B = 2, T = 3, KV_HEADS = 2, GROUPS = 3, D = 4, W = KV_HEADS * D;
  private static final long OFFSET = 2;
  private static final double THETA = 100, EPS = 1e-6;

  /** out = swiglu(repeatKv(rope(n)), repeatKv(n)), n = rmsNorm(x, w): n feeds two paths. */
  @Test
  void composedGraphMatchesReferenceChain() {
    Random rnd = new Random(41);
    int rows = B * T, wide = W * GROUPS;
    double[] x = Random.roundToFloat(rnd.normal(rows * W, 1)), w = Random.roundToFloat(rnd.normal(W, 1));
    double[] g = Random.roundToFloat(rnd.normal(rows * wide, 1));

    double[] n = RmsNormReference.forward(x, w, rows, W, EPS).y();
    double[] r = RopeReference.forward(n, B, T, KV_HEADS, D, OFFSET, THETA, false);
    double[] a = RepeatKvReference.forward(r, rows, KV_HEADS, GROUPS, D);
    double[] b = RepeatKvReference.forward(n, rows, KV_HEADS, GROUPS, D);
    SwigluReference.Backward dab = SwigluReference.backward(a, b, g);
    double[] dr = RepeatKvReference.backward(dab.da(), rows, KV_HEADS, GROUPS, D);
    double[] dn = RepeatKvReference.backward(dab.db(), rows, KV_HEADS, GROUPS, D);
    double[] dnRope = RopeReference.backward(dr, B, T, KV_HEADS, D, OFFSET, THETA);
    for (int i = 0; i < dn.length; i++) dn[i] += dnRope[i];
    RmsNormReference.Backward dxw = RmsNormReference.backward(x, w, dn, rows, W, EPS);

    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor tx = Random.tensor(x, B, T, W).setRequiresGrad(true);
      Tensor tw = Random.tensor(w, W).setRequiresGrad(true);
      Tensor tn = LlamaOps.rmsNorm(tx, tw, EPS);
      Tensor ta = LlamaOps.repeatKv(LlamaOps.rope(tn, KV_HEADS, D, OFFSET, THETA), KV_HEADS, GROUPS, D);
      Tensor tb = LlamaOps.repeatKv(tn, KV_HEADS, GROUPS, D);
      Tensor out = LlamaOps.swiglu(ta, tb);
      assertClose("forward", SwigluReference.forward(a, b), out, Tolerance.F32);
      tape.backward(out, Random.tensor(g, B, T, wide));
      assertClose("dx", dxw.dx(), tx.grad(), Tolerance.F32);
      assertClose("dweight", dxw.dweight(), tw.grad(), Tolerance.F32);
      tx.grad().close();
      tw.grad().close();
    }
  }

  /** swiglu(a, a) = silu(a) * a: both terms reach a. */
  @Test
  void swigluOfOneTensorSumsBothTerms() {
    Random rnd = new Random(42);
    double[] a = Random.roundToFloat(rnd.uniform(9, 4)), g = Random.roundToFloat(rnd.normal(9, 1));
    SwigluReference.Backward d = SwigluReference.backward(a, a, g);
    double[] expected = new double[9];
    for (int i = 0; i < 9; i++) expected[i] = d.da()[i] + d.db()[i];
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor ta = Random.tensor(a, 9).setRequiresGrad(true);
      Tensor h = Ops.scale(ta, 1.0);  // an intermediate: its first contribution writes, the second adds
      tape.backward(LlamaOps.swiglu(h, h), Random.tensor(g, 9));
      assertClose("d silu(a) a / da", expected, ta.grad(), Tolerance.F32);
      ta.grad().close();
    }
  }

  @Test
  void oneGroupIsTheIdentity() {
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor x = Tensor.of(new float[] {1, 2, 3, 4}, 1, 1, 4).setRequiresGrad(true);
      assertSame(x, LlamaOps.repeatKv(x, 2, 1, 2));
      assertEquals(0, tape.size());
    }
  }

  @Test
  void inferenceRecordsNothing() {
    try (Scope s = Scope.open(); Tape tape = Tape.record(); Tape.NoGrad ignored = Tape.noGrad()) {
      Tensor x = Tensor.of(new float[] {1, 2, 3, 4}, 1, 1, 4).setRequiresGrad(true);
      Tensor w = Tensor.of(new float[] {1, 1, 1, 1}, 4).setRequiresGrad(true);
      LlamaOps.rope(LlamaOps.rmsNorm(x, w, EPS), 1, 4, 0, 10000);
      assertEquals(0, tape.size());
    }
  }
}
