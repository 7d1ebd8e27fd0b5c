package ai.anvil.models.bert;

import ai.anvil.io.Json;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The shape of a BERT encoder, read from and written to Hugging Face's BERT {@code config.json} field names
 * ({@code vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
 * max_position_embeddings, type_vocab_size, layer_norm_eps, hidden_act, hidden_dropout_prob, ...}), so a
 * checkpoint folder loads in transformers as-is.
 *
 * <p>Attention-probability dropout ({@code attention_probs_dropout_prob}) is read and written back but
 * never applied: Anvil's fused attention has no dropout on the probabilities. Hidden dropout (embeddings,
 * both residual branches, as HF places it) is applied while training.
 *
 * @param vocabSize rows of the word-embedding table
 * @param hiddenSize residual width H
 * @param numHiddenLayers encoder layers
 * @param numAttentionHeads heads per layer (divides H)
 * @param intermediateSize width of the feed-forward layer
 * @param maxPositionEmbeddings longest input (rows of the position table)
 * @param typeVocabSize token-type (segment) count, 2 for BERT
 * @param layerNormEps LayerNorm epsilon (1e-12 for BERT)
 * @param hiddenAct "gelu" (exact erf form, BERT) or "gelu_new" / "gelu_pytorch_tanh" (tanh form)
 * @param hiddenDropout dropout on embeddings and residual branches while training
 * @param attentionDropout stored only; see above
 * @param initializerRange std of the normal init of weights
 * @param padTokenId the padding id (its word-embedding row starts at zero, as in HF)
 */
public record BertConfig(int vocabSize, int hiddenSize, int numHiddenLayers, int numAttentionHeads, int intermediateSize,
                         int maxPositionEmbeddings, int typeVocabSize, double layerNormEps, String hiddenAct,
                         double hiddenDropout, double attentionDropout, double initializerRange, int padTokenId) {
  public BertConfig {
    if (vocabSize < 1 || hiddenSize < 1 || numHiddenLayers < 1 || numAttentionHeads < 1 || intermediateSize < 1
        || maxPositionEmbeddings < 1 || typeVocabSize < 1) {
      throw new IllegalArgumentException("BertConfig: sizes must be >= 1, got vocab_size " + vocabSize + ", hidden_size "
          + hiddenSize + ", num_hidden_layers " + numHiddenLayers + ", num_attention_heads " + numAttentionHeads
          + ", intermediate_size " + intermediateSize + ", max_position_embeddings " + maxPositionEmbeddings
          + ", type_vocab_size " + typeVocabSize);
    }
    if (hiddenSize % numAttentionHeads != 0) {
      throw new IllegalArgumentException("BertConfig: hidden_size " + hiddenSize + " is not a multiple of num_attention_heads "
          + numAttentionHeads);
    }
    if (!(layerNormEps > 0)) throw new IllegalArgumentException("BertConfig: layer_norm_eps must be > 0, got " + layerNormEps);
    if (!hiddenAct.equals("gelu") && !hiddenAct.equals("gelu_new") && !hiddenAct.equals("gelu_pytorch_tanh")) {
      throw new IllegalArgumentException("BertConfig: hidden_act " + hiddenAct + " is not supported (gelu, gelu_new, gelu_pytorch_tanh)");
    }
    for (double p : new double[] {hiddenDropout, attentionDropout}) {
      if (!(p >= 0 && p < 1)) throw new IllegalArgumentException("BertConfig: dropout must be in [0, 1), got " + p);
    }
    if (padTokenId < 0 || padTokenId >= vocabSize) {
      throw new IllegalArgumentException("BertConfig: pad_token_id " + padTokenId + " outside [0, " + vocabSize + ")");
    }
  }

  /** BERT-base uncased: 12 layers, 12 heads, 768 wide, feed-forward 3072, vocabulary 30522. */
  public static BertConfig base() {
    return of(30522, 768, 12, 12, 3072);
  }

  /** A BERT config with 512 positions, 2 token types, eps 1e-12, erf GELU, dropout 0.1, init std 0.02. */
  public static BertConfig of(int vocabSize, int hiddenSize, int layers, int heads, int intermediateSize) {
    return new BertConfig(vocabSize, hiddenSize, layers, heads, intermediateSize, 512, 2, 1e-12, "gelu", 0.1, 0.1, 0.02, 0);
  }

  public BertConfig withDropout(double hidden, double attention) {
    return new BertConfig(vocabSize, hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, maxPositionEmbeddings,
        typeVocabSize, layerNormEps, hiddenAct, hidden, attention, initializerRange, padTokenId);
  }

  public BertConfig withMaxPositions(int positions) {
    return new BertConfig(vocabSize, hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, positions,
        typeVocabSize, layerNormEps, hiddenAct, hiddenDropout, attentionDropout, initializerRange, padTokenId);
  }

  public int headDim() {
    return hiddenSize / numAttentionHeads;
  }

  /** Whether the GELU is the tanh approximation rather than the exact erf form. */
  public boolean tanhGelu() {
    return !hiddenAct.equals("gelu");
  }

  /**
   * Parameter count as HF reports it (BERT-base with pooler: 109,482,240; all-MiniLM-L6-v2: 22,713,216).
   * Computed, nothing allocated.
   */
  public long parameterCount(boolean withPooler) {
    long h = hiddenSize, i = intermediateSize;
    long embeddings = ((long) vocabSize + maxPositionEmbeddings + typeVocabSize) * h + 2 * h;
    long layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h;
    return embeddings + numHiddenLayers * layer + (withPooler ? h * h + h : 0);
  }

  /** BertForMaskedLM's count: the encoder without pooler, the transform and the decoder bias. */
  public long maskedLmParameterCount() {
    long h = hiddenSize;
    return parameterCount(false) + h * h + h + 2 * h + vocabSize;
  }

  // ---- config.json ------------------------------------------------------------------------------

  /** HF BERT config.json fields; architectures names the class the weights belong to. */
  public Map<String, Object> toJson(String architecture) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("architectures", List.of(architecture));
    m.put("model_type", "bert");
    m.put("vocab_size", vocabSize);
    m.put("hidden_size", hiddenSize);
    m.put("num_hidden_layers", numHiddenLayers);
    m.put("num_attention_heads", numAttentionHeads);
    m.put("intermediate_size", intermediateSize);
    m.put("hidden_act", hiddenAct);
    m.put("hidden_dropout_prob", hiddenDropout);
    m.put("attention_probs_dropout_prob", attentionDropout);
    m.put("max_position_embeddings", maxPositionEmbeddings);
    m.put("type_vocab_size", typeVocabSize);
    m.put("initializer_range", initializerRange);
    m.put("layer_norm_eps", layerNormEps);
    m.put("pad_token_id", padTokenId);
    m.put("position_embedding_type", "absolute");
    m.put("tie_word_embeddings", true);
    return m;
  }

  public String toJsonString(String architecture) {
    return Json.writePretty(toJson(architecture));
  }

  /**
   * Reads HF BERT config fields; missing ones take BERT-base's defaults. A config asking for what this
   * model does not implement (relative positions, a decoder, untied MLM weights) is refused.
   */
  public static BertConfig fromJson(Map<String, Object> m) {
    String type = Json.getString(m, "model_type", "bert");
    if (!type.equals("bert")) throw new IllegalArgumentException("config.json: model_type " + type + " is not bert");
    String positions = Json.getString(m, "position_embedding_type", "absolute");
    if (!positions.equals("absolute")) {
      throw new IllegalArgumentException("config.json: position_embedding_type " + positions + " is not supported (absolute only)");
    }
    if (Json.getBoolean(m, "is_decoder", false) || Json.getBoolean(m, "add_cross_attention", false)) {
      throw new IllegalArgumentException("config.json: decoder BERT (is_decoder, add_cross_attention) is not supported");
    }
    if (!Json.getBoolean(m, "tie_word_embeddings", true)) {
      throw new IllegalArgumentException("config.json: untied word embeddings are not supported");
    }
    Object pad = m.get("pad_token_id");
    return new BertConfig(
        Json.getInt(m, "vocab_size", 30522),
        Json.getInt(m, "hidden_size", 768),
        Json.getInt(m, "num_hidden_layers", 12),
        Json.getInt(m, "num_attention_heads", 12),
        Json.getInt(m, "intermediate_size", 3072),
        Json.getInt(m, "max_position_embeddings", 512),
        Json.getInt(m, "type_vocab_size", 2),
        Json.getDouble(m, "layer_norm_eps", 1e-12),
        Json.getString(m, "hidden_act", "gelu"),
        Json.getDouble(m, "hidden_dropout_prob", 0.1),
        Json.getDouble(m, "attention_probs_dropout_prob", 0.1),
        Json.getDouble(m, "initializer_range", 0.02),
        pad == null ? 0 : Json.getInt(m, "pad_token_id", 0));
  }

  public static BertConfig fromJson(String text) {
    return fromJson(Json.parseObject(text));
  }
}
