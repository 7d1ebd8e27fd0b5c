package ai.anvil.models.gpt;

import ai.anvil.autograd.Autocast;
import ai.anvil.autograd.Checkpoint;
import ai.anvil.autograd.Dropout;
import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Precision;
import ai.anvil.autograd.ShapeOps;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.AttentionSpec;
import ai.anvil.backend.Backend;
import ai.anvil.models.CausalLm;
import ai.anvil.models.DecodeCache;
import ai.anvil.models.KvCache;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.nn.Embedding;
import ai.anvil.nn.Init;
import ai.anvil.nn.LayerNorm;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * GPT-2: token and learned position embeddings, nLayer pre-LN blocks (causal self-attention, then a
 * tanh-GELU MLP of width 4C, each added to the residual stream), a final LayerNorm and a language-model
 * head that shares the token table when embeddings are tied.
 *
 * <p>Parameters carry Hugging Face GPT-2 names ({@code transformer.wte.weight},
 * {@code transformer.h.0.attn.c_attn.weight}, ..., {@code lm_head.weight} only when untied) in
 * PyTorch's (out, in) layout; {@link GptCheckpoint} converts to and from GPT-2's files. The token table
 * has {@link GptConfig#paddedVocab()} rows; the padding rows start at zero and get no gradient (the
 * loss ignores their logits), so they stay zero.
 *
 * <p>Two forward paths: {@link #logits}/{@link #loss} for training and scoring (recorded by a tape, with
 * dropout while training), and {@link #forward(Tensor, KvCache)} for decoding with a {@link KvCache}
 * (inference only, never recorded). Both give the same logits for the same context (up to bf16 rounding
 * when the cache is bf16: decoding then runs in mixed precision, like training on CUDA). A one-token step
 * ({@link #step}) reads everything that changes per token from device memory, so a CUDA graph of it
 * serves every position (infer.DecodeGraph). The weights are
 * only read by either path, so any number of threads may decode concurrently with one model, each
 * with its own cache and Scope.
 */
public final class Gpt extends Module implements CausalLm, SequenceEncoder {
  /** Targets with this value are not scored by {@link #loss}. */
  public static final int IGNORE_INDEX = -1;

  private final GptConfig config;
  private final Device device;
  private final Transformer transformer;
  private final Linear lmHead;
  private final AttentionSpec packedSpec;
  private final AttentionSpec splitSpec;
  private volatile GptExtension extension;
  private volatile long dropoutSeed;
  private final AtomicLong dropoutDraws = new AtomicLong();
  private volatile boolean recompute;
  private final PositionIds positionIds;

  /** A freshly initialized model (GPT-2 init: N(0, 0.02), residual projections N(0, 0.02/sqrt(2L))). */
  public Gpt(GptConfig config, long seed, Device device) {
    this.config = config;
    this.device = device;
    Init init = new Init(seed);
    this.dropoutSeed = init.nextSeed();
    this.positionIds = new PositionIds(device);
    this.transformer = child("transformer", new Transformer(config, init, device));
    if (config.tiedEmbeddings()) {
      this.lmHead = null;
    } else {
      this.lmHead = child("lm_head", new Linear(config.nEmbd(), config.paddedVocab(), false, 0.02, init, device));
      zeroPaddingRows(lmHead.weight(), config.vocabSize());
    }
    this.packedSpec = AttentionSpec.packed(config.nHead(), config.headDim(), true);
    this.splitSpec = AttentionSpec.of(config.nHead(), config.headDim(), true);
  }

  public GptConfig config() {
    return config;
  }

  @Override
  public Device device() {
    return device;
  }

  // ---- CausalLm ----------------------------------------------------------------------------------

  @Override
  public String modelType() {
    return "gpt2";
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
    return config.blockSize();
  }

  @Override
  public Tensor forward(Tensor ids, DecodeCache cache) {
    return forward(ids, kvCache(cache));
  }

  @Override
  public Tensor forwardLast(Tensor ids, DecodeCache cache) {
    return forwardLast(ids, kvCache(cache));
  }

  private static KvCache kvCache(DecodeCache cache) {
    if (cache instanceof KvCache kv) return kv;
    throw new IllegalArgumentException("a GPT decodes with its own KvCache, got " + cache.getClass().getSimpleName());
  }

  /** Writes config.json and model.safetensors in Hugging Face GPT-2 layout ({@link GptCheckpoint}). */
  @Override
  public void save(Path dir) throws IOException {
    GptCheckpoint.save(this, dir);
  }

  /** The token table (paddedVocab, C). */
  public Tensor tokenEmbedding() {
    return transformer.wte.weight();
  }

  /** The language-model head weight (paddedVocab, C): the token table itself when tied. */
  @Override
  public Tensor lmHeadWeight() {
    return lmHead == null ? transformer.wte.weight() : lmHead.weight();
  }

  /** Installs (or, with null, removes) the extension points of parameter-efficient fine-tuning. */
  public void setExtension(GptExtension extension) {
    this.extension = extension;
  }

  public GptExtension extension() {
    return extension;
  }

  // ---- training and scoring -----------------------------------------------------------------------

  /** ids I32 (B, T), T <= blockSize -> logits (B, T, paddedVocab); columns past vocabSize are padding. */
  @Override
  public Tensor logits(Tensor ids) {
    return Ops.linear(hidden(ids), lmHeadWeight(), null);
  }

  /** The final hidden states: ids (B, T) -> (B, T, C) after ln_f. */
  @Override
  public Tensor hidden(Tensor ids) {
    GptExtension ext = extension;
    Tensor prompt = ext == null ? null : ext.softPrompt();
    int shift = ext == null ? 0 : ext.prefixLength();
    checkIds("logits", ids, shift + (prompt == null ? 0 : (int) prompt.dim(0)));
    long b = ids.dim(0), t = ids.dim(1);
    Tensor x = Ops.embedding(ids, transformer.wte.weight());
    if (prompt != null) x = ShapeOps.concat(1, ShapeOps.repeat(prompt, b), x);             // (B, P+T, C)
    long n = x.dim(1);
    x = dropout(Ops.add(x, Ops.embedding(positionIds.get(b, n, shift), transformer.wpe.weight())));
    for (int l = 0; l < transformer.blocks.length; l++) x = block(l, x, ext);
    if (n > t) x = ShapeOps.narrow(x, 1, n - t, t);                                     // prompt rows give no logits
    return transformer.lnF.forward(x);
  }

  /**
   * Cross-entropy of next-token prediction: ids, targets I32 (B, T); targets equal to
   * {@link #IGNORE_INDEX} count for nothing. Returns a one-element tensor, the sum of token losses
   * divided by normalizer (the scored-token count of the whole accumulation window, DESIGN.md).
   */
  @Override
  public Tensor loss(Tensor ids, Tensor targets, double normalizer) {
    if (!targets.shape().equals(ids.shape())) {
      throw new IllegalArgumentException("Gpt.loss: targets " + targets.shape() + " differ from ids " + ids.shape());
    }
    return Ops.crossEntropy(logits(ids), targets, config.vocabSize(), IGNORE_INDEX, normalizer);
  }

  // ---- SequenceEncoder: GPT as the body of task heads ------------------------------------------------

  /**
   * The final hidden states (see {@link #hidden}); keyMask I32 (B, T) or null. Causal attention keeps
   * right padding out of every real token's state, so the mask is only checked to be right-padded
   * (each row's real tokens first); left padding would shift positions and is refused.
   */
  @Override
  public Tensor encode(Tensor ids, Tensor keyMask) {
    if (keyMask != null) {
      if (!keyMask.shape().equals(ids.shape())) {
        throw new IllegalArgumentException("Gpt.encode: keyMask " + keyMask.shape() + " differs from ids " + ids.shape());
      }
      int[] m = keyMask.toIntArray();
      int t = (int) ids.dim(1);
      for (int i = 0; i < m.length; i++) {
        if (i % t > 0 && m[i] != 0 && m[i - 1] == 0) {
          throw new IllegalArgumentException("Gpt.encode: row " + i / t + " of the key mask is not right-padded (a real token at "
              + i % t + " follows padding)");
        }
      }
    }
    return hidden(ids);
  }

  @Override
  public int hiddenSize() {
    return config.nEmbd();
  }

  @Override
  public int maxLength() {
    return config.blockSize();
  }

  @Override
  public boolean causal() {
    return true;
  }

  /** The LM head's table (paddedVocab, C): the token table when tied. */
  @Override
  public Tensor tokenEmbeddings() {
    return lmHeadWeight();
  }

  /** transformer (and lm_head when untied), as GPT2For* task models name them. */
  @Override
  public Map<String, Module> taskModules() {
    return children();
  }

  @Override
  public double classifierDropout() {
    return config.dropout();
  }

  /**
   * Activation recompute per block (gradient checkpointing): while on, training keeps only each block's
   * input and output and recomputes the block during backward (same gradients, about a third more compute,
   * activation memory of one block instead of all). Off by default; decoding never recomputes.
   */
  public void setRecompute(boolean on) {
    this.recompute = on;
  }

  public boolean recompute() {
    return recompute;
  }

  /** Block l over x, through {@link Checkpoint} when recompute is on (replaying the block's dropout masks). */
  private Tensor block(int l, Tensor x, GptExtension ext) {
    Block block = transformer.blocks[l];
    if (!recompute || Tape.active() == null) return block.forward(x, this, l, ext);
    long[] draws = {-1};  // the dropout counter at the block's first run
    // What the block may read that needs a gradient: every parameter of the model (adapters installed in
    // it included) and the extension's key/value prefix of this layer.
    java.util.List<Tensor> read = new java.util.ArrayList<>();
    for (var p : parameters()) read.add(p.value());
    Tensor[] prefix = ext == null ? null : ext.keyValuePrefix(l);
    if (prefix != null) read.addAll(java.util.List.of(prefix));
    Tensor[] uses = read.toArray(Tensor[]::new);
    return Checkpoint.apply(x, in -> {
      if (draws[0] < 0) {
        draws[0] = dropoutDraws.get();
        return block.forward(in, this, l, ext);
      }
      long now = dropoutDraws.get();
      dropoutDraws.set(draws[0]);
      try {
        return block.forward(in, this, l, ext);
      } finally {
        dropoutDraws.set(now);
      }
    }, uses);
  }

  // ---- decoding with a KV cache -------------------------------------------------------------------

  /**
   * A cache for batch rows of up to capacity positions (capacity <= blockSize) in the device's default
   * precision (bf16 on CUDA, fp32 on the CPU; fp32 while an extension is installed, whose prefix
   * tensors are fp32); the caller closes it.
   */
  @Override
  public KvCache newCache(int batch, int capacity) {
    return newCache(batch, capacity, extension != null ? Precision.FP32 : Precision.defaultFor(device));
  }

  /**
   * A cache whose decoding runs in precision: FP32, or BF16 (CUDA only; not with an extension): bf16
   * keys and values, linears and attention in bf16 under an {@link Autocast} with bf16 copies of the
   * weights made now, once, and owned by the cache (weights changed later are not seen by it).
   */
  public KvCache newCache(int batch, int capacity, Precision precision) {
    precision.checkDevice(device);
    if (precision == Precision.BF16 && extension != null) {
      throw new IllegalArgumentException("newCache: bf16 decoding with an extension installed is not supported; use fp32");
    }
    if (capacity > config.blockSize()) {
      throw new IllegalArgumentException("KvCache capacity " + capacity + " exceeds block size " + config.blockSize());
    }
    GptExtension ext = extension;
    if (ext != null) {
      // Soft-prompt rows sit in the cache too; prefix positions come before the cache's rows.
      Tensor prompt = ext.softPrompt();
      capacity = Math.min(capacity + (prompt == null ? 0 : (int) prompt.dim(0)), config.blockSize() - ext.prefixLength());
    }
    DType dtype = precision == Precision.BF16 ? DType.BF16 : tokenEmbedding().dtype();
    KvCache cache = new KvCache(config.nLayer(), batch, capacity, config.nEmbd(), dtype, device);
    if (dtype == DType.BF16) {
      try {
        cache.setWeightCopies(Autocast.bf16Copies(parameters().stream().map(Parameter::value).toList()));
      } catch (RuntimeException e) {
        cache.close();
        throw e;
      }
    }
    return cache;
  }

  /** The region decoding with cache runs in: bf16 with the cache's weight copies when it is bf16, else fp32. */
  private Autocast decodeRegion(KvCache cache) {
    return cache.dtype() == DType.BF16 ? Autocast.open(Precision.BF16, device, cache.weightCopies())
        : Autocast.open(Precision.FP32, device);
  }

  /**
   * Runs ids (B, T) at positions [cache.length(), cache.length() + T), appends their keys and values to
   * the cache and returns their logits (B, T, paddedVocab). A prompt (prefill) and a single new token
   * are the same call. Inference only: nothing is recorded by a tape. Intermediates are freed before
   * it returns; the logits belong to the caller's innermost Scope (or to the caller when none is open).
   */
  public Tensor forward(Tensor ids, KvCache cache) {
    try (Tape.NoGrad ignored = Tape.noGrad(); Scope scope = Scope.open(); Autocast region = decodeRegion(cache)) {
      Tensor x = decode(ids, cache, true);
      if (x.dim(1) > ids.dim(1)) x = ShapeOps.narrow(x, 1, x.dim(1) - ids.dim(1), ids.dim(1));
      x = transformer.lnF.forward(x);
      return scope.keep(Ops.linear(x, lmHeadWeight(), null));
    }
  }

  /**
   * Like {@link #forward(Tensor, KvCache)} but returns only the logits of the last position of each row,
   * (B, paddedVocab): the head runs on B rows instead of B*T, which is what sampling needs.
   */
  public Tensor forwardLast(Tensor ids, KvCache cache) {
    try (Tape.NoGrad ignored = Tape.noGrad(); Scope scope = Scope.open(); Autocast region = decodeRegion(cache)) {
      Tensor x = decode(ids, cache, true);
      long b = x.dim(0), t = x.dim(1), c = x.dim(2);
      Tensor last = x;
      if (t > 1) {
        last = Tensor.empty(x.dtype(), x.device(), b, 1, c);
        Backend be = Backend.of(device);
        for (long i = 0; i < b; i++) {
          be.copy(x.slice(i, i + 1).reshape(t, c).slice(t - 1, t), last.slice(i, i + 1).reshape(1, c));
        }
      }
      Tensor logits = Ops.linear(transformer.lnF.forward(last), lmHeadWeight(), null);
      return scope.keep(logits.reshape(b, config.paddedVocab()));
    }
  }

  /**
   * One decode step that reads what changes per token from device memory, for a CUDA graph
   * (infer.DecodeGraph): ids I32 (B, 1) on the model's device, the next token of each row, go to
   * position cache.length(b) of row b (positions, cache writes and attention lengths from
   * {@link KvCache#deviceLengths()}); the device lengths advance by one; logits (B, paddedVocab) of the
   * cache's dtype are written. The host lengths are left alone: after the step has been queued (or its
   * graph replayed) the caller records it with {@link KvCache#advancedOnDevice}(1). ids are not read back:
   * they must be vocabulary ids (a DeviceSampler's, or checked by the caller); on CUDA the embedding
   * kernel refuses others at the next synchronizing call. No extension may be installed, and the device
   * lengths must be current ({@link KvCache#deviceLengthsStale()} false: a capture cannot copy them).
   */
  public void step(Tensor ids, KvCache cache, Tensor logits) {
    String op = "Gpt.step";
    if (extension != null) throw new IllegalStateException(op + ": not with an extension installed (use forwardLast)");
    if (ids == null || logits == null) throw new IllegalArgumentException(op + ": ids and logits are required");
    checkCache(op, cache);
    long b = cache.batch();
    if (ids.rank() != 2 || ids.dtype() != DType.I32 || ids.dim(0) != b || ids.dim(1) != 1 || !ids.device().equals(device)) {
      throw new IllegalArgumentException(op + ": ids must be I32 (" + b + ", 1) on " + device + ", got " + ids);
    }
    if (logits.rank() != 2 || logits.dim(0) != b || logits.dim(1) != config.paddedVocab() || logits.dtype() != cache.dtype()
        || !logits.device().equals(device)) {
      throw new IllegalArgumentException(op + ": logits must be " + cache.dtype() + " (" + b + ", " + config.paddedVocab()
          + ") on " + device + ", got " + logits);
    }
    if (cache.length() + 1 > Math.min(cache.capacity(), config.blockSize())) {
      throw new IllegalArgumentException(op + ": a row at " + cache.length() + " positions overflows the cache capacity "
          + cache.capacity());
    }
    try (Tape.NoGrad ignored = Tape.noGrad(); Scope scope = Scope.open(); Autocast region = decodeRegion(cache)) {
      Tensor lens = cache.deviceLengths();
      Tensor x = Ops.add(Ops.embedding(ids, transformer.wte.weight()), Ops.embedding(lens.reshape(b, 1), transformer.wpe.weight()));
      for (int l = 0; l < transformer.blocks.length; l++) x = transformer.blocks[l].forward(x, cache, l, splitSpec, null, true);
      Backend be = Backend.of(device);
      be.kvAdvance(lens, 1);
      Tensor out = Ops.linear(transformer.lnF.forward(x), lmHeadWeight(), null);               // (B, 1, Vpad)
      be.copy(out.reshape(b, config.paddedVocab()), logits);
    }
  }

  private void checkCache(String op, KvCache cache) {
    cache.checkOpen();
    if (cache.layers() != config.nLayer() || cache.width() != config.nEmbd()) {
      throw new IllegalArgumentException(op + ": KvCache of " + cache.layers() + " layers x " + cache.width()
          + " does not belong to this model (" + config.nLayer() + " x " + config.nEmbd() + ")");
    }
  }

  /**
   * Embeddings and blocks over the cache: ids (B, T) -> residual stream (B, T, C); advances the cache.
   * Every row starts at cache.length() (rows of different lengths take one token each: T = 1).
   */
  private Tensor decode(Tensor ids, KvCache cache, boolean checkHostIds) {
    checkCache("forward", cache);
    GptExtension ext = extension;
    Tensor prompt = ext == null || cache.length() > 0 ? null : ext.softPrompt();
    int shift = ext == null ? 0 : ext.prefixLength();
    int start = cache.length();
    int promptRows = prompt == null ? 0 : (int) prompt.dim(0);
    checkIds("forward", ids, start + shift + promptRows);
    long b = ids.dim(0), t = ids.dim(1) + promptRows;
    if (b != cache.batch()) throw new IllegalArgumentException("forward: ids " + ids.shape() + " for a cache of batch " + cache.batch());
    // One token per row reads its position and cache row from the device lengths (rows may differ);
    // several tokens (a prefill, a soft prompt, a key/value prefix) start every row at the same position.
    boolean deviceLengths = t == 1 && shift == 0 && promptRows == 0;
    if (!deviceLengths && !cache.uniform()) {
      throw new IllegalArgumentException("forward: " + t + " tokens per row need rows of one length; the cache's differ");
    }
    if (start + t > cache.capacity()) {
      throw new IllegalArgumentException("forward: " + t + " tokens at position " + start + " overflow the cache capacity "
          + cache.capacity());
    }
    // Host ids are checked here. Device ids (the next tokens a DeviceSampler wrote) are not read back: that
    // would wait for the whole queue every token. The embedding kernel refuses an id outside the table
    // and the next synchronizing call reports it (CudaBackend); the sampler draws only real vocabulary ids.
    if (checkHostIds && ids.device().isCpu()) {
      for (int id : ids.toIntArray()) {
        if (id < 0 || id >= config.vocabSize()) {
          throw new IllegalArgumentException("forward: token id " + id + " outside the vocabulary [0, " + config.vocabSize() + ")");
        }
      }
    }
    Tensor x = Ops.embedding(ids, transformer.wte.weight());
    if (prompt != null) x = ShapeOps.concat(1, ShapeOps.repeat(prompt, b), x);
    Tensor lens = cache.deviceLengths();
    Tensor pos = deviceLengths ? lens.reshape(b, 1)
        : t == 1 ? positionIds.column(b, start + shift, config.blockSize()) : positions(b, t, start + shift);
    x = Ops.add(x, Ops.embedding(pos, transformer.wpe.weight()));
    for (int l = 0; l < transformer.blocks.length; l++) {
      x = transformer.blocks[l].forward(x, cache, l, splitSpec, ext, deviceLengths);
    }
    Backend.of(device).kvAdvance(lens, (int) t);  // the device lengths follow on the device: no copy per token
    cache.advancedOnDevice((int) t);
    return x;
  }

  // ---- helpers ------------------------------------------------------------------------------------

  private void checkIds(String op, Tensor ids, int start) {
    if (ids.rank() != 2 || ids.dtype() != DType.I32 || ids.dim(1) < 1) {
      throw new IllegalArgumentException(op + ": ids must be I32 (B, T) with T >= 1, got " + ids.shape() + " " + ids.dtype());
    }
    if (start + ids.dim(1) > config.blockSize()) {
      throw new IllegalArgumentException(op + ": positions up to " + (start + ids.dim(1)) + " exceed the block size "
          + config.blockSize());
    }
  }

  /** I32 (B, T) holding start, start+1, ... in every row. */
  private Tensor positions(long b, long t, int start) {
    int[] pos = new int[Math.toIntExact(b * t)];
    for (int i = 0; i < pos.length; i++) pos[i] = start + (int) (i % t);
    return Tensor.ofInts(pos, device, b, t);
  }

  /** Residual/embedding dropout: only while training and while a tape records (never in decoding). */
  Tensor dropout(Tensor x) {
    if (config.dropout() == 0 || !isTraining() || Tape.active() == null) return x;
    return Dropout.apply(x, config.dropout(), mix(dropoutSeed, dropoutDraws.getAndIncrement()));
  }

  /**
   * The dropout random state: {seed, masks drawn so far}. Saved with a training checkpoint and given
   * back to {@link #restoreRandomState}, a resumed run draws the same masks as an uninterrupted one.
   */
  public long[] randomState() {
    return new long[] {dropoutSeed, dropoutDraws.get()};
  }

  public void restoreRandomState(long[] state) {
    if (state.length != 2) throw new IllegalArgumentException("Gpt random state has 2 words, got " + state.length);
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

  @Override
  public void close() {
    positionIds.close();
    super.close();
  }

  // ---- modules ------------------------------------------------------------------------------------

  /** A plain container, for the "attn", "mlp" and "h" levels of the names. */
  static final class Group extends Module {
    <M extends Module> M add(String name, M module) {
      return child(name, module);
    }
  }

  static final class Transformer extends Module {
    final Embedding wte;
    final Embedding wpe;
    final Block[] blocks;
    final LayerNorm lnF;

    Transformer(GptConfig c, Init init, Device device) {
      wte = child("wte", new Embedding(c.paddedVocab(), c.nEmbd(), 0.02, init, device));
      zeroPaddingRows(wte.weight(), c.vocabSize());
      wpe = child("wpe", new Embedding(c.blockSize(), c.nEmbd(), 0.02, init, device));
      Group h = child("h", new Group());
      blocks = new Block[c.nLayer()];
      for (int i = 0; i < blocks.length; i++) blocks[i] = h.add(Integer.toString(i), new Block(c, init, device));
      lnF = child("ln_f", new LayerNorm(c.nEmbd(), c.bias(), c.layerNormEps(), device));
    }
  }

  /** One pre-LN block: x + attn(ln_1(x)), then + mlp(ln_2(.)). */
  static final class Block extends Module {
    private final LayerNorm ln1;
    private final Linear cAttn;
    private final Linear attnProj;
    private final LayerNorm ln2;
    private final Linear cFc;
    private final Linear mlpProj;

    Block(GptConfig c, Init init, Device device) {
      double projStd = 0.02 / Math.sqrt(2.0 * c.nLayer());
      long w = c.nEmbd();
      ln1 = child("ln_1", new LayerNorm(w, c.bias(), c.layerNormEps(), device));
      Group attn = child("attn", new Group());
      cAttn = attn.add("c_attn", new Linear(w, 3 * w, c.bias(), 0.02, init, device));
      attnProj = attn.add("c_proj", new Linear(w, w, c.bias(), projStd, init, device));
      ln2 = child("ln_2", new LayerNorm(w, c.bias(), c.layerNormEps(), device));
      Group mlp = child("mlp", new Group());
      cFc = mlp.add("c_fc", new Linear(w, 4 * w, c.bias(), 0.02, init, device));
      mlpProj = mlp.add("c_proj", new Linear(4 * w, w, c.bias(), projStd, init, device));
    }

    /** Training/scoring path: x (B, T, C) -> (B, T, C), recorded when a tape is active. */
    // ln(x) for lin: in bf16 under a bf16 Autocast (no cast pass, LayerNorm.forwardForLinear) unless lin
    // has a delta (LoRA), whose own ops take the fp32 output.
    private static Tensor normFor(LayerNorm ln, Linear lin, Tensor x) {
      return lin.delta() == null ? ln.forwardForLinear(x) : ln.forward(x);
    }

    Tensor forward(Tensor x, Gpt model, int layer, GptExtension ext) {
      Tensor qkv = cAttn.forward(normFor(ln1, cAttn, x));                            // (B, T, 3C)
      Tensor[] prefix = ext == null ? null : ext.keyValuePrefix(layer);
      Tensor kv = prefix == null ? qkv : withPrefix(prefix, qkv);                    // (B, P+T, 3C)
      Tensor a = Ops.attention(model.packedSpec, qkv, kv, kv, null);                 // (B, T, C)
      Tensor h = attnProj.forward(a);
      x = Ops.add(x, model.dropout(ext == null ? h : ext.afterAttention(layer, h)));
      Tensor m = mlpProj.forward(cFc.forwardGelu(normFor(ln2, cFc, x)));             // via (B, T, 4C)
      return Ops.add(x, model.dropout(ext == null ? m : ext.afterMlp(layer, m)));
    }

    /**
     * keys, values (P, C) before qkv (B, T, 3C) -> (B, P+T, 3C), the prefix in the k and v columns. Its
     * q columns are zero and never read (the queries are qkv's own).
     */
    private static Tensor withPrefix(Tensor[] prefix, Tensor qkv) {
      long p = prefix[0].dim(0), c = prefix[0].dim(1);
      Tensor rows = ShapeOps.concat(1, Tensor.zeros(qkv.dtype(), qkv.device(), p, c), prefix[0], prefix[1]);
      return ShapeOps.concat(1, ShapeOps.repeat(rows, qkv.dim(0)), qkv);
    }

    /**
     * Cached path: x (B, T, C); qkv = c_attn(ln_1(x)) (B, T, 3C) in the region's precision, its k and v
     * written into the cache at each row's device length by one kvAppend. deviceLengths (T = 1, no
     * prefix): one attentionDecode of every row over its own length + 1 keys, nothing read back. Else
     * (every row at p = cache.length()): per row, attention of T queries over cache rows [0, p+T),
     * after the extension's key/value prefix when it has one (bottom-right causal alignment).
     */
    Tensor forward(Tensor x, KvCache cache, int layer, AttentionSpec spec, GptExtension ext, boolean deviceLengths) {
      long b = x.dim(0), t = x.dim(1), c = x.dim(2);
      long p = cache.length(), cap = cache.capacity();
      Backend be = Backend.of(x.device());
      Tensor qkv = cAttn.forward(normFor(ln1, cAttn, x));                             // (B, T, 3C), LoRA included
      Tensor keyCache = cache.keys(layer), valueCache = cache.values(layer);
      be.kvAppend(qkv, (int) c, qkv, (int) (2 * c), keyCache, valueCache, cache.deviceLengths());
      Tensor a = Tensor.empty(qkv.dtype(), x.device(), b, t, c);                      // q is qkv's columns [0, C)
      if (deviceLengths) {
        be.attentionDecode(spec, qkv, keyCache, valueCache, cache.deviceLengths(), 1, a);
      } else {
        Tensor[] prefix = ext == null ? null : ext.keyValuePrefix(layer);
        Tensor keyRows = cache.keyRows(layer), valueRows = cache.valueRows(layer);
        for (long i = 0; i < b; i++) {
          long base = i * cap;
          Tensor keys = keyRows.slice(base, base + p + t).reshape(1, p + t, c);
          Tensor values = valueRows.slice(base, base + p + t).reshape(1, p + t, c);
          if (prefix != null) {
            keys = ShapeOps.concat(1, prefix[0].reshape(1, prefix[0].dim(0), c), keys);
            values = ShapeOps.concat(1, prefix[1].reshape(1, prefix[1].dim(0), c), values);
          }
          be.attention(spec, b == 1 ? qkv : qkv.slice(i, i + 1), keys, values, null, b == 1 ? a : a.slice(i, i + 1), null);
        }
      }
      Tensor o = attnProj.forward(a);
      x = Ops.add(x, ext == null ? o : ext.afterAttention(layer, o));
      Tensor m = mlpProj.forward(cFc.forwardGelu(ln2.forward(x)));
      return Ops.add(x, ext == null ? m : ext.afterMlp(layer, m));
    }
  }
}
