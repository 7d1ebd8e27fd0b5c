package ai.anvil.infer;

import ai.anvil.autograd.Tape;
import ai.anvil.backend.Backend;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.backend.cuda.CudaBackend;
import ai.anvil.backend.cuda.DeviceSampler;
import ai.anvil.models.CausalLm;
import ai.anvil.models.DecodeCache;
import ai.anvil.models.KvCache;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * Autoregressive decoding with the model's {@link DecodeCache} (any {@link CausalLm}: GPT-2, Llama): the prompt runs once (prefill), then each new token
 * runs alone against the cache. Gives the same tokens as recomputing the whole context every step.
 *
 * <p>A Generator holds no per-call state: one instance may serve any number of threads at once, each
 * call with its own Scope, cache and sampler, and a call's result does not depend on what other
 * threads do. Interrupting the calling thread ends its generation at the next token
 * ({@link Generation.Finish#CANCELLED}).
 *
 * <p>Context longer than the model's block size: the prompt keeps its last blockSize tokens; when the
 * cache fills during generation, the last 3/4 of the window is run again as a new prefill (positions
 * restart at 0) and decoding continues.
 *
 * <p>On CUDA a GPT's one-token steps replay a CUDA graph of the step ({@link DecodeGraph}: captured on the
 * second token of a call, for that call's batch and cache); {@code cudaGraphs = false} runs them eagerly.
 * {@link #generateBatch} decodes several prompts of any lengths together, the next tokens chosen on the
 * device (DeviceSampler) when the model is on CUDA and the sampling config allows it.
 */
public final class Generator {
  private final CausalLm model;
  private final Tokenizer tokenizer;
  private final boolean cudaGraphs;

  /** tokenizer may be null for token-level use (no text, no stop strings, no streaming). */
  public Generator(CausalLm model, Tokenizer tokenizer) {
    this(model, tokenizer, true);
  }

  /** As {@link #Generator(CausalLm, Tokenizer)}; cudaGraphs false runs every decode step eagerly. */
  public Generator(CausalLm model, Tokenizer tokenizer, boolean cudaGraphs) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.cudaGraphs = cudaGraphs;
    if (tokenizer != null && tokenizer.vocabSize() > model.vocabSize()) {
      throw new IllegalArgumentException("tokenizer of " + tokenizer.vocabSize() + " tokens for a model of "
          + model.vocabSize());
    }
  }

  /** Generates a continuation of prompt, streaming its text to stream (may be null) as it grows. */
  public Generation generate(String prompt, SamplingConfig config, Consumer<String> stream) {
    if (tokenizer == null) throw new IllegalStateException("generating from text needs a tokenizer");
    int[] ids = tokenizer.encode(prompt);
    if (ids.length == 0) {
      if (tokenizer.eosId().isEmpty()) throw new IllegalArgumentException("empty prompt and no end-of-text token to start from");
      ids = new int[] {tokenizer.eosId().getAsInt()};
    }
    return generate(ids, config, stream);
  }

  /** Generates a continuation of prompt tokens (at least one). */
  public Generation generate(int[] prompt, SamplingConfig config, Consumer<String> stream) {
    long start = System.nanoTime();
    if (prompt.length == 0) throw new IllegalArgumentException("generate: the prompt needs at least one token");
    int block = model.contextLength();
    int[] context = prompt.length > block ? Arrays.copyOfRange(prompt, prompt.length - block, prompt.length) : prompt;
    List<int[]> stops = new ArrayList<>(config.stopTokens());
    if (config.stopAtEos() && tokenizer != null && tokenizer.eosId().isPresent()) {
      stops.add(new int[] {tokenizer.eosId().getAsInt()});
    }
    StopMatcher matcher = new StopMatcher(tokenizer, stops, config.stopStrings(), stream);
    Sampler sampler = new Sampler(config);
    // Only ids the tokenizer can decode are ever sampled.
    int vocab = tokenizer == null ? model.vocabSize() : Math.min(model.vocabSize(), tokenizer.vocabSize());
    Generation.Finish finish = Generation.Finish.LENGTH;
    if (config.maxTokens() > 0) {
      int capacity = (int) Math.min(block, (long) context.length + config.maxTokens());
      try (Tape.NoGrad ignored = Tape.noGrad(); DecodeCache cache = model.newCache(1, capacity);
           DecodeGraph graph = graphFor(cache)) {
        int[] history = Arrays.copyOf(context, context.length + Math.min(config.maxTokens(), 1024));
        int length = context.length;
        HostRow row = new HostRow(model.paddedVocab());
        float[] logits = row.read(step(cache, context), true);
        for (int n = 0; n < config.maxTokens(); n++) {
          if (Thread.currentThread().isInterrupted()) {
            finish = Generation.Finish.CANCELLED;
            break;
          }
          int next = sampler.next(logits, 0, vocab);
          if (length == history.length) history = Arrays.copyOf(history, 2 * length);
          history[length++] = next;
          if (matcher.accept(next)) {
            finish = Generation.Finish.STOP;
            break;
          }
          if (n + 1 == config.maxTokens()) break;
          if (cache.remaining() == 0) {
            int keep = Math.max(1, block * 3 / 4);
            cache.reset();
            logits = row.read(step(cache, Arrays.copyOfRange(history, length - keep, length)), true);
          } else if (graph != null) {
            row.ids(graph.ids(), next);  // a sampled id: in the vocabulary by construction
            graph.step();
            logits = row.read(graph.logits(), false);
          } else {
            logits = row.read(step(cache, new int[] {next}), true);
          }
        }
      }
    }
    if (finish != Generation.Finish.STOP) matcher.finish();
    return new Generation(matcher.tokens(), matcher.text(), finish, context.length, System.nanoTime() - start);
  }

  /** The graph-replayed steps for cache, or null (not a GPT, on the CPU, graphs off, an extension installed). */
  private DecodeGraph graphFor(DecodeCache cache) {
    if (!cudaGraphs || !(model instanceof Gpt gpt) || gpt.extension() != null || model.device().isCpu()
        || !(cache instanceof KvCache kv)) {
      return null;
    }
    return new DecodeGraph(gpt, kv, true);
  }

  /**
   * Continues every prompt (each at least one token, lengths may differ) in one batch: the prompts run as
   * one right-padded prefill, then every row takes one token per step, each at its own position (a
   * GPT's cache keeps a length per row). Rows that stop keep stepping until every row has stopped or
   * maxTokens is reached; their extra tokens are dropped. On CUDA with topP 1 and topK at most
   * {@link DeviceSampler#MAX_TOP_K} the tokens are chosen on the device (greedy: the same argmax as the
   * host; sampling: the device's own random stream, seeded by config.seed()), else by the host sampler per
   * row. Prompt plus maxTokens must fit the model's block size (no sliding window here). Models other
   * than GPT generate the prompts one after another.
   */
  public List<Generation> generateBatch(List<int[]> prompts, SamplingConfig config) {
    long start = System.nanoTime();
    if (prompts.isEmpty()) throw new IllegalArgumentException("generateBatch: no prompts");
    int longest = 0;
    for (int[] p : prompts) {
      if (p.length == 0) throw new IllegalArgumentException("generateBatch: every prompt needs at least one token");
      longest = Math.max(longest, p.length);
    }
    int vocab = tokenizer == null ? model.vocabSize() : Math.min(model.vocabSize(), tokenizer.vocabSize());
    for (int[] p : prompts) {
      for (int id : p) {
        if (id < 0 || id >= vocab) throw new IllegalArgumentException("generateBatch: token id " + id + " outside [0, " + vocab + ")");
      }
    }
    if (!(model instanceof Gpt gpt) || gpt.extension() != null) {
      List<Generation> out = new ArrayList<>();
      for (int[] p : prompts) out.add(generate(p, config, null));
      return out;
    }
    if ((long) longest + config.maxTokens() > model.contextLength()) {
      throw new IllegalArgumentException("generateBatch: the longest prompt (" + longest + ") plus maxTokens ("
          + config.maxTokens() + ") exceeds the block size " + model.contextLength());
    }
    int b = prompts.size();
    List<StopMatcher> matchers = new ArrayList<>();
    List<int[]> stops = new ArrayList<>(config.stopTokens());
    if (config.stopAtEos() && tokenizer != null && tokenizer.eosId().isPresent()) stops.add(new int[] {tokenizer.eosId().getAsInt()});
    for (int r = 0; r < b; r++) matchers.add(new StopMatcher(tokenizer, stops, config.stopStrings(), null));
    Generation.Finish[] finish = new Generation.Finish[b];
    Arrays.fill(finish, Generation.Finish.LENGTH);
    boolean onDevice = !model.device().isCpu() && config.topP() == 1.0 && config.topK() <= DeviceSampler.MAX_TOP_K;
    if (config.maxTokens() > 0) {
      try (Tape.NoGrad ignored = Tape.noGrad(); Scope views = Scope.open();
           KvCache cache = gpt.newCache(b, longest + config.maxTokens()); DecodeGraph graph = new DecodeGraph(gpt, cache, cudaGraphs)) {
        Tensor nextIds = graph.ids().reshape(b);  // (B) view of the step's input, for the sampler
        int[] padded = new int[b * longest], lengths = new int[b];
        for (int r = 0; r < b; r++) {
          int[] p = prompts.get(r);
          System.arraycopy(p, 0, padded, r * longest, p.length);
          lengths[r] = p.length;
        }
        Sampler[] samplers = new Sampler[b];
        for (int r = 0; r < b; r++) samplers[r] = new Sampler(config.withSeed(config.seed() + r));
        try (Scope prefill = Scope.open()) {
          Tensor all = gpt.forward(Tensor.ofInts(padded, model.device(), b, longest), cache);   // (B, T, Vpad)
          Backend be = Backend.of(model.device());
          for (int r = 0; r < b; r++) {  // each row's logits at its last prompt token
            Tensor src = all.slice(r, r + 1).reshape(longest, model.paddedVocab()).slice(lengths[r] - 1, lengths[r]);
            be.copy(src, graph.logits().slice(r, r + 1));
          }
          cache.setLengths(lengths);
        }
        boolean[] done = new boolean[b];
        int live = b;
        HostRow row = new HostRow(model.paddedVocab());
        for (int n = 0; n < config.maxTokens() && live > 0; n++) {
          if (Thread.currentThread().isInterrupted()) {
            for (int r = 0; r < b; r++) if (!done[r]) finish[r] = Generation.Finish.CANCELLED;
            break;
          }
          int[] next;
          if (onDevice) {
            int topK = config.greedy() ? 1 : config.topK();
            DeviceSampler.sample((CudaBackend) Backend.of(model.device()), graph.logits(), vocab, topK, config.temperature(),
                config.seed(), (long) n * b, nextIds);
            next = nextIds.toIntArray();
          } else {
            float[] logits = row.readAll(graph.logits());
            next = new int[b];
            int v = model.paddedVocab();
            for (int r = 0; r < b; r++) next[r] = samplers[r].next(Arrays.copyOfRange(logits, r * v, (r + 1) * v), 0, vocab);
            row.ids(graph.ids(), next);
          }
          for (int r = 0; r < b; r++) {
            if (done[r]) continue;
            if (matchers.get(r).accept(next[r])) {
              done[r] = true;
              finish[r] = Generation.Finish.STOP;
              live--;
            }
          }
          if (n + 1 < config.maxTokens() && live > 0) graph.step();
        }
      }
    }
    long nanos = System.nanoTime() - start;
    List<Generation> out = new ArrayList<>();
    for (int r = 0; r < b; r++) {
      StopMatcher m = matchers.get(r);
      if (finish[r] != Generation.Finish.STOP) m.finish();
      out.add(new Generation(m.tokens(), m.text(), finish[r], prompts.get(r).length, nanos));
    }
    return out;
  }

  /** Runs ids at the cache's next positions; returns the last position's logits (1, paddedVocab) to close. */
  private Tensor step(DecodeCache cache, int[] ids) {
    try (Scope scope = Scope.open()) {
      Tensor t = Tensor.ofInts(ids, model.device(), 1, ids.length);
      return scope.keep(model.forwardLast(t, cache));
    }
  }

  /** One reusable host buffer for a row of logits: no allocation per token. */
  private static final class HostRow {
    private final ByteBuffer buffer;
    private final float[] values;
    private ByteBuffer idBuffer;

    HostRow(int width) {
      buffer = ByteBuffer.allocateDirect(4 * width).order(ByteOrder.nativeOrder());
      values = new float[width];
    }

    /** Copies a (1, width) tensor into the host row (closing it when close) and returns the row. */
    float[] read(Tensor logits, boolean close) {
      try {
        if (logits.dtype() != DType.F32) return logits.toFloatArray();
        Backend.of(logits.device()).copyToHost(logits, buffer);
      } finally {
        if (close) logits.close();
      }
      buffer.asFloatBuffer().get(values);
      return values;
    }

    /** Every row of a (B, width) tensor, row-major (not closed). */
    float[] readAll(Tensor logits) {
      return logits.toFloatArray();
    }

    /** Writes ids (checked by the caller) into an I32 device tensor of as many elements. */
    void ids(Tensor dst, int... ids) {
      if (idBuffer == null || idBuffer.capacity() != 4 * ids.length) {
        idBuffer = ByteBuffer.allocateDirect(4 * ids.length).order(ByteOrder.nativeOrder());
      }
      idBuffer.clear();
      idBuffer.asIntBuffer().put(ids);
      dst.copyFrom(idBuffer);
    }
  }

  public CausalLm model() {
    return model;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }
}
