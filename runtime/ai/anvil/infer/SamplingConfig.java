package ai.anvil.infer;

import java.util.ArrayList;
import java.util.List;

/**
 * How to pick each next token, and when to stop.
 *
 * @param maxTokens the most new tokens to generate
 * @param temperature logits are divided by it; 0 means greedy (argmax, lowest id on ties)
 * @param topK keep only the k most likely tokens (ties with the k-th kept too); 0 disables
 * @param topP keep the smallest set of most likely tokens whose probability reaches p (nucleus); 1 disables
 * @param seed the sampler's seed: the same seed, prompt and model give the same tokens
 * @param stopStrings generation ends when the text contains one; the text is cut before it
 * @param stopTokens generation ends when the tokens end with one of these sequences, which is dropped
 * @param stopAtEos whether the tokenizer's end-of-text token ends generation (and is dropped)
 */
public record SamplingConfig(int maxTokens, double temperature, int topK, double topP, long seed,
                             List<String> stopStrings, List<int[]> stopTokens, boolean stopAtEos) {
  public SamplingConfig {
    if (maxTokens < 0) throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
    if (!(temperature >= 0) || !Double.isFinite(temperature)) {
      throw new IllegalArgumentException("temperature must be finite and >= 0, got " + temperature);
    }
    if (topK < 0) throw new IllegalArgumentException("topK must be >= 0 (0 disables), got " + topK);
    if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
    stopStrings = List.copyOf(stopStrings);
    for (String s : stopStrings) if (s.isEmpty()) throw new IllegalArgumentException("a stop string must not be empty");
    List<int[]> copies = new ArrayList<>();
    for (int[] s : stopTokens) {
      if (s.length == 0) throw new IllegalArgumentException("a stop token sequence must not be empty");
      copies.add(s.clone());
    }
    stopTokens = List.copyOf(copies);
  }

  /** Argmax decoding of up to maxTokens tokens, stopping at the end-of-text token. */
  public static SamplingConfig greedy(int maxTokens) {
    return new SamplingConfig(maxTokens, 0.0, 0, 1.0, 0, List.of(), List.of(), true);
  }

  /** Sampling at a temperature with a seed, no top-k/top-p filter. */
  public static SamplingConfig sample(int maxTokens, double temperature, long seed) {
    return new SamplingConfig(maxTokens, temperature, 0, 1.0, seed, List.of(), List.of(), true);
  }

  public boolean greedy() {
    return temperature == 0;
  }

  public SamplingConfig withMaxTokens(int n) {
    return new SamplingConfig(n, temperature, topK, topP, seed, stopStrings, stopTokens, stopAtEos);
  }

  public SamplingConfig withTemperature(double t) {
    return new SamplingConfig(maxTokens, t, topK, topP, seed, stopStrings, stopTokens, stopAtEos);
  }

  public SamplingConfig withTopK(int k) {
    return new SamplingConfig(maxTokens, temperature, k, topP, seed, stopStrings, stopTokens, stopAtEos);
  }

  public SamplingConfig withTopP(double p) {
    return new SamplingConfig(maxTokens, temperature, topK, p, seed, stopStrings, stopTokens, stopAtEos);
  }

  public SamplingConfig withSeed(long s) {
    return new SamplingConfig(maxTokens, temperature, topK, topP, s, stopStrings, stopTokens, stopAtEos);
  }

  /** Adds stop strings. */
  public SamplingConfig withStop(String... strings) {
    List<String> all = new ArrayList<>(stopStrings);
    all.addAll(List.of(strings));
    return new SamplingConfig(maxTokens, temperature, topK, topP, seed, all, stopTokens, stopAtEos);
  }

  /** Adds one stop sequence of token ids. */
  public SamplingConfig withStopTokens(int... sequence) {
    List<int[]> all = new ArrayList<>(stopTokens);
    all.add(sequence);
    return new SamplingConfig(maxTokens, temperature, topK, topP, seed, stopStrings, all, stopAtEos);
  }

  public SamplingConfig withStopAtEos(boolean on) {
    return new SamplingConfig(maxTokens, temperature, topK, topP, seed, stopStrings, stopTokens, on);
  }
}
