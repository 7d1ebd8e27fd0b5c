package ai.anvil.train;

import ai.anvil.autograd.Precision;
import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import ai.anvil.tensor.Device;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything a pre-training run is told: data, model size, optimization, evaluation, where to write.
 * Each component is one {@code pretrain} flag ({@code --batch-size}) and one JSON key
 * ({@code batch_size}); a JSON file given with {@code --config} sets any of them, and flags on the command
 * line win over the file. {@link #defaults()} is the cpu-small recipe of issue 3 (char-level KJV, about
 * two minutes on two cores).
 *
 * @param corpus text file to train on; null for the KJV embedded in the jar
 * @param tokenizer {@code char} (vocabulary from the corpus), {@code gpt2}, or a tokenizer.json path
 * @param minLr cosine floor; null means lr / 10
 * @param gradAccum micro-batches of batchSize rows per optimizer step
 * @param gradClip global-norm clip; 0 turns clipping off
 * @param evalInterval steps between evaluations (and checkpoints); the last step always evaluates
 * @param evalIters val batches, fixed for the whole run, each evaluation averages over
 * @param patience evaluations without a new best val loss before stopping early; 0 never stops early
 * @param threads CPU threads; 0 keeps the backend's default
 * @param resume checkpoint folder (or run folder holding one) to continue from; null starts fresh
 * @param sampleTokens tokens of text generated at the end of the run (0: none)
 * @param objective {@code clm} (causal LM, GPT), {@code mlm} (masked LM, BERT encoder) or {@code span}
 *     (T5-style span corruption, encoder-decoder)
 * @param maskProbability mlm: share of (non-special) tokens chosen for prediction; of those 80% become
 *     [MASK], 10% a random token, 10% stay unchanged
 * @param noiseDensity span: share of tokens replaced by sentinel spans
 * @param meanSpanLength span: mean length of a corrupted span, in tokens
 * @param init checkpoint folder (Anvil's, or a Hugging Face GPT-2 / BERT one) whose weights start the
 *     run (domain-adaptive pre-training); null starts from random weights. Unlike resume, the
 *     optimizer, step and schedule start fresh.
 * @param precision {@code auto} (bf16 on CUDA, fp32 on the CPU), {@code fp32} or {@code bf16} (mixed
 *     precision, CUDA only: bf16 linears and attention, fp32 weights, gradients, optimizer state, norms
 *     and loss; see ai.anvil.autograd.Autocast). Checkpoints are fp32 either way.
 * @param cudaGraph {@code auto}, {@code on} or {@code off}: whether a CUDA step is captured in a CUDA graph
 *     after its warm-up and replayed (ai.anvil.train.CudaTrainStep). auto captures when it can: a CUDA
 *     device, no dropout, an objective that reads only inputs and targets, one process, and every window
 *     of the batch shape captured (a window of another shape then runs uncaptured); on refuses to train
 *     where it cannot, with the reason; off never captures. Either way a CUDA step runs the fused AdamW and
 *     keeps its loss on the device. Ignored on the CPU unless on (an error there).
 * @param logInterval steps between training-loss reports (progress, metrics.jsonl): each report gives the
 *     mean loss of the steps since the last one. On CUDA only a report (or an evaluation, or the end) reads
 *     the loss from the device, so a larger interval lets the device run ahead of the host.
 * @param recompute recompute each transformer block's activations in the backward instead of keeping them
 *     (gradient checkpointing: about a third more forward work for a fraction of the activation memory;
 *     the same gradients). GPT (clm) only.
 */
public record TrainConfig(
    String corpus,
    String tokenizer,
    int nLayer,
    int nHead,
    int nEmbd,
    int blockSize,
    boolean bias,
    double dropout,
    int batchSize,
    int gradAccum,
    double lr,
    Double minLr,
    int warmupSteps,
    int maxSteps,
    double beta1,
    double beta2,
    double eps,
    double gradClip,
    double weightDecay,
    int evalInterval,
    int evalIters,
    int patience,
    long seed,
    String device,
    int threads,
    String out,
    String resume,
    int sampleTokens,
    String objective,
    double maskProbability,
    double noiseDensity,
    double meanSpanLength,
    String init,
    String precision,
    String cudaGraph,
    int logInterval,
    boolean recompute) {

  public TrainConfig {
    if (tokenizer == null || tokenizer.isBlank()) throw new IllegalArgumentException("tokenizer must be char, gpt2 or a file");
    positive("n_layer", nLayer);
    positive("n_head", nHead);
    positive("n_embd", nEmbd);
    positive("block_size", blockSize);
    positive("batch_size", batchSize);
    positive("grad_accum", gradAccum);
    positive("max_steps", maxSteps);
    positive("eval_interval", evalInterval);
    positive("eval_iters", evalIters);
    positive("log_interval", logInterval);
    if (nEmbd % nHead != 0) throw new IllegalArgumentException("n_embd " + nEmbd + " must be a multiple of n_head " + nHead);
    if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("dropout must be in [0, 1), got " + dropout);
    if (!(lr > 0) || !Double.isFinite(lr)) throw new IllegalArgumentException("lr must be > 0, got " + lr);
    if (minLr != null && !(minLr >= 0 && minLr <= lr)) throw new IllegalArgumentException("min_lr must be in [0, lr], got " + minLr);
    if (warmupSteps < 0) throw new IllegalArgumentException("warmup_steps must be >= 0, got " + warmupSteps);
    if (!(gradClip >= 0)) throw new IllegalArgumentException("grad_clip must be >= 0 (0: off), got " + gradClip);
    if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight_decay must be >= 0, got " + weightDecay);
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
      throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
    }
    if (!(eps > 0)) throw new IllegalArgumentException("eps must be > 0, got " + eps);
    if (patience < 0) throw new IllegalArgumentException("patience must be >= 0 (0: off), got " + patience);
    if (threads < 0) throw new IllegalArgumentException("threads must be >= 0 (0: default), got " + threads);
    if (sampleTokens < 0) throw new IllegalArgumentException("sample_tokens must be >= 0, got " + sampleTokens);
    if (device == null || device.isBlank()) throw new IllegalArgumentException("device must be cpu, cuda, cuda:N or auto");
    if (out == null || out.isBlank()) throw new IllegalArgumentException("out must name a folder");
    if (!OBJECTIVES.contains(objective)) {
      throw new IllegalArgumentException("objective must be one of " + OBJECTIVES + ", got " + objective);
    }
    if (!(maskProbability > 0 && maskProbability < 1)) {
      throw new IllegalArgumentException("mask_probability must be in (0, 1), got " + maskProbability);
    }
    if (!(noiseDensity > 0 && noiseDensity < 1)) {
      throw new IllegalArgumentException("noise_density must be in (0, 1), got " + noiseDensity);
    }
    if (!(meanSpanLength >= 1) || !Double.isFinite(meanSpanLength)) {
      throw new IllegalArgumentException("mean_span_length must be >= 1, got " + meanSpanLength);
    }
    if (!PRECISIONS.contains(precision)) {
      throw new IllegalArgumentException("precision must be one of " + PRECISIONS + ", got " + precision);
    }
    if (!CUDA_GRAPHS.contains(cudaGraph)) {
      throw new IllegalArgumentException("cuda_graph must be one of " + CUDA_GRAPHS + ", got " + cudaGraph);
    }
    if (cudaGraph.equals("on") && device.equals("cpu")) {
      throw new IllegalArgumentException("cuda_graph on captures a CUDA step, but device is cpu; use auto or off, or a cuda device");
    }
    if (cudaGraph.equals("on") && dropout > 0) {
      throw new IllegalArgumentException("cuda_graph on cannot capture a step with dropout " + dropout
          + ": its masks are seeded from the host, so every replay would draw the same ones; use auto or off");
    }
    if (cudaGraph.equals("on") && !objective.equals("clm")) {
      throw new IllegalArgumentException("cuda_graph on captures the causal-LM step; objective " + objective
          + " uploads its own batch parts (key masks, decoder inputs) in each step; use auto or off");
    }
    if (recompute && !objective.equals("clm")) {
      throw new IllegalArgumentException("recompute is implemented for the GPT (objective clm), not " + objective);
    }
    if (init != null && resume != null) {
      throw new IllegalArgumentException("init and resume exclude each other: resume continues a run, init starts one from weights");
    }
  }

  /** The pre-training objectives: causal LM, masked LM, span corruption. */
  public static final List<String> OBJECTIVES = List.of("clm", "mlm", "span");

  /** The precision settings: auto picks bf16 on CUDA and fp32 on the CPU (ai.anvil.autograd.Precision). */
  public static final List<String> PRECISIONS = List.of("auto", "fp32", "bf16");

  /** The CUDA graph settings: auto captures when it can, on insists, off never captures. */
  public static final List<String> CUDA_GRAPHS = List.of("auto", "on", "off");

  private static void positive(String name, long value) {
    if (value < 1) throw new IllegalArgumentException(name + " must be >= 1, got " + value);
  }

  /** The cpu-small recipe (causal LM): 4 layers, 4 heads, 128 wide, context 64, batch 12, 2000 steps on char-level KJV. */
  public static TrainConfig defaults() {
    return new TrainConfig(null, "char", 4, 4, 128, 64, true, 0.0, 12, 1, 1e-3, null, 100, 2000, 0.9, 0.99, 1e-8,
        1.0, 0.1, 250, 50, 0, 1337, "auto", 0, "runs/pretrain", null, 400, "clm", 0.15, 0.15, 3.0, null, "auto", "auto", 1,
        false);
  }

  /** The cosine floor: min_lr, or lr / 10 when unset. */
  public double minLrOrDefault() {
    return minLr != null ? minLr : lr / 10;
  }

  public LrSchedule schedule() {
    return new LrSchedule(lr, minLrOrDefault(), warmupSteps, maxSteps);
  }

  /** The precision this config trains in on device: auto resolves to bf16 on CUDA, fp32 on the CPU. */
  public Precision precisionOn(Device device) {
    Precision p = precision.equals("auto") ? Precision.defaultFor(device) : Precision.parse(precision);
    return p.checkDevice(device);
  }

  /** Tokens per optimizer step: batch x accumulation x context. */
  public long tokensPerStep() {
    return (long) batchSize * gradAccum * blockSize;
  }

  // ---- JSON ---------------------------------------------------------------------------------------

  /** Every component under its JSON key, in declaration order. */
  public Map<String, Object> toMap() {
    return RecordSettings.toMap(this);
  }

  public String toJson() {
    return Json.writePretty(toMap());
  }

  /**
   * This config with the given keys replaced (JSON keys, snake_case). Unknown keys and values of the
   * wrong type are errors naming the key.
   */
  public TrainConfig with(Map<String, ?> overrides) {
    return RecordSettings.with(this, overrides, "training", TrainConfig::convert);
  }

  /** This config with keys replaced, given as alternating key, value: {@code with("n_layer", 6, "lr", 3e-4)}. */
  public TrainConfig with(Object... keyValues) {
    if (keyValues.length % 2 != 0) throw new IllegalArgumentException("with: keys and values must alternate");
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < keyValues.length; i += 2) m.put((String) keyValues[i], keyValues[i + 1]);
    return with(m);
  }

  /** The defaults overlaid with a JSON file's keys. */
  public static TrainConfig load(Path file) throws IOException {
    return defaults().with(read(file));
  }

  /** The keys of a JSON config file (for overlaying on something other than the defaults). */
  public static Map<String, Object> read(Path file) throws IOException {
    try {
      return Json.parseObject(Files.readString(file, StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /** Writes this config as pretty JSON, atomically. */
  public void save(Path file) throws IOException {
    AtomicFiles.writeString(file, toJson());
  }

  private static Object convert(String key, Object value, Class<?> type) {
    if (value == null) {
      if (type.isPrimitive()) throw new IllegalArgumentException("'" + key + "' must not be null");
      return null;
    }
    try {
      if (type == String.class) {
        if (value instanceof String) return value;
      } else if (type == boolean.class) {
        if (value instanceof Boolean) return value;
        if (value instanceof String s && (s.equals("true") || s.equals("false"))) return Boolean.parseBoolean(s);
      } else if (type == int.class) {
        return Math.toIntExact(integral(value));
      } else if (type == long.class) {
        return integral(value);
      } else if (type == double.class || type == Double.class) {
        if (value instanceof Number n) return n.doubleValue();
        if (value instanceof String s) return Double.parseDouble(s);
      }
    } catch (ArithmeticException | NumberFormatException e) {
      // falls through to the error below
    }
    throw new IllegalArgumentException("'" + key + "' must be " + describe(type) + ", got " + value);
  }

  private static long integral(Object value) {
    if (value instanceof Number n) {
      double d = n.doubleValue();
      if (n instanceof Long || n instanceof Integer) return n.longValue();
      if (d == Math.rint(d) && Math.abs(d) < 9e15) return (long) d;
    } else if (value instanceof String s) {
      return Long.parseLong(s.trim());
    }
    throw new NumberFormatException();
  }

  private static String describe(Class<?> type) {
    if (type == String.class) return "a string";
    if (type == boolean.class) return "true or false";
    if (type == int.class || type == long.class) return "an integer";
    return "a number";
  }
}
