package ai.anvil.infer;

import ai.anvil.autograd.Tape;
import ai.anvil.backend.Backend;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.models.CausalLm;
import ai.anvil.models.DecodeCache;
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
 */
public final class Generator {
  private final CausalLm model;
  private final Tokenizer tokenizer;

  /** tokenizer may be null for token-level use (no text, no stop strings, no streaming). */
  public Generator(CausalLm model, Tokenizer tokenizer) {
    this.model = model;
    this.tokenizer = tokenizer;
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
      try (Tape.NoGrad ignored = Tape.noGrad(); DecodeCache cache = model.newCache(1, capacity)) {
        int[] history = Arrays.copyOf(context, context.length + Math.min(config.maxTokens(), 1024));
        int length = context.length;
        HostRow row = new HostRow(model.paddedVocab());
        float[] logits = row.read(step(cache, context));
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
            logits = row.read(step(cache, Arrays.copyOfRange(history, length - keep, length)));
          } else {
            logits = row.read(step(cache, new int[] {next}));
          }
        }
      }
    }
    if (finish != Generation.Finish.STOP) matcher.finish();
    return new Generation(matcher.tokens(), matcher.text(), finish, context.length, System.nanoTime() - start);
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

    HostRow(int width) {
      buffer = ByteBuffer.allocateDirect(4 * width).order(ByteOrder.nativeOrder());
      values = new float[width];
    }

    /** Copies a (1, width) tensor into the host row, closes it, and returns the row. */
    float[] read(Tensor logits) {
      try (logits) {
        if (logits.dtype() != DType.F32) return logits.toFloatArray();
        Backend.of(logits.device()).copyToHost(logits, buffer);
      }
      buffer.asFloatBuffer().get(values);
      return values;
    }
  }

  public CausalLm model() {
    return model;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }
}
