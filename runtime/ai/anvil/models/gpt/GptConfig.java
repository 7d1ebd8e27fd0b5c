package ai.anvil.models.gpt;

import ai.anvil.io.Json;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The shape of a GPT-2-style model. Read from and written to Hugging Face's GPT-2 {@code config.json}
 * field names ({@code n_layer, n_head, n_embd, n_positions, vocab_size, layer_norm_epsilon, ...}) so a
 * checkpoint folder loads in transformers as-is.
 *
 * <p>{@link #vocabSize} is the real vocabulary (what files store and what the loss and sampling see);
 * {@link #paddedVocab} is the row count of the embedding table inside Anvil, rounded up to a multiple
 * of 64 for aligned kernels (50257 -> 50304). Padding rows are zero and never sampled.
 *
 * @param nLayer transformer blocks
 * @param nHead attention heads per block (divides nEmbd)
 * @param nEmbd residual width C
 * @param blockSize longest context (rows of the position table)
 * @param vocabSize real vocabulary size
 * @param bias whether Linear and LayerNorm layers carry a bias (GPT-2: true)
 * @param dropout residual and embedding dropout probability while training (0 disables)
 * @param tiedEmbeddings whether lm_head shares the token embedding table (GPT-2: true)
 * @param layerNormEps LayerNorm epsilon (GPT-2: 1e-5)
 */
public record GptConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, boolean bias, double dropout,
                        boolean tiedEmbeddings, double layerNormEps) {
  /** The multiple the vocabulary is padded to inside. */
  public static final int VOCAB_MULTIPLE = 64;

  public GptConfig {
    if (nLayer < 1 || nHead < 1 || nEmbd < 1 || blockSize < 1 || vocabSize < 1) {
      throw new IllegalArgumentException("GptConfig: n_layer, n_head, n_embd, block_size and vocab_size must be >= 1, got "
          + nLayer + ", " + nHead + ", " + nEmbd + ", " + blockSize + ", " + vocabSize);
    }
    if (nEmbd % nHead != 0) {
      throw new IllegalArgumentException("GptConfig: n_embd " + nEmbd + " is not a multiple of n_head " + nHead);
    }
    if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("GptConfig: dropout must be in [0, 1), got " + dropout);
    if (!(layerNormEps > 0)) throw new IllegalArgumentException("GptConfig: layer_norm_epsilon must be > 0, got " + layerNormEps);
  }

  /** GPT-2 small (124M): 12 layers, 12 heads, 768 wide, context 1024, vocabulary 50257. */
  public static GptConfig gpt2() {
    return of(12, 12, 768, 1024, 50257);
  }

  /** A GPT-2-style config with bias, tied embeddings, no dropout and eps 1e-5. */
  public static GptConfig of(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize) {
    return new GptConfig(nLayer, nHead, nEmbd, blockSize, vocabSize, true, 0.0, true, 1e-5);
  }

  public GptConfig withDropout(double p) {
    return new GptConfig(nLayer, nHead, nEmbd, blockSize, vocabSize, bias, p, tiedEmbeddings, layerNormEps);
  }

  public GptConfig withBias(boolean on) {
    return new GptConfig(nLayer, nHead, nEmbd, blockSize, vocabSize, on, dropout, tiedEmbeddings, layerNormEps);
  }

  public GptConfig withTiedEmbeddings(boolean on) {
    return new GptConfig(nLayer, nHead, nEmbd, blockSize, vocabSize, bias, dropout, on, layerNormEps);
  }

  /** Rows of the token table inside Anvil: vocabSize rounded up to a multiple of 64. */
  public int paddedVocab() {
    return (vocabSize + VOCAB_MULTIPLE - 1) / VOCAB_MULTIPLE * VOCAB_MULTIPLE;
  }

  public int headDim() {
    return nEmbd / nHead;
  }

  /**
   * Parameter count with the real (unpadded) vocabulary, as Hugging Face and nanoGPT report it; GPT-2
   * small gives 124,439,808. Computed, nothing allocated.
   */
  public long parameterCount() {
    return parameterCount(vocabSize);
  }

  /** Parameter count with a token table of vocabRows rows (paddedVocab() for what Anvil allocates). */
  public long parameterCount(long vocabRows) {
    long c = nEmbd, b = bias ? 1 : 0;
    long ln = c + b * c;
    long block = ln + (c * 3 * c + b * 3 * c) + (c * c + b * c) + ln + (c * 4 * c + b * 4 * c) + (4 * c * c + b * c);
    long embeddings = vocabRows * c + (long) blockSize * c;
    long head = tiedEmbeddings ? 0 : vocabRows * c;
    return embeddings + nLayer * block + ln + head;
  }

  // ---- config.json ------------------------------------------------------------------------------

  /** The Hugging Face GPT-2 config.json fields (plus Anvil's own bias flag). */
  public Map<String, Object> toJson() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("architectures", java.util.List.of("GPT2LMHeadModel"));
    m.put("model_type", "gpt2");
    m.put("n_layer", nLayer);
    m.put("n_head", nHead);
    m.put("n_embd", nEmbd);
    m.put("n_positions", blockSize);
    m.put("n_ctx", blockSize);
    m.put("vocab_size", vocabSize);
    m.put("n_inner", null);
    m.put("activation_function", "gelu_new");
    m.put("resid_pdrop", dropout);
    m.put("embd_pdrop", dropout);
    m.put("attn_pdrop", 0.0);
    m.put("layer_norm_epsilon", layerNormEps);
    m.put("initializer_range", 0.02);
    m.put("tie_word_embeddings", tiedEmbeddings);
    m.put("bias", bias);
    return m;
  }

  public String toJsonString() {
    return Json.writePretty(toJson());
  }

  /**
   * Reads HF GPT-2 config fields. Missing fields take GPT-2's defaults; a config that asks for what this
   * model does not implement (another activation, an inner width other than 4x) is refused.
   */
  public static GptConfig fromJson(Map<String, Object> m) {
    String type = Json.getString(m, "model_type", "gpt2");
    if (!type.equals("gpt2")) throw new IllegalArgumentException("config.json: model_type " + type + " is not gpt2");
    String act = Json.getString(m, "activation_function", "gelu_new");
    if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
      throw new IllegalArgumentException("config.json: activation_function " + act + " is not supported (tanh GELU only)");
    }
    int nEmbd = Json.getInt(m, "n_embd", 768);
    Object inner = m.get("n_inner");
    if (inner != null && ((Number) inner).longValue() != 4L * nEmbd) {
      throw new IllegalArgumentException("config.json: n_inner " + inner + " is not 4 * n_embd");
    }
    double dropout = Json.getDouble(m, "resid_pdrop", 0.0);
    return new GptConfig(
        Json.getInt(m, "n_layer", 12),
        Json.getInt(m, "n_head", 12),
        nEmbd,
        Json.getInt(m, "n_positions", Json.getInt(m, "n_ctx", 1024)),
        Json.getInt(m, "vocab_size", 50257),
        Json.getBoolean(m, "bias", true),
        dropout,
        Json.getBoolean(m, "tie_word_embeddings", true),
        Json.getDouble(m, "layer_norm_epsilon", 1e-5));
  }

  public static GptConfig fromJson(String text) {
    return fromJson(Json.parseObject(text));
  }
}
