package ai.anvil.models.bert;

import ai.anvil.autograd.Dropout;
import ai.anvil.autograd.Ops;
import ai.anvil.autograd.ShapeOps;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.nn.Embedding;
import ai.anvil.nn.Init;
import ai.anvil.nn.LayerNorm;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The BERT encoder (Hugging Face {@code BertModel}): word + learned position + token-type embeddings and a
 * LayerNorm, then numHiddenLayers post-LN layers (bidirectional self-attention with a key-padding mask,
 * dense, dropout, add and LayerNorm; then a GELU feed-forward, dense, dropout, add and LayerNorm), and
 * optionally the pooler (a tanh dense layer over the first token).
 *
 * <p>Parameters carry HF BertModel names: {@code embeddings.word_embeddings.weight},
 * {@code encoder.layer.0.attention.self.query.weight}, {@code encoder.layer.0.attention.output.LayerNorm.bias},
 * {@code encoder.layer.0.intermediate.dense.weight}, {@code encoder.layer.0.output.dense.weight},
 * {@code pooler.dense.weight}, ... in PyTorch's (out, in) layout, so {@link BertCheckpoint} maps them one to
 * one onto HF files. The weights are only read by {@link #forward}, so threads may run one model
 * concurrently, each in its own Scope, when no tape records.
 */
public final class Bert extends Module implements SequenceEncoder {
  private static final Logger LOG = LoggerFactory.getLogger(Bert.class);

  private final BertConfig config;
  private final Device device;
  private final Embeddings embeddings;
  private final Layer[] layers;
  private final Linear pooler;
  private final AttentionSpec spec;
  private volatile long dropoutSeed;
  private final AtomicLong dropoutDraws = new AtomicLong();
  private final AtomicBoolean warnedAttentionDropout = new AtomicBoolean();

  /**
   * A freshly initialized encoder, as HF initializes one: weights N(0, initializer_range), the padding
   * row of the word table zero, biases zero, LayerNorms one and zero.
   *
   * @param withPooler whether the pooler ({@code pooler.dense}) exists, as in BertModel; BertForMaskedLM has none
   */
  public Bert(BertConfig config, boolean withPooler, long seed, Device device) {
    this.config = config;
    this.device = device;
    Init init = new Init(seed);
    this.dropoutSeed = init.nextSeed();
    this.embeddings = child("embeddings", new Embeddings(config, init, device));
    Group encoder = child("encoder", new Group());
    Group layer = encoder.add("layer", new Group());
    this.layers = new Layer[config.numHiddenLayers()];
    for (int i = 0; i < layers.length; i++) layers[i] = layer.add(Integer.toString(i), new Layer(config, init, device));
    if (withPooler) {
      Group p = child("pooler", new Group());
      this.pooler = p.add("dense", linear(config.hiddenSize(), config.hiddenSize(), config, init, device));
    } else {
      this.pooler = null;
    }
    this.spec = AttentionSpec.of(config.numAttentionHeads(), config.headDim(), false);
  }

  public BertConfig config() {
    return config;
  }

  public Device device() {
    return device;
  }

  public boolean hasPooler() {
    return pooler != null;
  }

  /** The word-embedding table (vocabSize, H); BertForMaskedLM's decoder shares it. */
  public Tensor wordEmbeddings() {
    return embeddings.word.weight();
  }

  /**
   * The last hidden states: ids I32 (B, T) with T <= maxPositionEmbeddings, tokenTypes I32 (B, T) or null
   * (all type 0), attentionMask I32 (B, T) (nonzero = a real token, 0 = padding) or null (all real)
   * -> (B, T, H). Padding keys are masked out of every query's attention; positions are 0..T-1 in every
   * row, as HF numbers them for right-padded batches. Recorded when a tape is active.
   */
  public Tensor forward(Tensor ids, Tensor tokenTypes, Tensor attentionMask) {
    check("ids", ids, null);
    check("tokenTypes", tokenTypes, ids);
    check("attentionMask", attentionMask, ids);
    long t = ids.dim(1);
    if (t > config.maxPositionEmbeddings()) {
      throw new IllegalArgumentException("Bert.forward: " + t + " tokens exceed max_position_embeddings "
          + config.maxPositionEmbeddings());
    }
    return forwardEmbeds(Ops.embedding(ids, embeddings.word.weight()), tokenTypes, attentionMask);
  }

  /**
   * {@link #forward} from word embeddings instead of ids (HF's {@code inputs_embeds}): wordEmbeds (B, T, H),
   * tokenTypes and attentionMask I32 (B, T) or null -> (B, T, H); position and token-type embeddings are
   * added as for ids. Prompt tuning (ai.anvil.peft) puts trainable rows before a sentence's here.
   */
  public Tensor forwardEmbeds(Tensor wordEmbeds, Tensor tokenTypes, Tensor attentionMask) {
    return forwardEmbeds(wordEmbeds, tokenTypes, attentionMask, null);
  }

  /**
   * As above, with prefix tuning's keys and values: keyValuePrefix null, or per layer {keys, values}
   * (P, H) each that every query sees before the sentence's own keys (never masked). The sentence keeps
   * positions 0..T-1.
   */
  public Tensor forwardEmbeds(Tensor wordEmbeds, Tensor tokenTypes, Tensor attentionMask, java.util.List<Tensor[]> keyValuePrefix) {
    if (wordEmbeds.rank() != 3 || wordEmbeds.dim(2) != config.hiddenSize() || wordEmbeds.dim(1) < 1) {
      throw new IllegalArgumentException("Bert.forwardEmbeds: wordEmbeds must be (B, T, " + config.hiddenSize() + "), got "
          + wordEmbeds.shape());
    }
    long b = wordEmbeds.dim(0), t = wordEmbeds.dim(1);
    if (t > config.maxPositionEmbeddings()) {
      throw new IllegalArgumentException("Bert.forwardEmbeds: " + t + " positions exceed max_position_embeddings "
          + config.maxPositionEmbeddings());
    }
    for (Tensor m : new Tensor[] {tokenTypes, attentionMask}) {
      if (m != null && (m.rank() != 2 || m.dtype() != DType.I32 || m.dim(0) != b || m.dim(1) != t)) {
        throw new IllegalArgumentException("Bert.forwardEmbeds: token types and mask must be I32 (" + b + ", " + t + "), got "
            + m.shape() + " " + m.dtype());
      }
    }
    if (tokenTypes == null) tokenTypes = Tensor.zeros(DType.I32, device, b, t);
    Tensor x = Ops.add(Ops.add(wordEmbeds, Ops.embedding(tokenTypes, embeddings.type.weight())),
        Ops.embedding(positions(b, t), embeddings.position.weight()));
    x = dropout(embeddings.norm.forward(x));
    if (keyValuePrefix == null) {
      for (Layer layer : layers) x = layer.forward(x, attentionMask, this, null);
      return x;
    }
    if (keyValuePrefix.size() != layers.length) {
      throw new IllegalArgumentException("Bert.forwardEmbeds: a key/value prefix for each of " + layers.length + " layers, got "
          + keyValuePrefix.size());
    }
    long p = keyValuePrefix.get(0)[0].dim(0);
    for (Tensor[] kv : keyValuePrefix) {
      for (Tensor part : kv) {
        if (part.rank() != 2 || part.dim(0) != p || part.dim(1) != config.hiddenSize()) {
          throw new IllegalArgumentException("Bert.forwardEmbeds: prefix keys and values must be (" + p + ", " + config.hiddenSize()
              + "), got " + part.shape());
        }
      }
    }
    int[] keys = new int[Math.toIntExact(b * (p + t))];                 // the prefix never masked, then the sentence's mask
    int[] real = attentionMask == null ? null : attentionMask.toIntArray();
    for (int r = 0; r < b; r++) {
      for (int j = 0; j < p + t; j++) keys[(int) (r * (p + t) + j)] = j < p || real == null ? 1 : real[(int) (r * t + j - p)];
    }
    Tensor keyMask = Tensor.ofInts(keys, device, b, p + t);
    for (int l = 0; l < layers.length; l++) x = layers[l].forward(x, keyMask, this, keyValuePrefix.get(l));
    return x;
  }

  /**
   * HF's pooler_output: tanh(dense(hidden[:, 0])), hidden (B, T, H) -> (B, H). tanh(z) is computed as
   * p0 - p1 of a two-way softmax over (z, -z), which keeps it on the recorded ops; its absolute error is
   * that of fp32 rounding (about 1e-7), so it is tight in absolute terms rather than relative near zero.
   */
  public Tensor pooledOutput(Tensor hidden) {
    if (pooler == null) throw new IllegalStateException("Bert.pooledOutput: this model has no pooler");
    Tensor z = pooler.forward(Pooling.cls(hidden));                                       // (B, H)
    return Pooling.tanh(z);
  }

  // ---- SequenceEncoder: the body of task heads ------------------------------------------------------

  /** {@link #forward} with every token of type 0: ids, keyMask I32 (B, T) -> (B, T, H). */
  @Override
  public Tensor encode(Tensor ids, Tensor keyMask) {
    return forward(ids, null, keyMask);
  }

  @Override
  public int hiddenSize() {
    return config.hiddenSize();
  }

  @Override
  public int vocabSize() {
    return config.vocabSize();
  }

  @Override
  public int maxLength() {
    return config.maxPositionEmbeddings();
  }

  @Override
  public boolean causal() {
    return false;
  }

  @Override
  public Tensor tokenEmbeddings() {
    return wordEmbeddings();
  }

  /** This whole encoder under {@code bert.}, as BertFor* task models hold it. */
  @Override
  public Map<String, Module> taskModules() {
    return Map.of("bert", this);
  }

  @Override
  public String modelType() {
    return "bert";
  }

  /** HF's classifier_dropout default: hidden_dropout_prob. */
  @Override
  public double classifierDropout() {
    return config.hiddenDropout();
  }

  /** A BertModel folder ({@link BertCheckpoint#save(Bert, Path)}). */
  @Override
  public void save(Path dir) throws IOException {
    BertCheckpoint.save(this, dir);
  }

  // ---- helpers ------------------------------------------------------------------------------------

  private void check(String name, Tensor t, Tensor like) {
    if (t == null) {
      if (like == null) throw new IllegalArgumentException("Bert.forward: " + name + " must not be null");
      return;
    }
    if (t.rank() != 2 || t.dtype() != DType.I32 || t.dim(1) < 1) {
      throw new IllegalArgumentException("Bert.forward: " + name + " must be I32 (B, T) with T >= 1, got " + t.shape() + " "
          + t.dtype());
    }
    if (like != null && !t.shape().equals(like.shape())) {
      throw new IllegalArgumentException("Bert.forward: " + name + " " + t.shape() + " differs from ids " + like.shape());
    }
  }

  /** I32 (B, T) holding 0, 1, ..., T-1 in every row. */
  private Tensor positions(long b, long t) {
    int[] pos = new int[Math.toIntExact(b * t)];
    for (int i = 0; i < pos.length; i++) pos[i] = (int) (i % t);
    return Tensor.ofInts(pos, device, b, t);
  }

  /** Hidden dropout: only while training and while a tape records. */
  Tensor dropout(Tensor x) {
    if (!isTraining() || Tape.active() == null) return x;
    if (config.attentionDropout() > 0 && warnedAttentionDropout.compareAndSet(false, true)) {
      LOG.warn("attention_probs_dropout_prob {} is not applied: the fused attention has no dropout on probabilities",
          config.attentionDropout());
    }
    if (config.hiddenDropout() == 0) return x;
    return Dropout.apply(x, config.hiddenDropout(), mix(dropoutSeed, dropoutDraws.getAndIncrement()));
  }

  /** The dropout random state {seed, masks drawn}, for resuming a training run exactly. */
  public long[] randomState() {
    return new long[] {dropoutSeed, dropoutDraws.get()};
  }

  public void restoreRandomState(long[] state) {
    if (state.length != 2) throw new IllegalArgumentException("Bert random state has 2 words, got " + state.length);
    dropoutSeed = state[0];
    dropoutDraws.set(state[1]);
  }

  private static long mix(long seed, long n) {
    long z = seed + (n + 1) * 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  static Linear linear(long in, long out, BertConfig c, Init init, Device device) {
    return new Linear(in, out, true, c.initializerRange(), init, device);
  }

  // ---- modules ------------------------------------------------------------------------------------

  /** A plain container for the name levels ("encoder", "layer", "attention", "self", "cls", ...). */
  static final class Group extends Module {
    <M extends Module> M add(String name, M module) {
      return child(name, module);
    }

    Tensor addParameter(String name, Tensor value) {
      return parameter(name, value);
    }
  }

  static final class Embeddings extends Module {
    final Embedding word;
    final Embedding position;
    final Embedding type;
    final LayerNorm norm;

    Embeddings(BertConfig c, Init init, Device device) {
      word = child("word_embeddings", new Embedding(c.vocabSize(), c.hiddenSize(), c.initializerRange(), init, device));
      try (Tensor pad = word.weight().slice(c.padTokenId(), c.padTokenId() + 1)) {
        pad.detachFromScope();
        pad.copyFrom(new float[c.hiddenSize()]);
      }
      position = child("position_embeddings",
          new Embedding(c.maxPositionEmbeddings(), c.hiddenSize(), c.initializerRange(), init, device));
      type = child("token_type_embeddings", new Embedding(c.typeVocabSize(), c.hiddenSize(), c.initializerRange(), init, device));
      norm = child("LayerNorm", new LayerNorm(c.hiddenSize(), true, c.layerNormEps(), device));
    }
  }

  /** One post-LN encoder layer. */
  static final class Layer extends Module {
    private final Linear query;
    private final Linear key;
    private final Linear value;
    private final Linear attnOut;
    private final LayerNorm attnNorm;
    private final Linear intermediate;
    private final Linear out;
    private final LayerNorm outNorm;
    private final boolean tanhGelu;

    Layer(BertConfig c, Init init, Device device) {
      long h = c.hiddenSize(), i = c.intermediateSize();
      Group attention = child("attention", new Group());
      Group self = attention.add("self", new Group());
      query = self.add("query", linear(h, h, c, init, device));
      key = self.add("key", linear(h, h, c, init, device));
      value = self.add("value", linear(h, h, c, init, device));
      Group attnOutput = attention.add("output", new Group());
      attnOut = attnOutput.add("dense", linear(h, h, c, init, device));
      attnNorm = attnOutput.add("LayerNorm", new LayerNorm(h, true, c.layerNormEps(), device));
      intermediate = child("intermediate", new Group()).add("dense", linear(h, i, c, init, device));
      Group output = child("output", new Group());
      out = output.add("dense", linear(i, h, c, init, device));
      outNorm = output.add("LayerNorm", new LayerNorm(h, true, c.layerNormEps(), device));
      tanhGelu = c.tanhGelu();
    }

    /** x (B, T, H), mask I32 (B, P+T) or null, prefix null or {keys, values} (P, H) -> (B, T, H). */
    Tensor forward(Tensor x, Tensor mask, Bert model, Tensor[] prefix) {
      Tensor k = key.forward(x), v = value.forward(x);
      if (prefix != null) {
        k = ShapeOps.concat(1, ShapeOps.repeat(prefix[0], x.dim(0)), k);                               // (B, P+T, H)
        v = ShapeOps.concat(1, ShapeOps.repeat(prefix[1], x.dim(0)), v);
      }
      Tensor a = Ops.attention(model.spec, query.forward(x), k, v, mask);                               // (B, T, H)
      Tensor h = attnNorm.forward(Ops.add(model.dropout(attnOut.forward(a)), x));
      Tensor m = Ops.gelu(intermediate.forward(h), tanhGelu);                                          // (B, T, I)
      return outNorm.forward(Ops.add(model.dropout(out.forward(m)), h));
    }
  }
}
