package ai.anvil.models.t5;

import ai.anvil.io.Json;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The shape of a T5-style encoder-decoder ({@link T5}). Written to and read from {@code config.json} with
 * Hugging Face T5's field names where the meaning is the same ({@code d_model, d_ff, num_layers,
 * num_decoder_layers, num_heads, dropout_rate, layer_norm_epsilon, vocab_size, pad_token_id,
 * eos_token_id, decoder_start_token_id, tie_word_embeddings}); {@code n_positions} is Anvil's own: the
 * rows of the learned absolute position tables (T5's relative bias is not used, see {@link T5}).
 *
 * <p>{@link #vocabSize} is the real vocabulary (tokenizer ids, then pad, eos and the sentinels, see
 * {@code data.masking.SpanCorruption}); the shared token table has {@link #paddedVocab()} rows inside.
 *
 * @param vocabSize real vocabulary size, special tokens included
 * @param dModel residual width C
 * @param dFf width of the feed-forward layer
 * @param numHeads attention heads (divides dModel)
 * @param numLayers encoder blocks
 * @param numDecoderLayers decoder blocks
 * @param nPositions longest encoder input and longest decoder input (rows of each position table)
 * @param dropout residual and embedding dropout while training (0 disables)
 * @param layerNormEps RMSNorm epsilon (T5: 1e-6)
 * @param tiedEmbeddings whether the LM head is the shared token table
 * @param padId padding id (also the decoder start token, as in T5)
 * @param eosId end-of-sequence id
 */
public record T5Config(int vocabSize, int dModel, int dFf, int numHeads, int numLayers, int numDecoderLayers,
                       int nPositions, double dropout, double layerNormEps, boolean tiedEmbeddings, int padId,
                       int eosId) {
  /** The multiple the vocabulary is padded to inside. */
  public static final int VOCAB_MULTIPLE = 64;

  public T5Config {
    if (vocabSize < 2 || dModel < 1 || dFf < 1 || numHeads < 1 || numLayers < 1 || numDecoderLayers < 1 || nPositions < 2) {
      throw new IllegalArgumentException("T5Config: vocab_size >= 2, d_model, d_ff, num_heads, num_layers, num_decoder_layers"
          + " >= 1 and n_positions >= 2 required, got " + vocabSize + ", " + dModel + ", " + dFf + ", " + numHeads + ", "
          + numLayers + ", " + numDecoderLayers + ", " + nPositions);
    }
    if (dModel % numHeads != 0) {
      throw new IllegalArgumentException("T5Config: d_model " + dModel + " is not a multiple of num_heads " + numHeads);
    }
    if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("T5Config: dropout_rate must be in [0, 1), got " + dropout);
    if (!(layerNormEps > 0)) throw new IllegalArgumentException("T5Config: layer_norm_epsilon must be > 0, got " + layerNormEps);
    if (padId < 0 || padId >= vocabSize || eosId < 0 || eosId >= vocabSize || padId == eosId) {
      throw new IllegalArgumentException("T5Config: pad_token_id " + padId + " and eos_token_id " + eosId
          + " must be distinct ids in [0, " + vocabSize + ")");
    }
  }

  /** Equal encoder and decoder depth, d_ff = 4 d_model, no dropout, eps 1e-6, tied head. */
  public static T5Config of(int vocabSize, int dModel, int numHeads, int layers, int nPositions, int padId, int eosId) {
    return new T5Config(vocabSize, dModel, 4 * dModel, numHeads, layers, layers, nPositions, 0.0, 1e-6, true, padId, eosId);
  }

  public T5Config withDropout(double p) {
    return new T5Config(vocabSize, dModel, dFf, numHeads, numLayers, numDecoderLayers, nPositions, p, layerNormEps,
        tiedEmbeddings, padId, eosId);
  }

  public T5Config withTiedEmbeddings(boolean on) {
    return new T5Config(vocabSize, dModel, dFf, numHeads, numLayers, numDecoderLayers, nPositions, dropout, layerNormEps,
        on, padId, eosId);
  }

  /** The decoder's first input: the pad id, as in T5. */
  public int decoderStartId() {
    return padId;
  }

  /** Rows of the token table inside Anvil: vocabSize rounded up to a multiple of 64. */
  public int paddedVocab() {
    return (vocabSize + VOCAB_MULTIPLE - 1) / VOCAB_MULTIPLE * VOCAB_MULTIPLE;
  }

  public int headDim() {
    return dModel / numHeads;
  }

  /** Parameters with the real vocabulary (nothing allocated). */
  public long parameterCount() {
    long c = dModel;
    long attn = 4 * c * c;
    long mlp = 2 * c * dFf;
    long encoder = numLayers * (attn + mlp + 2 * c) + c + (long) nPositions * c;
    long decoder = numDecoderLayers * (2 * attn + mlp + 3 * c) + c + (long) nPositions * c;
    long head = tiedEmbeddings ? 0 : (long) vocabSize * c;
    return (long) vocabSize * c + encoder + decoder + head;
  }

  // ---- config.json --------------------------------------------------------------------------------

  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("model_type", "anvil-t5");
    m.put("architectures", java.util.List.of("AnvilT5ForConditionalGeneration"));
    m.put("vocab_size", vocabSize);
    m.put("d_model", dModel);
    m.put("d_kv", headDim());
    m.put("d_ff", dFf);
    m.put("num_heads", numHeads);
    m.put("num_layers", numLayers);
    m.put("num_decoder_layers", numDecoderLayers);
    m.put("n_positions", nPositions);
    m.put("position_embedding_type", "absolute");
    m.put("feed_forward_proj", "gelu_new");
    m.put("norm", "rms_pre");
    m.put("dropout_rate", dropout);
    m.put("layer_norm_epsilon", layerNormEps);
    m.put("tie_word_embeddings", tiedEmbeddings);
    m.put("pad_token_id", padId);
    m.put("eos_token_id", eosId);
    m.put("decoder_start_token_id", padId);
    return m;
  }

  public String toJsonString() {
    return Json.writePretty(toMap());
  }

  /** Reads a config written by {@link #toJsonString()}; a missing or mistyped key is an error naming it. */
  public static T5Config fromJson(String json) {
    Map<String, Object> m = Json.parseObject(json);
    Object type = m.get("model_type");
    if (!"anvil-t5".equals(type)) {
      throw new IllegalArgumentException("config.json: model_type must be anvil-t5 (learned absolute positions), got " + type);
    }
    return new T5Config(intKey(m, "vocab_size"), intKey(m, "d_model"), intKey(m, "d_ff"), intKey(m, "num_heads"),
        intKey(m, "num_layers"), intKey(m, "num_decoder_layers"), intKey(m, "n_positions"), numKey(m, "dropout_rate"),
        numKey(m, "layer_norm_epsilon"), boolKey(m, "tie_word_embeddings"), intKey(m, "pad_token_id"),
        intKey(m, "eos_token_id"));
  }

  private static Object key(Map<String, Object> m, String k) {
    Object v = m.get(k);
    if (v == null) throw new IllegalArgumentException("config.json: missing " + k);
    return v;
  }

  private static int intKey(Map<String, Object> m, String k) {
    if (key(m, k) instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) return n.intValue();
    throw new IllegalArgumentException("config.json: " + k + " must be an integer, got " + m.get(k));
  }

  private static double numKey(Map<String, Object> m, String k) {
    if (key(m, k) instanceof Number n) return n.doubleValue();
    throw new IllegalArgumentException("config.json: " + k + " must be a number, got " + m.get(k));
  }

  private static boolean boolKey(Map<String, Object> m, String k) {
    if (key(m, k) instanceof Boolean b) return b;
    throw new IllegalArgumentException("config.json: " + k + " must be true or false, got " + m.get(k));
  }
}
