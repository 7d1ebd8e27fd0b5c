package ai.anvil.models.t5;

import ai.anvil.autograd.Dropout;
import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.Backend;
import ai.anvil.models.SequenceEncoder;
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
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A T5-style encoder-decoder. The encoder: token embedding (the shared table) plus a learned absolute
 * position embedding, numLayers pre-norm blocks (bidirectional self-attention with a key-padding mask,
 * then a GELU feed-forward), a final RMSNorm. The decoder: the same embeddings, numDecoderLayers pre-norm
 * blocks (causal self-attention, cross-attention over the encoder output with the source's key-padding
 * mask, feed-forward), a final RMSNorm, and the LM head (the shared table when tied, else lm_head).
 *
 * <p>Choices, and why: <b>positions</b> are learned absolute tables per stack ({@code embed_positions}),
 * not T5's bucketed relative bias, because the fused attention op (CPU and CUDA, forward and backward)
 * takes no additive bias; absolute positions reuse the tested embedding op and limit inputs to
 * nPositions. <b>Norms</b> are T5's RMSNorm (no bias, no mean subtraction), applied before each sublayer
 * (pre-norm, as T5). Linear layers carry no bias, as T5. The feed-forward is wo(gelu_tanh(wi(x))). The
 * tied head is not rescaled by d_model^-1/2 (T5 does that; GPT-2 does not, and our init is GPT-2's).
 *
 * <p>Parameter names follow HF T5 where the module exists there: {@code shared.weight},
 * {@code encoder.block.0.layer.0.SelfAttention.q.weight} (q, k, v, o), {@code encoder.block.0.layer.0.layer_norm.weight},
 * {@code encoder.block.0.layer.1.DenseReluDense.wi.weight} (wi, wo), {@code decoder.block.0.layer.1.EncDecAttention.q.weight},
 * {@code decoder.block.0.layer.2.layer_norm.weight}, {@code encoder.final_layer_norm.weight},
 * {@code lm_head.weight} (untied only); and Anvil's own {@code encoder.embed_positions.weight},
 * {@code decoder.embed_positions.weight} (nPositions, C). So LoRA patterns written for T5 (q, v) apply.
 *
 * <p>Two decoder paths: {@link #logits} / {@link #decoderHidden} for training (teacher forcing, recorded
 * by a tape), and {@link #decode} over a {@link T5DecodeCache} for generation (self-attention keys and
 * values appended per step, cross-attention keys and values computed once per source). Both give the same
 * logits for the same prefix.
 */
public final class T5 extends Module implements SequenceEncoder {
  /** Targets with this value count for nothing in {@link #loss}. */
  public static final int IGNORE_INDEX = -1;

  private final T5Config config;
  private final Device device;
  private final Embedding shared;
  private final Stack encoder;
  private final Stack decoder;
  private final Linear lmHead;
  private final AttentionSpec bidirectional;
  private final AttentionSpec causal;
  private volatile long dropoutSeed;
  private final AtomicLong dropoutDraws = new AtomicLong();

  /** A freshly initialized model: weights N(0, 0.02), output projections N(0, 0.02 / sqrt(2 layers)), norms 1. */
  public T5(T5Config config, long seed, Device device) {
    this.config = config;
    this.device = device;
    Init init = new Init(seed);
    this.dropoutSeed = init.nextSeed();
    this.shared = child("shared", new Embedding(config.paddedVocab(), config.dModel(), 0.02, init, device));
    zeroPaddingRows(shared.weight(), config.vocabSize());
    this.encoder = child("encoder", new Stack(config, false, init, device));
    this.decoder = child("decoder", new Stack(config, true, init, device));
    if (config.tiedEmbeddings()) {
      this.lmHead = null;
    } else {
      this.lmHead = child("lm_head", new Linear(config.dModel(), config.paddedVocab(), false, 0.02, init, device));
      zeroPaddingRows(lmHead.weight(), config.vocabSize());
    }
    this.bidirectional = AttentionSpec.of(config.numHeads(), config.headDim(), false);
    this.causal = AttentionSpec.of(config.numHeads(), config.headDim(), true);
  }

  public T5Config config() {
    return config;
  }

  @Override
  public Device device() {
    return device;
  }

  // ---- SequenceEncoder: the encoder as a body for task heads --------------------------------------

  @Override
  public int hiddenSize() {
    return config.dModel();
  }

  @Override
  public int vocabSize() {
    return config.vocabSize();
  }

  @Override
  public int maxLength() {
    return config.nPositions();
  }

  @Override
  public boolean causal() {
    return false;
  }

  @Override
  public Tensor tokenEmbeddings() {
    return shared.weight();
  }

  /**
   * The encoder body's modules under HF T5EncoderModel's names: {@code shared} and {@code encoder} (the
   * decoder and lm_head are not part of the body).
   */
  @Override
  public Map<String, Module> taskModules() {
    Map<String, Module> m = new LinkedHashMap<>();
    m.put("shared", shared);
    m.put("encoder", encoder);
    return m;
  }

  @Override
  public String modelType() {
    return "anvil-t5";
  }

  @Override
  public double classifierDropout() {
    return config.dropout();
  }

  /** The shared token table (paddedVocab, C). */
  public Tensor sharedEmbedding() {
    return shared.weight();
  }

  /** The LM head weight (paddedVocab, C): the shared table when tied. */
  public Tensor lmHeadWeight() {
    return lmHead == null ? shared.weight() : lmHead.weight();
  }

  /** Writes config.json and model.safetensors ({@link T5Checkpoint}): the whole model, decoder included. */
  @Override
  public void save(Path dir) throws IOException {
    T5Checkpoint.save(this, dir);
  }

  // ---- training and scoring -----------------------------------------------------------------------

  /**
   * The encoder: ids I32 (B, S), keyMask I32 (B, S) (1 real, 0 padding) or null -> (B, S, C) after the
   * final norm. Padding rows of the output are defined but meaningless.
   */
  @Override
  public Tensor encode(Tensor ids, Tensor keyMask) {
    checkIds("encode", ids, 0);
    checkMask(ids, keyMask);
    Tensor x = embed(ids, encoder.positions, 0);
    for (Block b : encoder.blocks) x = b.forward(x, null, keyMask, this);
    return encoder.finalNorm.forward(x);
  }

  /**
   * The decoder with teacher forcing: decoderIds I32 (B, T), encoded (B, S, C), keyMask (B, S) or null
   * -> (B, T, C) after the final norm.
   */
  public Tensor decoderHidden(Tensor decoderIds, Tensor encoded, Tensor keyMask) {
    checkIds("decode", decoderIds, 0);
    if (encoded.rank() != 3 || encoded.dim(0) != decoderIds.dim(0) || encoded.dim(2) != config.dModel()) {
      throw new IllegalArgumentException("decode: encoder output " + encoded.shape() + " does not fit decoder ids "
          + decoderIds.shape() + " and d_model " + config.dModel());
    }
    Tensor x = embed(decoderIds, decoder.positions, 0);
    for (Block b : decoder.blocks) x = b.forward(x, encoded, keyMask, this);
    return decoder.finalNorm.forward(x);
  }

  /** inputs (B, S), keyMask (B, S) or null, decoderInputs (B, T) -> logits (B, T, paddedVocab). */
  public Tensor logits(Tensor inputs, Tensor keyMask, Tensor decoderInputs) {
    Tensor h = decoderHidden(decoderInputs, encode(inputs, keyMask), keyMask);
    return Ops.linear(h, lmHeadWeight(), null);
  }

  /**
   * Cross-entropy of the decoder's predictions, targets I32 (B, T) (IGNORE_INDEX counts for nothing),
   * summed and divided by normalizer (the scored tokens of the accumulation window). One element.
   */
  public Tensor loss(Tensor inputs, Tensor keyMask, Tensor decoderInputs, Tensor targets, double normalizer) {
    if (!targets.shape().equals(decoderInputs.shape())) {
      throw new IllegalArgumentException("T5.loss: targets " + targets.shape() + " differ from decoder inputs "
          + decoderInputs.shape());
    }
    return Ops.crossEntropy(logits(inputs, keyMask, decoderInputs), targets, config.vocabSize(), IGNORE_INDEX, normalizer);
  }

  // ---- cached decoding ----------------------------------------------------------------------------

  /**
   * Encodes a source batch (ids (B, S), keyMask or null) and returns a cache for decoding up to capacity
   * target positions: the cross-attention keys and values of every layer are computed here, once.
   * Inference only; the caller closes the cache.
   */
  public T5DecodeCache newCache(Tensor ids, Tensor keyMask, int capacity) {
    if (capacity < 1 || capacity > config.nPositions()) {
      throw new IllegalArgumentException("T5 cache capacity " + capacity + " must be in [1, " + config.nPositions() + "]");
    }
    try (Tape.NoGrad ignored = Tape.noGrad(); Scope scope = Scope.open()) {
      Tensor encoded = encode(ids, keyMask);
      int b = (int) ids.dim(0);
      T5DecodeCache cache = new T5DecodeCache(config.numDecoderLayers(), b, capacity, config.dModel(),
          encoded.dtype(), device, keyMask);
      try {
        for (int l = 0; l < decoder.blocks.length; l++) {
          Attention cross = decoder.blocks[l].cross;
          cache.setCross(l, cross.k.forward(encoded), cross.v.forward(encoded));
        }
      } catch (RuntimeException e) {
        cache.close();
        throw e;
      }
      return cache;
    }
  }

  /**
   * Runs decoder ids (B, T) at positions [cache.length(), cache.length() + T), appends their self-attention
   * keys and values to the cache and returns logits (B, T, paddedVocab), in the caller's Scope.
   * Inference only.
   */
  public Tensor decode(Tensor ids, T5DecodeCache cache) {
    cache.checkOpen();
    if (cache.layers() != config.numDecoderLayers() || cache.width() != config.dModel()) {
      throw new IllegalArgumentException("T5DecodeCache of " + cache.layers() + " layers x " + cache.width()
          + " does not belong to this model");
    }
    int start = cache.length();
    checkIds("decode", ids, start);
    if (ids.dim(0) != cache.batch()) {
      throw new IllegalArgumentException("decode: ids " + ids.shape() + " for a cache of batch " + cache.batch());
    }
    if (start + ids.dim(1) > cache.capacity()) {
      throw new IllegalArgumentException("decode: " + ids.dim(1) + " tokens at position " + start
          + " overflow the cache capacity " + cache.capacity());
    }
    try (Tape.NoGrad ignored = Tape.noGrad(); Scope scope = Scope.open()) {
      Tensor x = embed(ids, decoder.positions, start);
      for (int l = 0; l < decoder.blocks.length; l++) x = decoder.blocks[l].forwardCached(x, cache, l, this);
      cache.advance((int) ids.dim(1));
      return scope.keep(Ops.linear(decoder.finalNorm.forward(x), lmHeadWeight(), null));
    }
  }

  // ---- helpers ------------------------------------------------------------------------------------

  /** Token plus position embedding of ids (B, T) at positions [start, start + T), then dropout. */
  private Tensor embed(Tensor ids, Embedding positions, int start) {
    long b = ids.dim(0), t = ids.dim(1);
    int[] pos = new int[Math.toIntExact(b * t)];
    for (int i = 0; i < pos.length; i++) pos[i] = start + (int) (i % t);
    Tensor x = Ops.add(Ops.embedding(ids, shared.weight()), Ops.embedding(Tensor.ofInts(pos, device, b, t), positions.weight()));
    return dropout(x);
  }

  private void checkIds(String op, Tensor ids, int start) {
    if (ids.rank() != 2 || ids.dtype() != DType.I32 || ids.dim(1) < 1) {
      throw new IllegalArgumentException(op + ": ids must be I32 (B, T) with T >= 1, got " + ids.shape() + " " + ids.dtype());
    }
    if (start + ids.dim(1) > config.nPositions()) {
      throw new IllegalArgumentException(op + ": positions up to " + (start + ids.dim(1)) + " exceed n_positions "
          + config.nPositions());
    }
    for (int id : ids.toIntArray()) {
      if (id < 0 || id >= config.vocabSize()) {
        throw new IllegalArgumentException(op + ": token id " + id + " outside the vocabulary [0, " + config.vocabSize() + ")");
      }
    }
  }

  private static void checkMask(Tensor ids, Tensor keyMask) {
    if (keyMask == null) return;
    if (keyMask.dtype() != DType.I32 || !keyMask.shape().equals(ids.shape())) {
      throw new IllegalArgumentException("encode: key mask must be I32 shaped like the ids " + ids.shape() + ", got "
          + keyMask.shape() + " " + keyMask.dtype());
    }
    int[] m = keyMask.toIntArray();
    int s = (int) ids.dim(1);
    for (int r = 0; r < ids.dim(0); r++) {
      boolean any = false;
      for (int j = 0; j < s; j++) any |= m[r * s + j] != 0;
      if (!any) throw new IllegalArgumentException("encode: source row " + r + " has no real token (key mask all 0)");
    }
  }

  /** Residual and embedding dropout: only while training and while a tape records. */
  Tensor dropout(Tensor x) {
    if (config.dropout() == 0 || !isTraining() || Tape.active() == null) return x;
    return Dropout.apply(x, config.dropout(), mix(dropoutSeed, dropoutDraws.getAndIncrement()));
  }

  /** The dropout random state {seed, masks drawn}, for checkpoints that resume exactly. */
  public long[] randomState() {
    return new long[] {dropoutSeed, dropoutDraws.get()};
  }

  public void restoreRandomState(long[] state) {
    if (state.length != 2) throw new IllegalArgumentException("T5 random state has 2 words, got " + state.length);
    dropoutSeed = state[0];
    dropoutDraws.set(state[1]);
  }

  private static long mix(long seed, long n) {
    long z = seed + (n + 1) * 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  static void zeroPaddingRows(Tensor table, int vocab) {
    if (table.dim(0) == vocab) return;
    try (Tensor pad = table.slice(vocab, table.dim(0))) {
      pad.detachFromScope();
      Backend.of(table.device()).fill(pad, 0.0);
    }
  }

  // ---- modules ------------------------------------------------------------------------------------

  /** A plain container for the "block", "layer" levels of the names. */
  static final class Group extends Module {
    <M extends Module> M add(String name, M module) {
      return child(name, module);
    }
  }

  /** encoder or decoder: embed_positions, block.N, final_layer_norm. */
  static final class Stack extends Module {
    final Embedding positions;
    final Block[] blocks;
    final RmsNorm finalNorm;

    Stack(T5Config c, boolean isDecoder, Init init, Device device) {
      positions = child("embed_positions", new Embedding(c.nPositions(), c.dModel(), 0.02, init, device));
      Group block = child("block", new Group());
      int n = isDecoder ? c.numDecoderLayers() : c.numLayers();
      double projStd = 0.02 / Math.sqrt(2.0 * n);
      blocks = new Block[n];
      for (int i = 0; i < n; i++) blocks[i] = block.add(Integer.toString(i), new Block(c, isDecoder, projStd, init, device));
      finalNorm = child("final_layer_norm", new RmsNorm(c.dModel(), c.layerNormEps(), device));
    }
  }

  /** q, k, v, o projections without bias. */
  static final class Attention extends Module {
    final Linear q;
    final Linear k;
    final Linear v;
    final Linear o;

    Attention(T5Config c, double projStd, Init init, Device device) {
      long w = c.dModel();
      q = child("q", new Linear(w, w, false, 0.02, init, device));
      k = child("k", new Linear(w, w, false, 0.02, init, device));
      v = child("v", new Linear(w, w, false, 0.02, init, device));
      o = child("o", new Linear(w, w, false, projStd, init, device));
    }

    /** queries from xq (B, Tq, C), keys and values from xkv (B, Tk, C) -> (B, Tq, C). */
    Tensor forward(AttentionSpec spec, Tensor xq, Tensor xkv, Tensor keyMask) {
      Tensor qt = q.forward(xq);
      Tensor kt = k.forward(xkv);
      Tensor vt = v.forward(xkv);
      return o.forward(Ops.attention(spec, qt, kt, vt, keyMask));
    }
  }

  /** One sublayer slot "layer.N": its norm and its module (SelfAttention, EncDecAttention or DenseReluDense). */
  static final class Sublayer extends Module {
    final RmsNorm norm;

    Sublayer(T5Config c, Device device) {
      norm = child("layer_norm", new RmsNorm(c.dModel(), c.layerNormEps(), device));
    }

    <M extends Module> M add(String name, M module) {
      return child(name, module);
    }
  }

  /** wo(gelu(wi(x))): (B, T, C) -> (B, T, C) via (B, T, dFf). */
  static final class FeedForward extends Module {
    final Linear wi;
    final Linear wo;

    FeedForward(T5Config c, double projStd, Init init, Device device) {
      wi = child("wi", new Linear(c.dModel(), c.dFf(), false, 0.02, init, device));
      wo = child("wo", new Linear(c.dFf(), c.dModel(), false, projStd, init, device));
    }

    Tensor forward(Tensor x) {
      return wo.forward(Ops.gelu(wi.forward(x), true));
    }
  }

  /** Encoder block: self-attention, feed-forward. Decoder block: causal self-attention, cross-attention, feed-forward. */
  static final class Block extends Module {
    final Sublayer selfSlot;
    final Attention self;
    final Sublayer crossSlot;
    final Attention cross;
    final Sublayer ffSlot;
    final FeedForward ff;

    Block(T5Config c, boolean isDecoder, double projStd, Init init, Device device) {
      Group layer = child("layer", new Group());
      selfSlot = layer.add("0", new Sublayer(c, device));
      self = selfSlot.add("SelfAttention", new Attention(c, projStd, init, device));
      if (isDecoder) {
        crossSlot = layer.add("1", new Sublayer(c, device));
        cross = crossSlot.add("EncDecAttention", new Attention(c, projStd, init, device));
      } else {
        crossSlot = null;
        cross = null;
      }
      ffSlot = layer.add(isDecoder ? "2" : "1", new Sublayer(c, device));
      ff = ffSlot.add("DenseReluDense", new FeedForward(c, projStd, init, device));
    }

    /**
     * Training path. Encoder (encoded == null): x (B, S, C), self-attention masked by keyMask. Decoder:
     * x (B, T, C), causal self-attention, then cross-attention over encoded (B, S, C) masked by keyMask.
     */
    Tensor forward(Tensor x, Tensor encoded, Tensor keyMask, T5 model) {
      Tensor h = selfSlot.norm.forward(x);
      if (encoded == null) {
        x = Ops.add(x, model.dropout(self.forward(model.bidirectional, h, h, keyMask)));
      } else {
        x = Ops.add(x, model.dropout(self.forward(model.causal, h, h, null)));
        x = Ops.add(x, model.dropout(cross.forward(model.bidirectional, crossSlot.norm.forward(x), encoded, keyMask)));
      }
      return Ops.add(x, model.dropout(ff.forward(ffSlot.norm.forward(x))));
    }

    /**
     * Cached decoder path: x (B, T, C) at positions [p, p+T), p = cache.length(). Writes the new keys and
     * values into rows [p, p+T) of each batch row's cache, attends over rows [0, p+T) (causal,
     * bottom-right), then over the cached cross keys and values.
     */
    Tensor forwardCached(Tensor x, T5DecodeCache cache, int layer, T5 model) {
      long b = x.dim(0), t = x.dim(1), c = x.dim(2);
      long p = cache.length(), cap = cache.capacity();
      Backend be = Backend.of(x.device());
      Tensor h = selfSlot.norm.forward(x);
      Tensor q = self.q.forward(h), k = self.k.forward(h), v = self.v.forward(h);     // (B, T, C)
      Tensor a = Tensor.empty(x.dtype(), x.device(), b, t, c);
      Tensor keyRows = cache.keyRows(layer), valueRows = cache.valueRows(layer);
      for (long i = 0; i < b; i++) {
        long base = i * cap;
        be.copy(k.slice(i, i + 1).reshape(t, c), keyRows.slice(base + p, base + p + t));
        be.copy(v.slice(i, i + 1).reshape(t, c), valueRows.slice(base + p, base + p + t));
        Tensor keys = keyRows.slice(base, base + p + t).reshape(1, p + t, c);
        Tensor values = valueRows.slice(base, base + p + t).reshape(1, p + t, c);
        be.attention(model.causal, q.slice(i, i + 1), keys, values, null, a.slice(i, i + 1), null);
      }
      x = Ops.add(x, self.o.forward(a));
      Tensor qc = cross.q.forward(crossSlot.norm.forward(x));
      Tensor ac = Ops.attention(model.bidirectional, qc, cache.crossKeys(layer), cache.crossValues(layer), cache.keyMask());
      x = Ops.add(x, cross.o.forward(ac));
      return Ops.add(x, ff.forward(ffSlot.norm.forward(x)));
    }
  }
}
