package ai.anvil.backend.cuda;

import ai.anvil.backend.AdamWStep;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Every CUDA kernel once, at small odd sizes, fp32 and bf16, aligned and misaligned: the workload the
 * GPU check runs under compute-sanitizer (memcheck, racecheck), where a full test run would be too slow.
 * Correctness is the tests' job; this only has to touch every kernel and every path of its launcher.
 * Exits non-zero when an op throws or CUDA is unusable. A tool, not a test.
 */
public final class CudaSmoke {
  private static final Device GPU = Device.cuda(0);
  private static final SplittableRandom RANDOM = new SplittableRandom(7);

  private CudaSmoke() {}

  /** With {@code --probe}: only says whether CUDA is usable here (exit 0) or why not (exit 1). */
  public static void main(String[] args) {
    if (!CudaRuntime.isUsable()) throw new IllegalStateException("CUDA unusable: " + CudaRuntime.reason());
    System.out.println("CUDA usable: " + CudaRuntime.deviceCount() + " device(s), cuda:0 is " + CudaRuntime.describe(0));
    if (args.length > 0 && args[0].equals("--probe")) return;
    Backend gpu = Backend.of(GPU);
    for (DType dt : new DType[] {DType.F32, DType.BF16}) {
      for (int shift = 0; shift < 2; shift++) {
        try (Scope s = Scope.open()) {
          run(gpu, dt, shift);
          gpu.synchronize();
        }
        System.out.println("smoke " + dt + (shift == 1 ? " misaligned" : " aligned") + ": ok");
      }
    }
  }

  private static Tensor rand(DType dt, int shift, long... dims) {
    long n = 1;
    for (long d : dims) n *= d;
    float[] v = new float[(int) n + shift];
    for (int i = 0; i < v.length; i++) v[i] = (float) RANDOM.nextGaussian();
    Tensor t = Tensor.empty(dt, GPU, n + shift);
    t.copyFrom(v);
    return t.slice(shift, n + shift).reshape(dims);
  }

  private static void run(Backend gpu, DType dt, int shift) {
    int rows = 9, cols = shift == 0 ? 64 : 67, n = rows * cols;
    Tensor a = rand(dt, shift, n), b = rand(dt, shift, n), out = rand(dt, shift, n);
    gpu.add(a, b, out);
    gpu.mul(a, b, out);
    gpu.axpy(0.5, a, out);
    gpu.mulBackward(a, b, a, out, null, true);
    gpu.gelu(a, out, true);
    gpu.geluBackward(a, b, out, false, true);

    Tensor x = rand(dt, shift, rows, cols), y = rand(dt, shift, rows, cols), w = rand(dt, shift, cols);
    Tensor mean = Tensor.empty(DType.F32, GPU, rows), rstd = Tensor.empty(DType.F32, GPU, rows);
    gpu.layerNorm(x, w, w, y, mean, rstd, 1e-5);
    Tensor dw = Tensor.zeros(DType.F32, GPU, cols), dx = rand(dt, shift, rows, cols);
    gpu.layerNormBackward(x, w, mean, rstd, y, dx, dw, Tensor.zeros(DType.F32, GPU, cols));
    gpu.softmax(x, y, 0.5);
    gpu.softmaxBackward(y, x, dx, 0.5);
    Tensor wide = rand(dt, shift, 2, 1500), wideOut = rand(dt, shift, 2, 1500);
    gpu.softmax(wide, wideOut, 1.0);
    gpu.softmaxBackward(wideOut, wide, rand(dt, shift, 2, 1500), 1.0);

    Tensor m1 = rand(dt, shift, 2, 33, 17), m2 = rand(dt, shift, 29, 17), mc = rand(dt, shift, 2, 33, 29);
    gpu.matmul(m1, m2, rand(dt, shift, 29), mc, false, true, 1.0, false);
    gpu.matmulBackward(m1, m2, mc, rand(dt, shift, 2, 33, 17), Tensor.zeros(DType.F32, GPU, 29, 17),
        Tensor.zeros(DType.F32, GPU, 29), false, true, 1.0, false, true);
    gpu.matmul(m1, rand(dt, shift, 33, 29), null, rand(dt, shift, 2, 17, 29), true, false, 1.0, false);

    int heads = 2, dim = 24, t = 13;
    AttentionSpec spec = AttentionSpec.packed(heads, dim, true);
    Tensor qkv = rand(dt, shift, 2, t, 3 * heads * dim), o = rand(dt, shift, 2, t, heads * dim);
    Tensor lse = Tensor.empty(DType.F32, GPU, 2, heads, t);
    gpu.attention(spec, qkv, qkv, qkv, null, o, lse);
    gpu.attentionBackward(spec, qkv, qkv, qkv, null, o, lse, rand(dt, shift, 2, t, heads * dim),
        rand(dt, shift, 2, t, 3 * heads * dim), rand(dt, shift, 2, t, 3 * heads * dim), rand(dt, shift, 2, t, 3 * heads * dim));
    Tensor mask = Tensor.ofInts(new int[] {1, 0, 1, 1, 0, 0, 0, 0}, GPU, 2, 4);
    Tensor q = rand(dt, shift, 2, 3, heads * dim), kv = rand(dt, shift, 2, 4, heads * dim);
    Tensor o2 = rand(dt, shift, 2, 3, heads * dim), lse2 = Tensor.empty(DType.F32, GPU, 2, heads, 3);
    AttentionSpec cross = AttentionSpec.of(heads, dim, false);
    gpu.attention(cross, q, kv, kv, mask, o2, lse2);
    gpu.attentionBackward(cross, q, kv, kv, mask, o2, lse2, rand(dt, shift, 2, 3, heads * dim),
        rand(dt, shift, 2, 3, heads * dim), rand(dt, shift, 2, 4, heads * dim), rand(dt, shift, 2, 4, heads * dim));

    // The tensor-core paths (bf16, extents multiples of 8, aligned; misaligned runs take the fallbacks):
    // the GEMM in its three Linear layouts, flash attention fwd/bwd at head dims 64 and 128, and decode.
    Tensor tx = rand(dt, shift, 2, 72, 40), tw = rand(dt, shift, 136, 40), ty = rand(dt, shift, 2, 72, 136);
    gpu.matmul(tx, tw, rand(dt, shift, 136), ty, false, true, 1.0, false);
    gpu.matmulBackward(tx, tw, ty, rand(dt, shift, 2, 72, 40), Tensor.zeros(DType.F32, GPU, 136, 40),
        Tensor.zeros(DType.F32, GPU, 136), false, true, 1.0, false, true);
    int[] keep = new int[2 * 100];
    for (int i = 0; i < keep.length; i++) keep[i] = i % 3 == 1 ? 0 : 1;
    Tensor cacheMask = Tensor.ofInts(keep, GPU, 2, 100);
    for (int d : new int[] {64, 128}) {
      AttentionSpec fs = AttentionSpec.packed(2, d, true);
      Tensor fqkv = rand(dt, shift, 2, 70, 6 * d), fo = rand(dt, shift, 2, 70, 2 * d);
      Tensor flse = Tensor.empty(DType.F32, GPU, 2, 2, 70);
      gpu.attention(fs, fqkv, fqkv, fqkv, null, fo, flse);
      gpu.attentionBackward(fs, fqkv, fqkv, fqkv, null, fo, flse, rand(dt, shift, 2, 70, 2 * d),
          rand(dt, shift, 2, 70, 6 * d), rand(dt, shift, 2, 70, 6 * d), rand(dt, shift, 2, 70, 6 * d));
      Tensor q1 = rand(dt, shift, 2, 1, 2 * d), cache = rand(dt, shift, 2, 100, 2 * d);
      gpu.attention(AttentionSpec.of(2, d, true), q1, cache, cache, cacheMask, rand(dt, shift, 2, 1, 2 * d),
          Tensor.empty(DType.F32, GPU, 2, 2, 1));
    }

    Tensor ids = Tensor.ofInts(new int[] {3, 1, 3, 0, 9, 3, 2}, GPU, 7);
    Tensor table = rand(dt, shift, 10, cols), emb = rand(dt, shift, 7, cols);
    gpu.embedding(ids, table, emb);
    gpu.embeddingBackward(ids, emb, Tensor.zeros(DType.F32, GPU, 10, cols));

    Tensor logits = rand(dt, shift, 5, cols), dlogits = rand(dt, shift, 5, cols);
    Tensor targets = Tensor.ofInts(new int[] {0, 5, -100, 40, 7}, GPU, 5);
    gpu.crossEntropy(logits, targets, 41, -100, 4, Tensor.empty(DType.F32, GPU, 5), Tensor.empty(DType.F32, GPU, 1));
    gpu.crossEntropyBackward(logits, targets, 41, -100, 4, 1.0, dlogits);

    List<Tensor> p = List.of(rand(DType.F32, shift, 5000), rand(DType.F32, shift, 3));
    List<Tensor> g = List.of(rand(DType.F32, shift, 5000), rand(DType.F32, shift, 3));
    List<Tensor> m = List.of(Tensor.zeros(DType.F32, GPU, 5000), Tensor.zeros(DType.F32, GPU, 3));
    List<Tensor> v = List.of(Tensor.zeros(DType.F32, GPU, 5000), Tensor.zeros(DType.F32, GPU, 3));
    gpu.adamw(p, g, m, v, new boolean[] {true, false}, new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0.1, 1, 1.0));
    gpu.gradNorm(g);

    // The GPU training step's kernels (issue 7): fused AdamW (norm, clip, bf16 copy, a frozen entry),
    // the device-gradient cross-entropy backward, the device sampler (argmax, top-k, whole vocabulary).
    CudaBackend cuda = (CudaBackend) gpu;
    List<FusedAdamW.Entry> entries = List.of(
        new FusedAdamW.Entry("a", p.get(0), g.get(0), m.get(0), v.get(0), Tensor.empty(DType.BF16, GPU, 5000), true, false),
        new FusedAdamW.Entry("b", p.get(1), g.get(1), m.get(1), v.get(1), null, false, false),
        new FusedAdamW.Entry("c", rand(DType.F32, shift, 7), null, null, null, null, false, true));
    try (FusedAdamW fused = new FusedAdamW(cuda, entries, 0.9, 0.95, 1e-8, 0.1, 0.5, 1.0)) {
      fused.schedule(1e-3, 2);
      fused.step();
    }
    cuda.crossEntropyBackwardDeviceGrad(logits, targets, 41, -100, 4, Tensor.full(1.0, DType.F32, GPU, 1), dlogits);
    Tensor next = Tensor.empty(DType.I32, GPU, 5);
    for (int k : new int[] {1, 3, 0}) DeviceSampler.sample(cuda, logits, 41, k, 0.9, 11, 0, next);
    try (CudaGraph graph = CudaGraph.capture(cuda, () -> {
      try (Scope inner = Scope.open()) {
        Tensor sum = Tensor.empty(dt, GPU, n);
        gpu.add(a, b, sum);
        gpu.axpy(1.0, sum, out);
      }
    })) {
      graph.launch();
      graph.launch();
    }
  }
}
