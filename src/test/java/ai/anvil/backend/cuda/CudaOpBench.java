package ai.anvil.backend.cuda;

import ai.anvil.autograd.Tape;
import ai.anvil.backend.AdamWStep;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.AdamW;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * Times every CUDA op at GPT-2 small shapes (B=8, T=1024, C=768, H=12, V=50304; bf16 activations,
 * fp32 optimizer state), plus the GEMM and attention issues' own targets (a 4096 square product; head dim
 * 128 at T=4096; one-token decode against a 4096 cache) with CUDA events: warm-up, then the median of 3 to 50 runs (as many as fit in about 0.3 s), inputs rotated over
 * copies worth more than twice the L2 cache so the cache is not what is measured; inputs are random,
 * never zeros. Then a GPT-2 small training step (fp32, B=4, T=1024). bench/gpu/peers.py times PyTorch on
 * the same shapes under the same names; .ci/gpu joins the two.
 *
 * <p>Usage: {@code CudaOpBench out.csv [group,group...]} writes {@code name,shape,ms,work,unit} rows (work per run in
 * FLOP or bytes; unit TFLOP/s or GB/s). A benchmark tool, not a test.
 */
public final class CudaOpBench {
  private static final Device GPU = Device.cuda(0);
  private static final long ROTATE_BYTES = 200L << 20;
  private static final int B = 8, T = 1024, C = 768, H = 12, V = 50257, VP = 50304;
  private static final SplittableRandom RANDOM = new SplittableRandom(2024);

  private final CudaBackend gpu = CudaBackend.forDevice(0);
  private final List<String> rows = new ArrayList<>();

  public static void main(String[] args) throws IOException {
    if (!CudaRuntime.isUsable()) throw new IllegalStateException("CUDA unusable: " + CudaRuntime.reason());
    Path out = Path.of(args.length > 0 ? args[0] : "bench-anvil.csv");
    CudaOpBench bench = new CudaOpBench();
    System.out.println("device: " + CudaRuntime.describe(0));
    String[] groups = {"matmul", "attention", "layernorm", "gelu", "softmax", "cross_entropy", "embedding",
        "optimizer", "gpt_step"};
    if (args.length > 1) groups = args[1].split(",");  // a subset, e.g. "matmul"
    for (String g : groups) {
      try (Scope s = Scope.open()) {
        bench.run(g);
      } catch (RuntimeException | Error e) {  // one failing group must not lose the others' numbers
        System.out.println(g + ": FAILED " + e);
        bench.rows.add(g + ",failed,NaN,0,-");
      }
      bench.write(out);
    }
  }

  private void write(Path out) throws IOException {
    try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out))) {
      w.println("name,shape,ms,work,unit");
      for (String r : rows) w.println(r);
    }
  }

  private void run(String group) {
    switch (group) {
      case "matmul" -> matmul();
      case "attention" -> attention();
      case "layernorm" -> layerNorm();
      case "gelu" -> gelu();
      case "softmax" -> softmax();
      case "cross_entropy" -> crossEntropy();
      case "embedding" -> embedding();
      case "optimizer" -> optimizer();
      case "gpt_step" -> gptStep();
      default -> throw new IllegalArgumentException(group);
    }
  }

  // ---- timing -------------------------------------------------------------------------------------

  private void record(String name, String shape, double work, String unit, IntConsumer op) {
    record(name, shape, work, unit, 3, op);
  }

  private void record(String name, String shape, double work, String unit, int warmup, IntConsumer op) {
    for (int i = 0; i < warmup; i++) op.accept(i);
    gpu.synchronize();
    double ms;
    try (CudaTimer timer = new CudaTimer(gpu)) {
      timer.start();
      op.accept(3);
      double first = timer.stopMillis();
      int n = (int) Math.max(3, Math.min(50, Math.ceil(300 / Math.max(first, 1e-3))));
      double[] runs = new double[n];
      for (int i = 0; i < n; i++) {
        timer.start();
        op.accept(4 + i);
        runs[i] = timer.stopMillis();
      }
      Arrays.sort(runs);
      ms = runs[n / 2];
    }
    double rate = unit.equals("TFLOP/s") ? work / ms / 1e9 : work / ms / 1e6;
    System.out.printf("%-24s %-28s %9.3f ms  %8.1f %s%n", name, shape, ms, rate, unit);
    // shapes are quoted: the table's csv reader splits on commas outside quotes
    rows.add(String.format("%s,\"%s\",%.6f,%.0f,%s", name, shape, ms, work, unit));
  }

  /** How many copies of inputs of this many bytes make the rotation exceed the L2 cache twice over. */
  private static int copies(long bytes) {
    return (int) Math.max(1, Math.min(8, (ROTATE_BYTES + bytes - 1) / bytes));
  }

  /** Random normal(0, scale) values, written in 1M-element chunks. */
  private static Tensor random(DType dtype, double scale, long... dims) {
    Tensor t = Tensor.empty(dtype, GPU, dims);
    long n = t.numel();
    Tensor flat = t.reshape(n);
    int chunk = (int) Math.min(n, 1 << 20);
    float[] values = new float[chunk];
    for (int i = 0; i < chunk; i++) values[i] = (float) (scale * RANDOM.nextGaussian());
    for (long start = 0; start < n; start += chunk) {
      int len = (int) Math.min(chunk, n - start);
      try (Tensor part = flat.slice(start, start + len)) {
        part.copyFrom(len == chunk ? values : Arrays.copyOf(values, len));
      }
    }
    flat.close();
    return t;
  }

  private static Tensor[] randoms(int count, DType dtype, double scale, long... dims) {
    Tensor[] out = new Tensor[count];
    for (int i = 0; i < count; i++) out[i] = random(dtype, scale, dims);
    return out;
  }

  private static String shape(long... dims) {
    StringBuilder b = new StringBuilder();
    for (long d : dims) b.append(b.length() == 0 ? "" : "x").append(d);
    return b.toString();
  }

  // ---- ops ----------------------------------------------------------------------------------------

  private void matmul() {
    // issue 5's square targets first (x W^T), then every Linear of a GPT-2 small step (in -> out, B*T rows)
    // in its three products: fwd y = x W^T (NT), dx = dy W (NN, bf16 =), dw = dy^T x (TN, fp32 +=).
    for (long sq : new long[] {4096, 8192}) {
      Tensor[] sa = randoms(copies(sq * sq * 2), DType.BF16, 1, sq, sq);
      Tensor sw = random(DType.BF16, 0.02, sq, sq);
      Tensor sy = Tensor.empty(DType.BF16, GPU, sq, sq);
      // the first timed op of the run: ~50 ms of load first, so the clocks have ramped up (as in peers.py)
      if (sq == 4096) for (int i = 0; i < 250; i++) gpu.matmul(sa[i % sa.length], sw, null, sy, false, true, 1.0, false);
      record("matmul_fwd_bf16", shape(sq, sq, sq), 2.0 * sq * sq * sq, "TFLOP/s",
          i -> gpu.matmul(sa[i % sa.length], sw, null, sy, false, true, 1.0, false));
    }
    long m = (long) B * T;
    long[][] linears = {{C, 3 * C}, {C, C}, {C, 4 * C}, {4 * C, C}, {C, VP}};
    for (long[] lin : linears) {
      long in = lin[0], out = lin[1];
      int r = copies(m * Math.max(in, out) * 2);
      Tensor[] x = randoms(r, DType.BF16, 1, m, in);
      Tensor w = random(DType.BF16, 0.02, out, in);
      Tensor y = Tensor.empty(DType.BF16, GPU, m, out);
      Tensor[] dy = randoms(r, DType.BF16, 1, m, out);
      Tensor dx = Tensor.empty(DType.BF16, GPU, m, in);
      Tensor dw = Tensor.zeros(DType.F32, GPU, out, in);
      String at = shape(m, out, in);
      double flops = 2.0 * m * out * in;
      record("matmul_fwd_bf16", at, flops, "TFLOP/s", i -> gpu.matmul(x[i % r], w, null, y, false, true, 1.0, false));
      if (out == 4 * C) {
        // the same product 10 times between the events: the host's per-call work overlaps the GPU's, so the
        // gap to the single-op row is the host time a lone op waits for (Java checks, JNI, tensor maps)
        record("matmul_fwd_bf16_x10", at, 10 * flops, "TFLOP/s", i -> {
          for (int j = 0; j < 10; j++) gpu.matmul(x[(i + j) % r], w, null, y, false, true, 1.0, false);
        });
      }
      record("matmul_dx_bf16", at, flops, "TFLOP/s",
          i -> gpu.matmulBackward(x[i % r], w, dy[i % r], dx, null, null, false, true, 1.0, false, false));
      record("matmul_dw_bf16", at, flops, "TFLOP/s",
          i -> gpu.matmulBackward(x[i % r], w, dy[i % r], null, dw, null, false, true, 1.0, false, true));
    }
  }

  private void attention() {
    gpt2Attention();
    longAttention();
    decodeAttention();
  }

  /** Head dim 128, T = 4096, causal (issue 6's second target): separate q, k, v of (2, 4096, 16*128). */
  private void longAttention() {
    int b = 2, t = 4096, h = 16, d = 128;
    AttentionSpec spec = AttentionSpec.of(h, d, true);
    Tensor q = random(DType.BF16, 1, b, t, h * d), k = random(DType.BF16, 1, b, t, h * d);
    Tensor v = random(DType.BF16, 1, b, t, h * d);
    Tensor out = Tensor.empty(DType.BF16, GPU, b, t, h * d);
    Tensor lse = Tensor.empty(DType.F32, GPU, b, h, t);
    double flops = 4.0 * b * h * t * (double) t * d / 2;
    String shape = "B2 H16 T4096 D128 causal";
    record("attention_fwd_bf16", shape, flops, "TFLOP/s", i -> gpu.attention(spec, q, k, v, null, out, lse));
    Tensor dout = random(DType.BF16, 1, b, t, h * d);
    Tensor dq = Tensor.empty(DType.BF16, GPU, b, t, h * d), dk = Tensor.empty(DType.BF16, GPU, b, t, h * d);
    Tensor dv = Tensor.empty(DType.BF16, GPU, b, t, h * d);
    record("attention_bwd_bf16", shape, 2.5 * flops, "TFLOP/s",
        i -> gpu.attentionBackward(spec, q, k, v, null, out, lse, dout, dq, dk, dv));
  }

  /** One query row per sequence against a 4096-token cache (generation): GB/s of K and V read once. */
  private void decodeAttention() {
    int b = 8, tk = 4096, h = 32, d = 128;
    AttentionSpec spec = AttentionSpec.of(h, d, true);
    Tensor q = random(DType.BF16, 1, b, 1, h * d);
    Tensor k = random(DType.BF16, 1, b, tk, h * d), v = random(DType.BF16, 1, b, tk, h * d);
    Tensor out = Tensor.empty(DType.BF16, GPU, b, 1, h * d);
    Tensor lse = Tensor.empty(DType.F32, GPU, b, h, 1);
    record("attention_decode_bf16", "B8 H32 Tk4096 D128", 2.0 * b * tk * h * d * 2, "GB/s",
        i -> gpu.attention(spec, q, k, v, null, out, lse));
  }

  private void gpt2Attention() {
    AttentionSpec spec = AttentionSpec.packed(H, C / H, true);
    int r = copies((long) B * T * 3 * C * 2);
    Tensor[] qkv = randoms(r, DType.BF16, 1, B, T, 3 * C);
    Tensor out = Tensor.empty(DType.BF16, GPU, B, T, C);
    Tensor lse = Tensor.empty(DType.F32, GPU, B, H, T);
    double flops = 4.0 * B * H * T * T * (C / H) / 2;  // causal: half the score matrix
    String shape = "B8 H12 T1024 D64 causal";
    record("attention_fwd_bf16", shape, flops, "TFLOP/s", i -> gpu.attention(spec, qkv[i % r], qkv[i % r], qkv[i % r],
        null, out, lse));
    gpu.attention(spec, qkv[0], qkv[0], qkv[0], null, out, lse);
    Tensor dout = random(DType.BF16, 1, B, T, C);
    Tensor dqkv = Tensor.empty(DType.BF16, GPU, B, T, 3 * C);
    record("attention_bwd_bf16", shape, 2.5 * flops, "TFLOP/s", i -> gpu.attentionBackward(spec, qkv[0], qkv[0],
        qkv[0], null, out, lse, dout, dqkv, dqkv, dqkv));
  }

  private void layerNorm() {
    long rows = (long) B * T;
    int r = copies(rows * C * 2);
    Tensor[] x = randoms(r, DType.BF16, 1, rows, C);
    Tensor w = random(DType.BF16, 1, C), b = random(DType.BF16, 1, C);
    Tensor y = Tensor.empty(DType.BF16, GPU, rows, C);
    Tensor mean = Tensor.empty(DType.F32, GPU, rows), rstd = Tensor.empty(DType.F32, GPU, rows);
    record("layernorm_fwd_bf16", shape(rows, C), 2.0 * rows * C * 2, "GB/s",
        i -> gpu.layerNorm(x[i % r], w, b, y, mean, rstd, 1e-5));
    Tensor dy = random(DType.BF16, 1, rows, C), dx = Tensor.empty(DType.BF16, GPU, rows, C);
    Tensor dw = Tensor.zeros(DType.F32, GPU, C), db = Tensor.zeros(DType.F32, GPU, C);
    record("layernorm_bwd_bf16", shape(rows, C), 3.0 * rows * C * 2, "GB/s",
        i -> gpu.layerNormBackward(x[i % r], w, mean, rstd, dy, dx, dw, db));
  }

  private void gelu() {
    long n = (long) B * T * 4 * C;
    int r = copies(n * 2);
    Tensor[] x = randoms(r, DType.BF16, 1, n);
    Tensor y = Tensor.empty(DType.BF16, GPU, n);
    record("gelu_fwd_bf16", shape(n), 2.0 * n * 2, "GB/s", i -> gpu.gelu(x[i % r], y, true));
    Tensor dy = random(DType.BF16, 1, n);
    record("gelu_bwd_bf16", shape(n), 3.0 * n * 2, "GB/s", i -> gpu.geluBackward(x[i % r], dy, y, true, false));
  }

  private void softmax() {
    long rows = (long) B * H * T;
    Tensor x = random(DType.BF16, 1, rows, T);
    Tensor y = Tensor.empty(DType.BF16, GPU, rows, T);
    record("softmax_fwd_bf16", shape(rows, T), 2.0 * rows * T * 2, "GB/s", i -> gpu.softmax(x, y, 0.125));
  }

  private void crossEntropy() {
    long rows = (long) B * T;
    Tensor logits = random(DType.BF16, 2, rows, VP);
    int[] t = new int[(int) rows];
    for (int i = 0; i < t.length; i++) t[i] = RANDOM.nextInt(V);
    Tensor targets = Tensor.ofInts(t, GPU, rows);
    Tensor loss = Tensor.empty(DType.F32, GPU, 1);
    record("cross_entropy_fwd_bf16", shape(rows, VP), 1.0 * rows * VP * 2, "GB/s",
        i -> gpu.crossEntropy(logits, targets, V, -1, rows, null, loss));
    Tensor dlogits = Tensor.empty(DType.BF16, GPU, rows, VP);
    record("cross_entropy_bwd_bf16", shape(rows, VP), 2.0 * rows * VP * 2, "GB/s",
        i -> gpu.crossEntropyBackward(logits, targets, V, -1, rows, 1.0, dlogits));
  }

  private void embedding() {
    long n = (long) B * T;
    int[] idValues = new int[(int) n];
    for (int i = 0; i < idValues.length; i++) idValues[i] = RANDOM.nextInt(V);
    Tensor ids = Tensor.ofInts(idValues, GPU, n);
    Tensor table = random(DType.BF16, 0.02, VP, C);
    Tensor out = Tensor.empty(DType.BF16, GPU, n, C);
    record("embedding_fwd_bf16", shape(n, C), 2.0 * n * C * 2, "GB/s", i -> gpu.embedding(ids, table, out));
    Tensor dout = random(DType.BF16, 1, n, C);
    Tensor dtable = Tensor.zeros(DType.F32, GPU, VP, C);
    record("embedding_bwd_bf16", shape(n, C), n * C * (2.0 + 8.0), "GB/s", i -> gpu.embeddingBackward(ids, dout, dtable));
  }

  /** The parameter shapes of GPT-2 small (124M, vocabulary padded to 50304). */
  static List<long[]> gpt2Shapes() {
    List<long[]> s = new ArrayList<>(List.of(new long[] {VP, C}, new long[] {1024, C}));
    for (int l = 0; l < 12; l++) {
      s.addAll(List.of(new long[] {C}, new long[] {C}, new long[] {3 * C, C}, new long[] {3 * C},
          new long[] {C, C}, new long[] {C}, new long[] {C}, new long[] {C}, new long[] {4 * C, C},
          new long[] {4 * C}, new long[] {C, 4 * C}, new long[] {C}));
    }
    s.addAll(List.of(new long[] {C}, new long[] {C}));
    return s;
  }

  private void optimizer() {
    List<Tensor> p = new ArrayList<>(), g = new ArrayList<>(), m = new ArrayList<>(), v = new ArrayList<>();
    long total = 0;
    for (long[] dims : gpt2Shapes()) {
      p.add(random(DType.F32, 0.02, dims));
      g.add(random(DType.F32, 1e-3, dims));
      m.add(Tensor.zeros(DType.F32, GPU, dims));
      v.add(Tensor.zeros(DType.F32, GPU, dims));
      total += p.get(p.size() - 1).numel();
    }
    boolean[] decay = new boolean[p.size()];
    for (int i = 0; i < decay.length; i++) decay[i] = p.get(i).rank() == 2;
    long[] step = {0};
    record("adamw_f32", total + " params in " + p.size() + " tensors", total * 28.0, "GB/s",
        i -> gpu.adamw(p, g, m, v, decay, new AdamWStep(6e-4, 0.9, 0.95, 1e-8, 0.1, ++step[0], 1.0)));
    record("grad_norm_f32", total + " params in " + g.size() + " tensors", total * 4.0, "GB/s", i -> gpu.gradNorm(g));
    // The fused step of issue 7: on-device norm and clip, bf16 copies written in the same pass (34 bytes per
    // parameter: 4 for the norm pass, 16 read and 14 written by the update). Target: >= 90% of copy_d2d.
    List<FusedAdamW.Entry> entries = new ArrayList<>();
    for (int i = 0; i < p.size(); i++) {
      entries.add(new FusedAdamW.Entry("t" + i, p.get(i), g.get(i), m.get(i), v.get(i),
          Tensor.empty(DType.BF16, GPU, p.get(i).dims()), decay[i], false));
    }
    try (FusedAdamW fused = new FusedAdamW(gpu, entries, 0.9, 0.95, 1e-8, 0.1, 1.0, 1.0)) {
      long[] fusedStep = {0};
      record("adamw_fused_clip_bf16copy", total + " params in " + p.size() + " tensors", total * 34.0, "GB/s", i -> {
        fused.schedule(6e-4, ++fusedStep[0]);
        fused.step();
      });
    }
    // The card's device-to-device copy rate, the yardstick of the memory-bound targets (8 bytes per float).
    Tensor src = random(DType.F32, 1.0, total), dst = Tensor.empty(DType.F32, GPU, total);
    record("copy_d2d_f32", total + " floats", total * 8.0, "GB/s", i -> gpu.copy(src, dst));
  }

  /** One GPT-2 small training step, fp32 (the models are fp32 until the bf16 policy lands in nn/). */
  private void gptStep() {
    int b = 4;
    GptConfig config = GptConfig.gpt2();
    int[] ids = new int[b * T], targets = new int[b * T];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = RANDOM.nextInt(V);
      targets[i] = RANDOM.nextInt(V);
    }
    try (Gpt model = new Gpt(config, 1, GPU);
         AdamW opt = new AdamW(model.namedParameters(), 0.9, 0.95, 1e-8, 0.1)) {
      Tensor idt = Tensor.ofInts(ids, GPU, b, T), tt = Tensor.ofInts(targets, GPU, b, T);
      double tokens = b * T;
      double flops = 6.0 * config.parameterCount() * tokens;
      record("gpt2_step_f32", "B4 T1024 124M", flops, "TFLOP/s", 1, i -> {
        try (Scope s = Scope.open(); Tape tape = Tape.record()) {
          tape.backward(model.loss(idt, tt, tokens));
        }
        opt.step(6e-4, 1.0);
        model.zeroGrad();
      });
    }
  }
}
