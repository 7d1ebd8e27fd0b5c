package ai.anvil.models.llama;

import ai.anvil.io.Json;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The shape of a Llama-family model, read from and written to Hugging Face's {@code config.json} names
 * ({@code hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
 * head_dim, rms_norm_eps, rope_theta, max_position_embeddings, vocab_size, tie_word_embeddings,
 * attention_bias, mlp_bias}). Both spellings of the rotary base are read: transformers 4's top-level
 * {@code rope_theta} and transformers 5's {@code rope_parameters.rope_theta}; both are written.
 * Rotary scaling variants (linear, dynamic, yarn, llama3) are refused rather than silently ignored.
 *
 * <p>{@link #vocabSize} is the real vocabulary; {@link #paddedVocab} the rows of the token table and
 * head inside Anvil (a multiple of 64; padding rows are zero and never sampled).
 *
 * @param vocabSize real vocabulary size
 * @param hiddenSize residual width C
 * @param intermediateSize width of the gated MLP
 * @param numHiddenLayers decoder layers
 * @param numAttentionHeads query heads H
 * @param numKeyValueHeads key/value heads (divides H; H for plain multi-head attention)
 * @param headDim width of each head (hidden_size / H unless given)
 * @param maxPositionEmbeddings longest context
 * @param rmsNormEps RMSNorm epsilon
 * @param ropeTheta rotary base
 * @param tieWordEmbeddings whether lm_head shares the token table
 * @param attentionBias whether q/k/v/o projections carry a bias
 * @param mlpBias whether the MLP projections carry a bias
 */
public record LlamaConfig(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers,
                          int numAttentionHeads, int numKeyValueHeads, int headDim, int maxPositionEmbeddings,
                          double rmsNormEps, double ropeTheta, boolean tieWordEmbeddings, boolean attentionBias,
                          boolean mlpBias) {
  /** The multiple the vocabulary is padded to inside. */
  public static final int VOCAB_MULTIPLE = 64;

  public LlamaConfig {
    if (vocabSize < 1 || hiddenSize < 1 || intermediateSize < 1 || numHiddenLayers < 1 || numAttentionHeads < 1
        || numKeyValueHeads < 1 || headDim < 1 || maxPositionEmbeddings < 1) {
      throw new IllegalArgumentException("LlamaConfig: sizes must be >= 1, got vocab " + vocabSize + ", hidden "
          + hiddenSize + ", intermediate " + intermediateSize + ", layers " + numHiddenLayers + ", heads "
          + numAttentionHeads + ", kv heads " + numKeyValueHeads + ", head_dim " + headDim + ", positions "
          + maxPositionEmbeddings);
    }
    if (numAttentionHeads % numKeyValueHeads != 0) {
      throw new IllegalArgumentException("LlamaConfig: num_attention_heads " + numAttentionHeads
          + " is not a multiple of num_key_value_heads " + numKeyValueHeads);
    }
    if (headDim % 2 != 0) throw new IllegalArgumentException("LlamaConfig: head_dim " + headDim + " must be even (rotary pairs)");
    if (!(rmsNormEps > 0)) throw new IllegalArgumentException("LlamaConfig: rms_norm_eps must be > 0, got " + rmsNormEps);
    if (!(ropeTheta > 0) || !Double.isFinite(ropeTheta)) {
      throw new IllegalArgumentException("LlamaConfig: rope_theta must be finite and > 0, got " + ropeTheta);
    }
  }

  /**
   * A config with head_dim = hidden / heads, no biases, eps 1e-6, theta 10000 and untied embeddings (the
   * Hugging Face defaults).
   */
  public static LlamaConfig of(int vocabSize, int hiddenSize, int intermediateSize, int layers, int heads, int kvHeads,
                               int maxPositions) {
    if (hiddenSize % heads != 0) {
      throw new IllegalArgumentException("LlamaConfig: hidden_size " + hiddenSize + " is not a multiple of heads " + heads);
    }
    return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, layers, heads, kvHeads, hiddenSize / heads,
        maxPositions, 1e-6, 10000.0, false, false, false);
  }

  public LlamaConfig withRopeTheta(double theta) {
    return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
        numKeyValueHeads, headDim, maxPositionEmbeddings, rmsNormEps, theta, tieWordEmbeddings, attentionBias, mlpBias);
  }

  public LlamaConfig withTiedEmbeddings(boolean on) {
    return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
        numKeyValueHeads, headDim, maxPositionEmbeddings, rmsNormEps, ropeTheta, on, attentionBias, mlpBias);
  }

  /** Rows of the token table and head inside Anvil: vocabSize rounded up to a multiple of 64. */
  public int paddedVocab() {
    return (vocabSize + VOCAB_MULTIPLE - 1) / VOCAB_MULTIPLE * VOCAB_MULTIPLE;
  }

  /** Query heads per key/value head. */
  public int groups() {
    return numAttentionHeads / numKeyValueHeads;
  }

  /** Width of q (and of the attention output): heads * headDim. */
  public int qWidth() {
    return numAttentionHeads * headDim;
  }

  /** Width of k and v: kvHeads * headDim. */
  public int kvWidth() {
    return numKeyValueHeads * headDim;
  }

  /** Parameter count with the real (unpadded) vocabulary, as Hugging Face reports it. */
  public long parameterCount() {
    long c = hiddenSize, q = qWidth(), kv = kvWidth(), i = intermediateSize;
    long attn = c * q + 2 * c * kv + q * c + (attentionBias ? q + 2 * kv + c : 0);
    long mlp = 3 * c * i + (mlpBias ? 2 * i + c : 0);
    long layer = attn + mlp + 2 * c;
    long embeddings = (long) vocabSize * c;
    return embeddings + numHiddenLayers * layer + c + (tieWordEmbeddings ? 0 : embeddings);
  }

  // ---- config.json ------------------------------------------------------------------------------

  /** The Hugging Face LlamaConfig fields. */
  public Map<String, Object> toJson() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("architectures", List.of("LlamaForCausalLM"));
    m.put("model_type", "llama");
    m.put("vocab_size", vocabSize);
    m.put("hidden_size", hiddenSize);
    m.put("intermediate_size", intermediateSize);
    m.put("num_hidden_layers", numHiddenLayers);
    m.put("num_attention_heads", numAttentionHeads);
    m.put("num_key_value_heads", numKeyValueHeads);
    m.put("head_dim", headDim);
    m.put("hidden_act", "silu");
    m.put("max_position_embeddings", maxPositionEmbeddings);
    m.put("rms_norm_eps", rmsNormEps);
    m.put("rope_theta", ropeTheta);
    Map<String, Object> rope = new LinkedHashMap<>();
    rope.put("rope_type", "default");
    rope.put("rope_theta", ropeTheta);
    m.put("rope_parameters", rope);
    m.put("tie_word_embeddings", tieWordEmbeddings);
    m.put("attention_bias", attentionBias);
    m.put("attention_dropout", 0.0);
    m.put("mlp_bias", mlpBias);
    m.put("initializer_range", 0.02);
    return m;
  }

  public String toJsonString() {
    return Json.writePretty(toJson());
  }

  /**
   * Reads HF Llama config fields; missing ones take transformers' defaults. What this implementation
   * does not do (another activation, rotary scaling, attention dropout) is refused.
   */
  @SuppressWarnings("unchecked")
  public static LlamaConfig fromJson(Map<String, Object> m) {
    String type = Json.getString(m, "model_type", "llama");
    if (!type.equals("llama")) throw new IllegalArgumentException("config.json: model_type " + type + " is not llama");
    String act = Json.getString(m, "hidden_act", "silu");
    if (!act.equals("silu")) throw new IllegalArgumentException("config.json: hidden_act " + act + " is not supported (silu only)");
    if (Json.getDouble(m, "attention_dropout", 0.0) != 0.0) {
      throw new IllegalArgumentException("config.json: attention_dropout " + m.get("attention_dropout") + " is not supported");
    }
    if (Json.getInt(m, "pretraining_tp", 1) != 1) {
      throw new IllegalArgumentException("config.json: pretraining_tp " + m.get("pretraining_tp") + " is not supported");
    }
    double theta = Json.getDouble(m, "rope_theta", 10000.0);
    for (String key : new String[] {"rope_parameters", "rope_scaling"}) {
      Object v = m.get(key);
      if (v == null) continue;
      if (!(v instanceof Map)) throw new IllegalArgumentException("config.json: " + key + " must be an object, got " + v);
      Map<String, Object> rope = (Map<String, Object>) v;
      String ropeType = Json.getString(rope, "rope_type", Json.getString(rope, "type", "default"));
      if (!ropeType.equals("default")) {
        throw new IllegalArgumentException("config.json: " + key + " of type " + ropeType
            + " is not supported (plain rotary embeddings only)");
      }
      theta = Json.getDouble(rope, "rope_theta", theta);
    }
    int hidden = Json.getInt(m, "hidden_size", 4096);
    int heads = Json.getInt(m, "num_attention_heads", 32);
    Object headDim = m.get("head_dim");
    if (headDim == null && hidden % heads != 0) {
      throw new IllegalArgumentException("config.json: hidden_size " + hidden + " is not a multiple of num_attention_heads "
          + heads + " and no head_dim is given");
    }
    return new LlamaConfig(
        Json.getInt(m, "vocab_size", 32000),
        hidden,
        Json.getInt(m, "intermediate_size", 11008),
        Json.getInt(m, "num_hidden_layers", 32),
        heads,
        Json.getInt(m, "num_key_value_heads", heads),
        headDim == null ? hidden / heads : Json.getInt(m, "head_dim", 0),
        Json.getInt(m, "max_position_embeddings", 2048),
        Json.getDouble(m, "rms_norm_eps", 1e-6),
        theta,
        Json.getBoolean(m, "tie_word_embeddings", false),
        Json.getBoolean(m, "attention_bias", false),
        Json.getBoolean(m, "mlp_bias", false));
  }

  public static LlamaConfig fromJson(String text) {
    return fromJson(Json.parseObject(text));
  }
}
