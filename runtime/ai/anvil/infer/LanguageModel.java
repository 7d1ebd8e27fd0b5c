package ai.anvil.infer;

import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.data.tokenizer.Tokenizers;
import ai.anvil.models.AutoModel;
import ai.anvil.models.CausalLm;
import ai.anvil.tensor.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * The library facade for services: a causal language model (GPT-2 or Llama) and its tokenizer, loaded
 * from an Anvil checkpoint or a Hugging Face model folder ({@code config.json}, {@code model.safetensors},
 * {@code tokenizer.json}; {@link AutoModel} picks the architecture), that generates and scores text.
 *
 * <pre>{@code
 * try (LanguageModel lm = LanguageModel.load(Path.of("out/checkpoint"), Device.CPU)) {
 *   Generation g = lm.generate("And God said", SamplingConfig.sample(100, 0.8, 42).withTopK(40), System.out::print);
 *   double ppl = lm.score("In the beginning God created the heaven and the earth.").perplexity();
 * }
 * }</pre>
 *
 * Thread-safe: the weights are only read, and every call works in its own Scope with its own cache,
 * so concurrent calls give exactly what the same calls give one after another (with pinned CPU
 * threads, the kernels' results do not depend on load).
 */
public final class LanguageModel implements AutoCloseable {
  public static final String TOKENIZER = "tokenizer.json";

  private final CausalLm model;
  private final Tokenizer tokenizer;
  private volatile Generator generator;
  private final Scorer scorer;

  /** Wraps a model (which this object then owns and closes) and its tokenizer. */
  public LanguageModel(CausalLm model, Tokenizer tokenizer) {
    if (tokenizer == null) throw new IllegalArgumentException("LanguageModel needs a tokenizer");
    this.model = model;
    this.tokenizer = tokenizer;
    this.generator = new Generator(model, tokenizer);
    this.scorer = new Scorer(model);
    model.train(false);
  }

  /** Loads config.json, model.safetensors and tokenizer.json from dir onto device. */
  public static LanguageModel load(Path dir, Device device) throws IOException {
    Path tokenizerFile = dir.resolve(TOKENIZER);
    if (!Files.isRegularFile(tokenizerFile)) throw new IOException(dir + ": no " + TOKENIZER);
    Tokenizer tokenizer = Tokenizers.load(tokenizerFile);
    CausalLm model = AutoModel.loadCausalLm(dir, device);
    if (tokenizer.vocabSize() > model.vocabSize()) {
      model.close();
      throw new IOException(dir + ": tokenizer has " + tokenizer.vocabSize() + " tokens, the model " + model.vocabSize());
    }
    return new LanguageModel(model, tokenizer);
  }

  /**
   * Whether generation on CUDA replays a CUDA graph of the decode step (the default) or runs every step
   * eagerly (for diagnosis, or where graphs misbehave).
   */
  public void setCudaGraphs(boolean on) {
    generator = new Generator(model, tokenizer, on);
  }

  /** Generates a continuation of prompt; stream (nullable) receives its text as it is produced. */
  public Generation generate(String prompt, SamplingConfig config, Consumer<String> stream) {
    return generator.generate(prompt, config, stream);
  }

  public Generation generate(String prompt, SamplingConfig config) {
    return generator.generate(prompt, config, null);
  }

  /**
   * The score of text: every token is scored, the first one given the end-of-text token when the
   * tokenizer has one (GPT-2's document separator), else scoring starts at the second token.
   */
  public Score score(String text) {
    return scorer.score(scoringTokens(text));
  }

  /** log p of each scored token of text, in order (see {@link #score}). */
  public float[] tokenLogProbs(String text) {
    return scorer.tokenLogProbs(scoringTokens(text));
  }

  private int[] scoringTokens(String text) {
    int[] ids = tokenizer.encode(text);
    if (tokenizer.eosId().isEmpty()) return ids;
    int[] withEos = new int[ids.length + 1];
    withEos[0] = tokenizer.eosId().getAsInt();
    System.arraycopy(ids, 0, withEos, 1, ids.length);
    return withEos;
  }

  public CausalLm model() {
    return model;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  public Generator generator() {
    return generator;
  }

  public Scorer scorer() {
    return scorer;
  }

  @Override
  public void close() {
    model.close();
  }
}
