package ai.anvil.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.anvil.backend.AdamWStep;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.MemoryFlatness;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/**
 * 200 steps of a small transformer-shaped step (every op forward and backward, then AdamW) must leave
 * the GPU's memory where it was: both the tensors Anvil counts (MemoryStats) and the bytes the device
 * pool has handed out (which also sees the kernels' own scratch). Each check is shown to catch a leak.
 */
@Tag("gpu")
class CudaMemoryTest {
  private static final Device GPU = Device.cuda(0);
  private static final int B = 2, T = 16, C = 32, H = 2, V = 64;

  @BeforeAll
  static void cudaUsable() {
    assumeTrue(CudaRuntime.isUsable(), "CUDA unusable: " + CudaRuntime.reason());
  }

  /** Parameters, their gradients and moments: made once, closed by the test. */
  private static final class Model implements AutoCloseable {
    final List<Tensor> params = new ArrayList<>(), grads = new ArrayList<>(), m = new ArrayList<>(), v = new ArrayList<>();
    final Tensor wte, lnW, lnB, wqkv, bqkv, wo;
    long step;

    Model() {
      wte = param(V, C);
      lnW = param(C);
      lnB = param(C);
      wqkv = param(3 * C, C);
      bqkv = param(3 * C);
      wo = param(V, C);
    }

    private Tensor param(long... dims) {
      Tensor p = Tensor.full(0.02, DType.F32, GPU, dims).detachFromScope();
      params.add(p);
      grads.add(Tensor.zeros(DType.F32, GPU, dims).detachFromScope());
      m.add(Tensor.zeros(DType.F32, GPU, dims).detachFromScope());
      v.add(Tensor.zeros(DType.F32, GPU, dims).detachFromScope());
      return p;
    }

    Tensor grad(Tensor p) {
      return grads.get(params.indexOf(p));
    }

    @Override
    public void close() {
      for (List<Tensor> list : List.of(params, grads, m, v)) for (Tensor t : list) t.close();
    }
  }

  private static void step(Model model) {
    Backend gpu = Backend.of(GPU);
    int[] idValues = new int[B * T];
    for (int i = 0; i < idValues.length; i++) idValues[i] = (i * 7 + (int) model.step) % V;
    try (Scope s = Scope.open()) {
      Tensor ids = Tensor.ofInts(idValues, GPU, B, T);
      Tensor x = Tensor.empty(DType.F32, GPU, B, T, C);
      gpu.embedding(ids, model.wte, x);
      Tensor mean = Tensor.empty(DType.F32, GPU, B * T), rstd = Tensor.empty(DType.F32, GPU, B * T);
      Tensor xn = Tensor.empty(DType.F32, GPU, B, T, C);
      gpu.layerNorm(x, model.lnW, model.lnB, xn, mean, rstd, 1e-5);
      Tensor qkv = Tensor.empty(DType.F32, GPU, B, T, 3 * C);
      gpu.matmul(xn, model.wqkv, model.bqkv, qkv, false, true, 1.0, false);
      AttentionSpec spec = AttentionSpec.packed(H, C / H, true);
      Tensor att = Tensor.empty(DType.F32, GPU, B, T, C), lse = Tensor.empty(DType.F32, GPU, B, H, T);
      gpu.attention(spec, qkv, qkv, qkv, null, att, lse);
      Tensor act = Tensor.empty(DType.F32, GPU, B, T, C);
      gpu.gelu(att, act, true);
      Tensor logits = Tensor.empty(DType.F32, GPU, B, T, V);
      gpu.matmul(act, model.wo, null, logits, false, true, 1.0, false);
      Tensor loss = Tensor.empty(DType.F32, GPU, 1);
      gpu.crossEntropy(logits, ids, V, -1, B * T, null, loss);

      Tensor dlogits = Tensor.empty(DType.F32, GPU, B, T, V);
      gpu.crossEntropyBackward(logits, ids, V, -1, B * T, 1.0, dlogits);
      Tensor dact = Tensor.empty(DType.F32, GPU, B, T, C);
      gpu.matmulBackward(act, model.wo, dlogits, dact, model.grad(model.wo), null, false, true, 1.0, false, true);
      Tensor datt = Tensor.empty(DType.F32, GPU, B, T, C);
      gpu.geluBackward(att, dact, datt, true, false);
      Tensor dqkv = Tensor.empty(DType.F32, GPU, B, T, 3 * C);
      gpu.attentionBackward(spec, qkv, qkv, qkv, null, att, lse, datt, dqkv, dqkv, dqkv);
      Tensor dxn = Tensor.empty(DType.F32, GPU, B, T, C);
      gpu.matmulBackward(xn, model.wqkv, dqkv, dxn, model.grad(model.wqkv), model.grad(model.bqkv), false, true, 1.0,
          false, true);
      Tensor dx = Tensor.empty(DType.F32, GPU, B, T, C);
      gpu.layerNormBackward(x, model.lnW, mean, rstd, dxn, dx, model.grad(model.lnW), model.grad(model.lnB));
      gpu.embeddingBackward(ids, dx, model.grad(model.wte));
      Tensor sm = Tensor.empty(DType.F32, GPU, B, T, V);
      gpu.softmax(logits, sm, 1.0);
      gpu.softmaxBackward(sm, dlogits, logits, 1.0);

      double norm = gpu.gradNorm(model.grads);
      model.step++;
      gpu.adamw(model.params, model.grads, model.m, model.v, new boolean[model.params.size()],
          new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0.0, model.step, norm > 1 ? 1 / norm : 1));
      for (Tensor g : model.grads) gpu.fill(g, 0.0);
      loss.item();
    }
  }

  /** Pool bytes in use must not grow over steps (after a warm-up), measured after a synchronize. */
  private static void assertPoolFlat(int warmup, int steps, Runnable step) {
    CudaBackend gpu = CudaBackend.forDevice(0);
    for (int i = 0; i < warmup; i++) step.run();
    gpu.synchronize();
    long start = gpu.poolStats().usedBytes();
    for (int i = 0; i < steps; i++) step.run();
    gpu.synchronize();
    long end = gpu.poolStats().usedBytes();
    if (end != start) {
      throw new AssertionFailedError("CUDA pool use grew over " + steps + " steps: " + start + " -> " + end + " bytes");
    }
  }

  @Test
  void trainingLoopKeepsMemoryFlat() {
    try (Model model = new Model()) {
      MemoryFlatness.assertFlat(GPU, 5, 200, () -> step(model));
      assertPoolFlat(2, 50, () -> step(model));
    }
  }

  @Test
  void bothChecksCatchAnInjectedLeak() {
    List<Tensor> leaked = new ArrayList<>();
    List<Long> raw = new ArrayList<>();
    try (Model model = new Model()) {
      assertThrows(AssertionFailedError.class, () -> MemoryFlatness.assertFlat(GPU, 2, 10, () -> {
        step(model);
        leaked.add(Tensor.empty(DType.F32, GPU, 16).detachFromScope());
      }));
      CudaBackend gpu = CudaBackend.forDevice(0);
      assertThrows(AssertionFailedError.class, () -> assertPoolFlat(1, 5, () -> {
        step(model);
        raw.add(gpu.allocate(4096));  // uncounted by MemoryStats: only the pool sees it
      }));
      for (long address : raw) gpu.free(address);
    } finally {
      for (Tensor t : leaked) t.close();
    }
  }
}
