package ai.anvil.backend.cuda;

import ai.anvil.autograd.Precision;
import ai.anvil.infer.DecodeGraph;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.models.KvCache;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.AdamW;
import ai.anvil.train.Batch;
import ai.anvil.train.CudaTrainStep;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The GPT-2 124M training and decoding harness of issue 7 (bench/gpu/README.md): trains the GPT-2 small
 * configuration (12 layers, 768 wide, 12 heads, context 1024, vocabulary 50257 padded to 50304) on random
 * tokens for a fixed number of steps on cuda:0 and prints tokens/s and MFU; then decodes a batch of prompts
 * with the KV cache on the device and the next token picked on the device (DeviceSampler argmax) and
 * prints decode tokens/s, with eager steps and with the step replayed from a CUDA graph. bench/gpu/gpt2_train.py measures PyTorch on the same shapes in the same run.
 *
 * <p>The step is the product's ({@link CudaTrainStep}, as the Trainer runs it on CUDA): forward + backward with
 * the loss and its gradient on the device (summed into a device scalar, read once at the end), then the fused
 * AdamW (one table, clip 1.0 on the device). A real loop copies its next batch into the step's fixed input
 * buffers between updates; here one random batch is loaded once.
 * Variants, each timed separately so one that fails does not hide the others, are named
 * {@code PRECISION[-graph][-recompute][:BATCH]}: {@code bf16} (mixed precision: bf16 GEMM and attention,
 * the weights' bf16 copies written by the fused AdamW) or {@code fp32} (the test mode, SIMT kernels);
 * {@code -graph}: the whole step captured in a CUDA graph after a warm-up and replayed; {@code -recompute}:
 * per-block activation recompute; {@code :16}: batch 16 instead of the default (issue 7's memory target is
 * B16 x 1024 on an 80 GB card). Eager variants also print where a step's time goes (CUDA events after the
 * forward to the loss, after the backward, after the optimizer) and every variant the pool's peak.
 *
 * <pre>java ... ai.anvil.backend.cuda.Gpt2TrainBench OUT.csv [batch=8] [steps=6] [seconds=30] [variant ...]</pre>
 * Default variants: bf16, bf16-graph, bf16-graph:16, decode (the decode run is made only when listed or by
 * default). Writes name,config,value,unit rows (name
 * {@code train_<variant>} with '-' and ':' as '_'). Each variant stops early when its share of the time
 * budget is spent.
 */
public final class Gpt2TrainBench {
  private static final Device GPU = Device.cuda(0);
  private static final int T = 1024;
  /** Dense bf16 tensor-core peak used for MFU (H100 SXM; an H200 has the same). */
  private static final double PEAK_FLOPS = 989e12;
  private static final String[] DEFAULT_VARIANTS = {"bf16", "bf16-graph", "bf16-graph:16", "decode"};

  private final List<String> rows = new ArrayList<>();
  private final Path out;

  private Gpt2TrainBench(Path out) {
    this.out = out;
  }

  public static void main(String[] args) throws IOException {
    if (!CudaRuntime.isUsable()) throw new IllegalStateException("CUDA unusable: " + CudaRuntime.reason());
    Path out = Path.of(args.length > 0 ? args[0] : "bench-train-anvil.csv");
    int batch = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    int steps = args.length > 2 ? Integer.parseInt(args[2]) : 6;
    double seconds = args.length > 3 ? Double.parseDouble(args[3]) : 30;
    List<String> variants = new ArrayList<>(List.of(args.length > 4 ? java.util.Arrays.copyOfRange(args, 4, args.length)
        : DEFAULT_VARIANTS));
    boolean decode = variants.remove("decode");
    Gpt2TrainBench bench = new Gpt2TrainBench(out);
    System.out.println("device: " + CudaRuntime.describe(0));
    long start = System.nanoTime();
    for (String variant : variants) {
      double left = seconds * 0.9 - (System.nanoTime() - start) / 1e9;
      if (left <= 0) {
        System.out.println(variant + ": skipped, time budget spent");
        continue;
      }
      String name = variant.replace('-', '_').replace(':', '_');
      try {
        bench.train(variant, name, batch, steps, Math.min(left, seconds / Math.max(1, variants.size())));
      } catch (RuntimeException | Error e) {
        System.out.println("train " + variant + ": FAILED " + e);
        bench.rows.add("train_" + name + "," + variant + " T" + T + ",NaN,tokens/s");
      }
      bench.write();
    }
    if (!decode) return;
    try {
      bench.decode(8, 64, 64);
    } catch (RuntimeException | Error e) {
      System.out.println("decode: FAILED " + e);
      bench.rows.add("decode,B8 prompt64 new64,NaN,tokens/s");
      bench.rows.add("decode_graph,B8 prompt64 new64,NaN,tokens/s");
    }
    bench.write();
  }

  private void write() throws IOException {
    try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out))) {
      w.println("name,config,value,unit");
      for (String r : rows) w.println(r);
    }
  }

  private void train(String variant, String name, int defaultBatch, int steps, double budgetSeconds) {
    String[] parts = variant.split(":");
    int batch = parts.length > 1 ? Integer.parseInt(parts[1]) : defaultBatch;
    List<String> flags = List.of(parts[0].split("-"));
    Precision precision = Precision.parse(flags.get(0));
    boolean graphed = flags.contains("graph"), recompute = flags.contains("recompute");
    CudaBackend gpu = CudaBackend.forDevice(0);
    GptConfig config = GptConfig.gpt2();
    SplittableRandom rnd = new SplittableRandom(1234);
    int[] ids = new int[batch * T], targets = new int[batch * T];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = rnd.nextInt(config.vocabSize());
      targets[i] = rnd.nextInt(config.vocabSize());
    }
    String tag = "B" + batch + " T" + T + " " + variant;
    double tokens = (double) batch * T;
    double lr = 6e-4;
    try (Scope run = Scope.open(); Gpt model = new Gpt(config, 1, GPU);
         AdamW moments = new AdamW(model.namedParameters(), 0.9, 0.95, 1e-8, 0.1);
         CudaTrainStep step = new CudaTrainStep(model, model::loss, moments, 1.0, precision, 1)) {
      model.train(true);
      model.setRecompute(recompute);
      step.load(List.of(new Batch(batch, T, ids, targets)), (double) batch * T);
      step.run(lr, false);  // the warm-up: the first update makes the gradients and the optimizer's table
      if (!graphed) step.timePhases();
      try {
        step.run(lr, graphed);  // one more untimed update (captures the graph; its first replay pays its upload)
      } catch (IllegalStateException e) {
        System.out.println("train " + variant + ": capture refused: " + e.getMessage());
        throw e;
      }
      gpu.synchronize();
      long t0 = System.nanoTime();
      int done = 0;
      while (done < steps) {
        step.run(lr, graphed);
        done++;
        if ((System.nanoTime() - t0) / 1e9 > budgetSeconds) {
          gpu.synchronize();
          if ((System.nanoTime() - t0) / 1e9 > budgetSeconds) break;
        }
      }
      gpu.synchronize();
      double perStep = (System.nanoTime() - t0) / 1e9 / done;
      double tokPerS = tokens / perStep;
      // llm.c's count: 6 N per token for the weights plus 6 L T C for attention (causal, fwd + bwd)
      double flopsPerToken = 6.0 * config.parameterCount() + 6.0 * config.nLayer() * T * config.nEmbd();
      double mfu = tokPerS * flopsPerToken / PEAK_FLOPS;
      CudaBackend.PoolStats pool = gpu.poolStats();
      System.out.printf("train %-16s %s: %d steps, %.1f ms/step, %.0f tokens/s, MFU %.1f%% (of %.0f TFLOP/s bf16), "
              + "mean loss %.3f, grad norm %.3f, pool %.1f GB reserved%n", variant, tag, done, perStep * 1e3, tokPerS,
          100 * mfu, PEAK_FLOPS / 1e12, step.takeLoss() / moments.steps(), step.gradNorm(), pool.reservedBytes() / 1e9);
      rows.add("train_" + name + "," + tag + "," + tokPerS + ",tokens/s");
      rows.add("mfu_" + name + "," + tag + "," + mfu + ",fraction");
      rows.add("step_ms_" + name + "," + tag + "," + perStep * 1e3 + ",ms");
      rows.add("pool_gb_" + name + "," + tag + "," + pool.reservedBytes() / 1e9 + ",GB");
      if (!graphed) {
        double[] ms = step.phaseMillis();
        System.out.printf("  phases of the last step (CUDA events): forward+loss %.2f ms, backward %.2f ms, "
            + "optimizer %.2f ms%n", ms[0], ms[1], ms[2]);
        String[] phase = {"forward", "backward", "optimizer"};
        for (int i = 0; i < 3; i++) rows.add("phase_ms_" + phase[i] + "_" + name + "," + tag + "," + ms[i] + ",ms");
      }
    }
  }

  /**
   * batch prompts of promptLen tokens, then newTokens greedy tokens each, KV cache and argmax on the GPU, in
   * the product's precision (bf16 cache and linears on CUDA): eager steps (row "decode", as before) and the
   * step captured in a CUDA graph and replayed per token (row "decode_graph", infer.DecodeGraph); both time
   * the prefill too, as bench/gpu/gpt2_train.py's torch_decode does. Rows decode_ms_per_step(_graph): the
   * mean step after the prefill.
   */
  private void decode(int batch, int promptLen, int newTokens) {
    GptConfig config = GptConfig.gpt2();
    SplittableRandom rnd = new SplittableRandom(7);
    int[] prompt = new int[batch * promptLen];
    for (int i = 0; i < prompt.length; i++) prompt[i] = rnd.nextInt(config.vocabSize());
    String tag = "B" + batch + " prompt" + promptLen + " new" + newTokens;
    try (Scope run = Scope.open(); Gpt model = new Gpt(config, 1, GPU)) {
      model.train(false);
      for (boolean graphed : new boolean[] {false, true}) {
        String name = graphed ? "decode_graph" : "decode";
        try {
          double[] r = decodeRun(model, prompt, batch, promptLen, newTokens, graphed);
          System.out.printf("%s %s: %.1f ms, %.0f tokens/s, %.3f ms per step after the prefill%n", name, tag, r[0] * 1e3,
              r[1], r[2]);
          rows.add(name + "," + tag + "," + r[1] + ",tokens/s");
          rows.add("decode_ms_per_step" + (graphed ? "_graph" : "") + "," + tag + "," + r[2] + ",ms");
        } catch (RuntimeException | Error e) {
          System.out.println(name + ": FAILED " + e);
          rows.add(name + "," + tag + ",NaN,tokens/s");
        }
      }
    }
  }

  /**
   * Two rounds over one cache and one DecodeGraph (the first warms up and, when graphed, captures; the
   * second replays only); {seconds, tokens/s, ms per step after the prefill} of the second.
   */
  private static double[] decodeRun(Gpt model, int[] prompt, int batch, int promptLen, int newTokens, boolean graphed) {
    CudaBackend gpu = CudaBackend.forDevice(0);
    int vocab = model.config().vocabSize();
    double[] result = null;
    try (Scope s = Scope.open(); KvCache cache = model.newCache(batch, promptLen + newTokens);
         DecodeGraph steps = new DecodeGraph(model, cache, graphed)) {
      Tensor next = steps.ids().reshape(batch);
      for (int round = 0; round < 2; round++) {
        cache.reset();
        gpu.synchronize();
        long t0 = System.nanoTime();
        try (Scope p = Scope.open()) {
          Tensor logits = model.forwardLast(Tensor.ofInts(prompt, GPU, batch, promptLen), cache);
          DeviceSampler.sample(gpu, logits, vocab, 1, 0.0, 1, 0, next);
        }
        gpu.synchronize();
        long t1 = System.nanoTime();
        for (int i = 1; i < newTokens; i++) {
          steps.step();
          DeviceSampler.sample(gpu, steps.logits(), vocab, 1, 0.0, 1, (long) i * batch, next);
        }
        gpu.synchronize();
        long t2 = System.nanoTime();
        double elapsed = (t2 - t0) / 1e9;
        result = new double[] {elapsed, (double) batch * newTokens / elapsed, (t2 - t1) / 1e6 / Math.max(1, newTokens - 1)};
      }
      if (graphed && !steps.captured()) throw new IllegalStateException("the decode step was not captured");
    }
    return result;
  }
}
