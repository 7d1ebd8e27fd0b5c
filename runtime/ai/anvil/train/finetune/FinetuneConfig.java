package ai.anvil.train.finetune;

import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import ai.anvil.train.RecordSettings;
import ai.anvil.train.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Everything a fine-tuning run is told. Each component is one {@code finetune} flag ({@code --lora-r}) and
 * one JSON key ({@code lora_r}), as with {@link TrainConfig}.
 *
 * @param base the model to start from: a checkpoint folder (config.json, model.safetensors,
 *     tokenizer.json) or a run folder holding one
 * @param method full, lora, adapter (Houlsby), prompt or prefix; head (the classification head alone on
 *     the frozen body, a linear probe) only with a head
 * @param task {@code text}: causal LM on a text file (style adaptation), split 90/10;
 *     {@code classify}: classification by generation from JSON lines {"text": ..., "label": ...}, the
 *     loss on the label tokens only, accuracy = the share of val examples whose most likely label is right;
 *     on a BERT base (config.json model_type bert), a linear head on mean-pooled states instead
 *     (every method; EncoderFinetuning)
 * @param data the training file
 * @param valData the validation file; null takes 10% of data
 * @param testData a held-out test file (classify), scored once with the best weights; null for none
 * @param forgettingText held-out pre-training text (GPT bases), whose perplexity before and after
 *     fine-tuning is the forgetting figure ({@link ai.anvil.metrics.ForgettingReport}); null for none
 * @param labelKey the key of each example's label (classify): "label", or any other string field
 * @param separator between the text and its label (classify)
 * @param head classify with a sequence-classification head (models.heads, mean pooling)
 *     instead of generating the label; always so on a BERT base. The head trains with every method.
 * @param trainHead whether the classification head trains (with a head); false keeps it at its random
 *     start, so whatever is learnt is the method's alone (a diagnosis: does prompt tuning learn by itself?)
 * @param lr null: the method's usual rate ({@link #lrOrDefault()})
 * @param evalIters val batches per evaluation; 0 for classify means the whole val set
 * @param blockSize 0 means the base's context length
 */
public record FinetuneConfig(
    String base,
    String method,
    String task,
    String data,
    String valData,
    String testData,
    String forgettingText,
    String labelKey,
    String separator,
    boolean head,
    boolean trainHead,
    int loraR,
    double loraAlpha,
    double loraDropout,
    String loraTargets,
    boolean useRslora,
    int adapterSize,
    int virtualTokens,
    int blockSize,
    int batchSize,
    int gradAccum,
    Double lr,
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
    String out) {

  public static final List<String> METHODS = List.of("full", "lora", "adapter", "prompt", "prefix", "head");

  public FinetuneConfig {
    if (base == null || base.isBlank()) throw new IllegalArgumentException("base must name a model folder");
    if (!METHODS.contains(method)) throw new IllegalArgumentException("method must be one of " + METHODS + ", got " + method);
    if (!List.of("text", "classify").contains(task)) throw new IllegalArgumentException("task must be text or classify, got " + task);
    if (data == null || data.isBlank()) throw new IllegalArgumentException("data must name a file");
    if (labelKey == null || labelKey.isBlank()) throw new IllegalArgumentException("label_key must name a field");
    if (separator == null) throw new IllegalArgumentException("separator must not be null");
    for (Object[] kv : new Object[][] {{"lora_r", loraR}, {"adapter_size", adapterSize}, {"virtual_tokens", virtualTokens},
        {"batch_size", batchSize}, {"grad_accum", gradAccum}, {"max_steps", maxSteps}, {"eval_interval", evalInterval}}) {
      if ((int) kv[1] < 1) throw new IllegalArgumentException(kv[0] + " must be >= 1, got " + kv[1]);
    }
    if (blockSize < 0 || evalIters < 0 || patience < 0 || threads < 0 || warmupSteps < 0) {
      throw new IllegalArgumentException("block_size, eval_iters, patience, threads and warmup_steps must be >= 0");
    }
    if (!(loraAlpha > 0)) throw new IllegalArgumentException("lora_alpha must be > 0, got " + loraAlpha);
    if (!(loraDropout >= 0 && loraDropout < 1)) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + loraDropout);
    if (lr != null && !(lr > 0)) throw new IllegalArgumentException("lr must be > 0, got " + lr);
    if (out == null || out.isBlank()) throw new IllegalArgumentException("out must name a folder");
  }

  /** LoRA r 8, alpha 16, dropout 0.05 on c_attn; adapters of 16; 16 virtual tokens; 300 steps of 16 rows. */
  public static FinetuneConfig defaults(String base, String method, String task, String data) {
    return new FinetuneConfig(base, method, task, data, null, null, null, "label", " : ", false, true, 8, 16, 0.05, "c_attn", false, 16, 16, 0, 16, 1, null,
        null, 20, 300, 0.9, 0.999, 1e-8, 1.0, 0.0, 25, 0, 0, 1337, "auto", 0, "runs/finetune");
  }

  /** Usual rates: full 3e-4; LoRA and adapters 2e-3; prompt and prefix 2e-2 (few, free vectors move far). */
  public double lrOrDefault() {
    if (lr != null) return lr;
    return switch (method) {
      case "full" -> 3e-4;
      case "lora", "adapter", "head" -> 2e-3;
      default -> 2e-2;
    };
  }

  /** The training settings as the {@link ai.anvil.train.Trainer} takes them, for a model of this shape. */
  public TrainConfig trainConfig(int nLayer, int nHead, int nEmbd, int block, int valBatches) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("n_layer", nLayer);
    m.put("n_head", nHead);
    m.put("n_embd", nEmbd);
    m.put("block_size", block);
    m.put("batch_size", batchSize);
    m.put("grad_accum", gradAccum);
    m.put("lr", lrOrDefault());
    m.put("min_lr", minLr);
    m.put("warmup_steps", warmupSteps);
    m.put("max_steps", maxSteps);
    m.put("beta1", beta1);
    m.put("beta2", beta2);
    m.put("eps", eps);
    m.put("grad_clip", gradClip);
    m.put("weight_decay", weightDecay);
    m.put("eval_interval", evalInterval);
    m.put("eval_iters", valBatches);
    m.put("patience", patience);
    m.put("seed", seed);
    m.put("device", device);
    m.put("threads", threads);
    m.put("out", out);
    m.put("sample_tokens", 0);
    return TrainConfig.defaults().with(m);
  }

  // ---- JSON ---------------------------------------------------------------------------------------

  public Map<String, Object> toMap() {
    return RecordSettings.toMap(this);
  }

  public void save(Path file) throws IOException {
    AtomicFiles.writeString(file, Json.writePretty(toMap()));
  }

  public static Map<String, Object> read(Path file) throws IOException {
    try {
      return Json.parseObject(Files.readString(file));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /** This config with keys (snake_case) replaced; unknown keys and wrong types are errors naming the key. */
  public FinetuneConfig with(Map<String, ?> overrides) {
    return RecordSettings.with(this, overrides, "fine-tuning", FinetuneConfig::convert);
  }

  /** Alternating keys and values: {@code with("method", "lora", "lora_r", 4)}. */
  public FinetuneConfig with(Object... keyValues) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i + 1 < keyValues.length; i += 2) m.put((String) keyValues[i], keyValues[i + 1]);
    return with(m);
  }

  private static Object convert(String key, Object value, Class<?> type) {
    if (value == null) {
      if (type.isPrimitive()) throw new IllegalArgumentException("'" + key + "' must not be null");
      return null;
    }
    try {
      if (type == String.class) return value instanceof String ? value : String.valueOf(value);
      if (type == boolean.class) {
        if (value instanceof Boolean) return value;
        String s = String.valueOf(value).toLowerCase(Locale.ROOT);
        if (s.equals("true") || s.equals("false")) return Boolean.parseBoolean(s);
      } else if (type == int.class || type == long.class) {
        double d = value instanceof Number n ? n.doubleValue() : Double.parseDouble(String.valueOf(value).trim());
        if (d == Math.rint(d) && Math.abs(d) < 9e15) return type == int.class ? (Object) Math.toIntExact((long) d) : (Object) (long) d;
      } else if (type == double.class || type == Double.class) {
        return value instanceof Number n ? n.doubleValue() : Double.parseDouble(String.valueOf(value).trim());
      }
    } catch (NumberFormatException | ArithmeticException e) {
      // falls through
    }
    throw new IllegalArgumentException("'" + key + "' has a value of the wrong type: " + value);
  }
}
