package ai.anvil.infer;

import ai.anvil.models.t5.T5;
import ai.anvil.models.t5.T5Config;
import ai.anvil.models.t5.T5DecodeCache;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Generation with an encoder-decoder ({@link T5}): the sources of a batch are right-padded, encoded once
 * (cross-attention keys and values cached per layer), and the decoder runs one token per step from the
 * start token over its growing self-attention cache. Each step's logits go through one {@link Sampler}
 * (greedy or sampled, {@link SamplingConfig}); a row stops at eos (dropped from its output) or after
 * maxTokens. Stop strings and stop token sequences of the config are not applied here (token ids only).
 *
 * <p>The model is only read: threads may generate concurrently with one model, each with its own
 * generator call.
 */
public final class Seq2seqGenerator {
  private final T5 model;

  public Seq2seqGenerator(T5 model) {
    this.model = model;
  }

  /** Output ids for one source (ids in the model's vocabulary, usually ending in eos). */
  public int[] generate(int[] source, SamplingConfig sampling) {
    return generate(List.of(source), sampling).get(0);
  }

  /**
   * Output ids for each source, without the start token and without eos. Sources longer than n_positions
   * are an error; maxTokens is capped at n_positions - 1 (the decoder's position table).
   */
  public List<int[]> generate(List<int[]> sources, SamplingConfig sampling) {
    T5Config c = model.config();
    if (sources.isEmpty()) throw new IllegalArgumentException("generate: no sources");
    int b = sources.size(), s = 0;
    for (int[] src : sources) {
      if (src.length == 0) throw new IllegalArgumentException("generate: an empty source");
      s = Math.max(s, src.length);
    }
    if (s > c.nPositions()) throw new IllegalArgumentException("generate: a source of " + s + " tokens exceeds n_positions " + c.nPositions());
    int[] ids = new int[b * s];
    int[] mask = new int[b * s];
    Arrays.fill(ids, c.padId());
    boolean padded = false;
    for (int r = 0; r < b; r++) {
      int[] src = sources.get(r);
      System.arraycopy(src, 0, ids, r * s, src.length);
      for (int j = 0; j < src.length; j++) mask[r * s + j] = 1;
      padded |= src.length < s;
    }
    int steps = Math.min(sampling.maxTokens(), c.nPositions() - 1);
    List<List<Integer>> out = new ArrayList<>();
    for (int r = 0; r < b; r++) out.add(new ArrayList<>());
    if (steps == 0) return toArrays(out);
    Sampler sampler = new Sampler(sampling);
    boolean[] done = new boolean[b];
    int v = c.vocabSize(), vp = c.paddedVocab();
    try (Scope scope = Scope.open();
         T5DecodeCache cache = model.newCache(Tensor.ofInts(ids, model.device(), b, s),
             padded ? Tensor.ofInts(mask, model.device(), b, s) : null, steps)) {
      int[] next = new int[b];
      Arrays.fill(next, c.decoderStartId());
      for (int step = 0; step < steps; step++) {
        float[] logits;
        try (Scope inner = Scope.open()) {
          logits = model.decode(Tensor.ofInts(next, model.device(), b, 1), cache).toFloatArray();   // (B, 1, Vpad)
        }
        boolean all = true;
        for (int r = 0; r < b; r++) {
          if (done[r]) continue;
          int t = sampler.next(logits, r * vp, v);
          if (t == c.eosId() && sampling.stopAtEos()) {
            done[r] = true;
          } else {
            out.get(r).add(t);
            all = false;
          }
          next[r] = t;
        }
        if (all) break;
      }
    }
    return toArrays(out);
  }

  private static List<int[]> toArrays(List<List<Integer>> rows) {
    List<int[]> out = new ArrayList<>();
    for (List<Integer> row : rows) out.add(row.stream().mapToInt(Integer::intValue).toArray());
    return out;
  }
}
