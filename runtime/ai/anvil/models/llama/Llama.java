package ai.anvil.models.llama;

import ai.anvil.autograd.LlamaOps;
import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.Backend;
import ai.anvil.models.CausalLm;
import ai.anvil.models.DecodeCache;
import ai.anvil.models.KvCache;
import ai.anvil.nn.Embedding;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.nn.RmsNorm;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A Llama-family decoder (Hugging Face's LlamaForCausalLM): token embeddings, numHiddenLayers pre-norm
 * layers (RMSNorm, grouped-query self-attention with rotary position embeddings, RMSNorm, SiLU-gated
 * MLP, each added to the residual stream), a final RMSNorm and the language-model head.
 *
 * <p>Parameters carry Hugging Face names ({@code model.embed_tokens.weight},
 * {@code model.layers.0.self_attn.q_proj.weight}, ..., {@code model.norm.weight}, {@code lm_head.weight}
 * unless tied) in PyTorch's (out, in) layout, so {@link LlamaCheckpoint} reads and writes HF files with
 * no conversion beyond the vocabulary padding: the token table and head have
 * {@link LlamaConfig#paddedVocab()} rows, the padding rows zero and gradient-free.
 *
 * <p>Grouped-query attention repeats each key/value head for its query heads (LlamaOps.repeatKv) and
 * then runs ordinary multi-head causal attention; rotary embeddings are applied to q and k after their
 * projections. Two forward paths, as in Gpt: {@link #logits}/{@link #loss} for training and scoring
 * (recorded by a tape) and {@link #forward(Tensor, DecodeCache)} for decoding with a
 * {@link KvCache}, which here stores rotated keys and unrepeated (kvHeads) keys and values. Weights are
 * only read by either path: many threads may decode concurrently, each with its own cache.
 */
public final class Llama extends Module implements CausalLm {
  private final LlamaConfig config;
  private final Device device;
  private final Body body;
  private final Linear lmHead;
  private final AttentionSpec spec;

  /**
   * A freshly initialized model, Hugging Face's init: every Linear and the token table N(0, 0.02),
   * biases 0, RMSNorm weights 1.
   */
  public Llama(LlamaConfig config, long seed, Device device) {
    this.config = config;
    this.device = device;
    Init init = new Init(seed);
    this.body = child("model", new Body(config, init, device));
    if (config.tieWordEmbeddings()) {
      this.lmHead = null;
    } else {
      this.lmHead = child("lm_head", new Linear(config.hiddenSize(), config.paddedVocab(), false, 0.02, init, device));
      zeroPaddingRows(lmHead.weight(), config.vocabSize());
    }
    this.spec = AttentionSpec.of(config.numAttentionHeads(), config.headDim(), true);
  }

  public LlamaConfig config() {
    return config;
  }

  @Override
  public String modelType() {
    return "llama";
  }

  @Override
  public Device device() {
    return device;
  }

  @Override
  public int vocabSize() {
    return config.vocabSize();
  }

  @Override
  public int paddedVocab() {
    return config.paddedVocab();
  }

  @Override
  public int contextLength() {
    return config.maxPositionEmbeddings();
  }

  /** The token table (paddedVocab, C). */
  public Tensor tokenEmbedding() {
    return body.embedTokens.weight();
  }

  @Override
  public Tensor lmHeadWeight() {
    return lmHead == null ? body.embedTokens.weight() : lmHead.weight();
  }

  @Override
  public void save(Path dir) throws IOException {
    LlamaCheckpoint.save(this, dir);
  }

  // ---- training and scoring -----------------------------------------------------------------------

  /** ids I32 (B, T) -> logits (B, T, paddedVocab); columns past vocabSize are padding. */
  @Override
  public Tensor logits(Tensor ids) {
    return Ops.linear(hidden(ids), lmHeadWeight(), null);
  }

  /** ids (B, T) -> (B, T, C) after the final norm. */
  @Override
  public Tensor hidden(Tensor ids) {
    checkIds("logits", ids, 0);
    Tensor x = body.embedTokens.forward(ids);
    for (Layer layer : body.layers) x = layer.forward(x, this);
    return body.norm.forward(x);
  }

  @Override
  public Tensor loss(Tensor ids, Tensor targets, double normalizer) {
    if (!targets.shape().equals(ids.shape())) {
      throw new IllegalArgumentException("Llama.loss: targets " + targets.shape() + " differ from ids " + ids.shape());
    }
    return Ops.crossEntropy(logits(ids), targets, config.vocabSize(), IGNORE_INDEX, normalizer);
  }

  // ---- decoding with a KV cache -------------------------------------------------------------------

  @Override
  public KvCache newCache(int batch, int capacity) {
    if (capacity > config.maxPositionEmbeddings()) {
      throw new IllegalArgumentException("KV cache capacity " + capacity + " exceeds max_position_embeddings "
          + config.maxPositionEmbeddings());
    }
    return new KvCache(config.numHiddenLayers(), batch, capacity, config.kvWidth(), tokenEmbedding().dtype(),
        device);
  }

  @Override
  public Tensor forward(Tensor ids, DecodeCache cache) {
    try (Tape.NoGrad ignored = Tape.noGrad(); Scope scope = Scope.open()) {
      Tensor x = body.norm.forward(decode(ids, cache(cache)));
      return scope.keep(Ops.linear(x, lmHeadWeight(), null));
    }
  }

  @Override
  public Tensor forwardLast(Tensor ids, DecodeCache cache) {
    try (Tape.NoGrad ignored = Tape.noGrad(); Scope scope = Scope.open()) {
      Tensor x = decode(ids, cache(cache));
      long b = x.dim(0), t = x.dim(1), c = x.dim(2);
      Tensor last = x;
      if (t > 1) {
        last = Tensor.empty(x.dtype(), x.device(), b, 1, c);
        Backend be = Backend.of(device);
        for (long i = 0; i < b; i++) {
          be.copy(x.slice(i, i + 1).reshape(t, c).slice(t - 1, t), last.slice(i, i + 1).reshape(1, c));
        }
      }
      Tensor logits = Ops.linear(body.norm.forward(last), lmHeadWeight(), null);
      return scope.keep(logits.reshape(b, config.paddedVocab()));
    }
  }

  private KvCache cache(DecodeCache cache) {
    if (!(cache instanceof KvCache kv)) {
      throw new IllegalArgumentException("a Llama decodes with a KvCache from its newCache, got "
          + (cache == null ? "null" : cache.getClass().getSimpleName()));
    }
    kv.checkOpen();
    if (kv.layers() != config.numHiddenLayers() || kv.width() != config.kvWidth()) {
      throw new IllegalArgumentException("KV cache of " + kv.layers() + " layers x " + kv.width()
          + " does not belong to this model (" + config.numHiddenLayers() + " x " + config.kvWidth() + ")");
    }
    return kv;
  }

  /** Embeddings and layers over the cache: ids (B, T) -> residual stream (B, T, C); advances the cache. */
  private Tensor decode(Tensor ids, KvCache cache) {
    int start = cache.length();
    checkIds("forward", ids, start);
    long b = ids.dim(0), t = ids.dim(1);
    if (b != cache.batch()) throw new IllegalArgumentException("forward: ids " + ids.shape() + " for a cache of batch " + cache.batch());
    if (start + t > cache.capacity()) {
      throw new IllegalArgumentException("forward: " + t + " tokens at position " + start + " overflow the cache capacity "
          + cache.capacity());
    }
    for (int id : ids.toIntArray()) {
      if (id < 0 || id >= config.vocabSize()) {
        throw new IllegalArgumentException("forward: token id " + id + " outside the vocabulary [0, " + config.vocabSize() + ")");
      }
    }
    Tensor x = body.embedTokens.forward(ids);
    for (int l = 0; l < body.layers.length; l++) x = body.layers[l].forward(x, cache, l, this);
    cache.advance((int) t);
    return x;
  }

  // ---- helpers ------------------------------------------------------------------------------------

  private void checkIds(String op, Tensor ids, int start) {
    if (ids.rank() != 2 || ids.dtype() != DType.I32 || ids.dim(1) < 1) {
      throw new IllegalArgumentException(op + ": ids must be I32 (B, T) with T >= 1, got " + ids.shape() + " " + ids.dtype());
    }
    if (start + ids.dim(1) > config.maxPositionEmbeddings()) {
      throw new IllegalArgumentException(op + ": positions up to " + (start + ids.dim(1))
          + " exceed max_position_embeddings " + config.maxPositionEmbeddings());
    }
  }

  static void zeroPaddingRows(Tensor table, int vocab) {
    if (table.dim(0) == vocab) return;
    try (Tensor pad = table.slice(vocab, table.dim(0))) {
      pad.detachFromScope();
      Backend.of(table.device()).fill(pad, 0.0);
    }
  }

  // ---- modules ------------------------------------------------------------------------------------

  /** A plain container, for the "layers", "self_attn" and "mlp" levels of the names. */
  static final class Group extends Module {
    <M extends Module> M add(String name, M module) {
      return child(name, module);
    }
  }

  /** LlamaModel: "model.embed_tokens", "model.layers.N", "model.norm". */
  static final class Body extends Module {
    final Embedding embedTokens;
    final Layer[] layers;
    final RmsNorm norm;

    Body(LlamaConfig c, Init init, Device device) {
      embedTokens = child("embed_tokens", new Embedding(c.paddedVocab(), c.hiddenSize(), 0.02, init, device));
      zeroPaddingRows(embedTokens.weight(), c.vocabSize());
      Group group = child("layers", new Group());
      layers = new Layer[c.numHiddenLayers()];
      for (int i = 0; i < layers.length; i++) layers[i] = group.add(Integer.toString(i), new Layer(c, init, device));
      norm = child("norm", new RmsNorm(c.hiddenSize(), c.rmsNormEps(), device));
    }
  }

  /** One decoder layer: x + o_proj(attn(rope(q), rope(k), v)) of input_layernorm(x), then + mlp. */
  static final class Layer extends Module {
    private final LlamaConfig c;
    private final RmsNorm inputNorm;
    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final Linear oProj;
    private final RmsNorm postNorm;
    private final Linear gateProj;
    private final Linear upProj;
    private final Linear downProj;

    Layer(LlamaConfig c, Init init, Device device) {
      this.c = c;
      long w = c.hiddenSize();
      inputNorm = child("input_layernorm", new RmsNorm(w, c.rmsNormEps(), device));
      Group attn = child("self_attn", new Group());
      qProj = attn.add("q_proj", new Linear(w, c.qWidth(), c.attentionBias(), 0.02, init, device));
      kProj = attn.add("k_proj", new Linear(w, c.kvWidth(), c.attentionBias(), 0.02, init, device));
      vProj = attn.add("v_proj", new Linear(w, c.kvWidth(), c.attentionBias(), 0.02, init, device));
      oProj = attn.add("o_proj", new Linear(c.qWidth(), w, c.attentionBias(), 0.02, init, device));
      postNorm = child("post_attention_layernorm", new RmsNorm(w, c.rmsNormEps(), device));
      Group mlp = child("mlp", new Group());
      gateProj = mlp.add("gate_proj", new Linear(w, c.intermediateSize(), c.mlpBias(), 0.02, init, device));
      upProj = mlp.add("up_proj", new Linear(w, c.intermediateSize(), c.mlpBias(), 0.02, init, device));
      downProj = mlp.add("down_proj", new Linear(c.intermediateSize(), w, c.mlpBias(), 0.02, init, device));
    }

    /** Training/scoring path: x (B, T, C) -> (B, T, C), recorded when a tape is active. */
    Tensor forward(Tensor x, Llama model) {
      int heads = c.numAttentionHeads(), kvHeads = c.numKeyValueHeads(), d = c.headDim();
      Tensor h = inputNorm.forward(x);
      Tensor q = LlamaOps.rope(qProj.forward(h), heads, d, 0, c.ropeTheta());          // (B, T, H*D)
      Tensor k = LlamaOps.rope(kProj.forward(h), kvHeads, d, 0, c.ropeTheta());        // (B, T, Hkv*D)
      Tensor v = vProj.forward(h);                                                    // (B, T, Hkv*D)
      k = LlamaOps.repeatKv(k, kvHeads, c.groups(), d);                                // (B, T, H*D)
      v = LlamaOps.repeatKv(v, kvHeads, c.groups(), d);
      Tensor a = Ops.attention(model.spec, q, k, v, null);                            // (B, T, H*D)
      x = Ops.add(x, oProj.forward(a));
      return mlp(x);
    }

    /** x + down_proj(silu(gate_proj(n)) * up_proj(n)), n = post_attention_layernorm(x). */
    private Tensor mlp(Tensor x) {
      Tensor h = postNorm.forward(x);
      Tensor m = LlamaOps.swiglu(gateProj.forward(h), upProj.forward(h));              // (B, T, I)
      return Ops.add(x, downProj.forward(m));
    }

    /**
     * Cached path: x (B, T, C) at positions [p, p+T), p = cache.length(). Writes rotated keys and the
     * values of the new positions into cache rows [p, p+T) of every batch row, then attends over rows
     * [0, p+T), the kv heads repeated for their query heads.
     */
    Tensor forward(Tensor x, KvCache cache, int layer, Llama model) {
      int heads = c.numAttentionHeads(), kvHeads = c.numKeyValueHeads(), d = c.headDim();
      long b = x.dim(0), t = x.dim(1), kvw = c.kvWidth();
      long p = cache.length(), cap = cache.capacity();
      Backend be = Backend.of(x.device());
      Tensor h = inputNorm.forward(x);
      Tensor q = LlamaOps.rope(qProj.forward(h), heads, d, p, c.ropeTheta());          // (B, T, H*D)
      Tensor k = kProj.forward(h);                                                    // (B, T, Hkv*D)
      Tensor a = Tensor.empty(x.dtype(), x.device(), b, t, c.qWidth());
      Tensor keyRows = cache.keyRows(layer), valueRows = cache.valueRows(layer);
      for (long i = 0; i < b; i++) {
        Tensor hi = (b == 1 ? h : h.slice(i, i + 1)).reshape(t, c.hiddenSize());
        long base = i * cap;
        be.rope(b == 1 ? k : k.slice(i, i + 1), keyRows.slice(base + p, base + p + t).reshape(1, t, kvw), kvHeads, d, p,
            c.ropeTheta());
        be.matmul(hi, vProj.weight(), vProj.bias(), valueRows.slice(base + p, base + p + t), false, true, 1.0, false);
        Tensor keys = keyRows.slice(base, base + p + t).reshape(1, p + t, kvw);
        Tensor values = valueRows.slice(base, base + p + t).reshape(1, p + t, kvw);
        keys = LlamaOps.repeatKv(keys, kvHeads, c.groups(), d);
        values = LlamaOps.repeatKv(values, kvHeads, c.groups(), d);
        be.attention(model.spec, b == 1 ? q : q.slice(i, i + 1), keys, values, null, b == 1 ? a : a.slice(i, i + 1), null);
      }
      x = Ops.add(x, oProj.forward(a));
      return mlp(x);
    }
  }
}
