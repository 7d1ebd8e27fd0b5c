package ai.anvil.data.masking;

import ai.anvil.data.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * T5's span-corruption objective (Raffel et al. 2020, {@code random_spans_noise_mask} and
 * {@code noise_span_to_unique_sentinel} in t5/data/preprocessors.py): of a row of n tokens,
 * round(n * noiseDensity) are noise, split into round(noise / meanSpanLength) spans; noise and non-noise
 * lengths are random segmentations (every segment at least one token), interleaved starting with a
 * non-noise span, so the row ends in noise. Then
 *
 * <pre>
 *   text     a b c d e f g h i j
 *   mask     . . X X . . . X . .      (here: 2 spans; in T5 the last span always ends the row)
 *   inputs   a b S0 e f g S1 i j EOS  each span replaced by its sentinel, then eos
 *   targets  S0 c d S1 h EOS          each sentinel followed by the span it hides, then eos
 * </pre>
 *
 * <p>Ids: the tokenizer's ids [0, baseVocab), then {@code pad = baseVocab} (also the decoder start),
 * {@code eos = baseVocab + 1}, and sentinel i ({@code <extra_id_i>}) = baseVocab + 2 + i, so
 * {@link #vocabSize()} = baseVocab + 2 + sentinels. Rounding is half-to-even, as tf.round.
 */
public final class SpanCorruption {
  /** T5's defaults. */
  public static final double NOISE_DENSITY = 0.15;
  public static final double MEAN_SPAN_LENGTH = 3.0;
  public static final int SENTINELS = 100;

  /** One corrupted row: encoder inputs and decoder targets, both ending in eos. */
  public record Example(int[] inputs, int[] targets) {}

  private final int baseVocab;
  private final double noiseDensity;
  private final double meanSpanLength;
  private final int sentinels;

  public SpanCorruption(int baseVocab, double noiseDensity, double meanSpanLength, int sentinels) {
    if (baseVocab < 1) throw new IllegalArgumentException("span corruption: base vocabulary must be >= 1, got " + baseVocab);
    if (!(noiseDensity > 0 && noiseDensity < 1)) {
      throw new IllegalArgumentException("span corruption: noise density must be in (0, 1), got " + noiseDensity);
    }
    if (!(meanSpanLength >= 1) || !Double.isFinite(meanSpanLength)) {
      throw new IllegalArgumentException("span corruption: mean span length must be >= 1, got " + meanSpanLength);
    }
    if (sentinels < 1) throw new IllegalArgumentException("span corruption: sentinels must be >= 1, got " + sentinels);
    this.baseVocab = baseVocab;
    this.noiseDensity = noiseDensity;
    this.meanSpanLength = meanSpanLength;
    this.sentinels = sentinels;
  }

  /** T5's defaults (density 0.15, mean span 3, 100 sentinels) over a tokenizer of baseVocab ids. */
  public static SpanCorruption t5(int baseVocab) {
    return new SpanCorruption(baseVocab, NOISE_DENSITY, MEAN_SPAN_LENGTH, SENTINELS);
  }

  public int baseVocab() {
    return baseVocab;
  }

  public double noiseDensity() {
    return noiseDensity;
  }

  public double meanSpanLength() {
    return meanSpanLength;
  }

  public int sentinels() {
    return sentinels;
  }

  public int padId() {
    return baseVocab;
  }

  public int eosId() {
    return baseVocab + 1;
  }

  /** The id of {@code <extra_id_i>}. */
  public int sentinel(int i) {
    if (i < 0 || i >= sentinels) throw new IllegalArgumentException("sentinel " + i + " outside [0, " + sentinels + ")");
    return baseVocab + 2 + i;
  }

  public boolean isSentinel(int id) {
    return id >= baseVocab + 2 && id < baseVocab + 2 + sentinels;
  }

  /** Tokenizer ids, pad, eos and sentinels. */
  public int vocabSize() {
    return baseVocab + 2 + sentinels;
  }

  /** The name of a special id ({@code <pad>}, {@code </s>}, {@code <extra_id_3>}), or null for a tokenizer id. */
  public String specialName(int id) {
    if (id == padId()) return "<pad>";
    if (id == eosId()) return "</s>";
    if (isSentinel(id)) return "<extra_id_" + (id - baseVocab - 2) + ">";
    return null;
  }

  // ---- lengths ------------------------------------------------------------------------------------

  /** Noise tokens of a row of n: round(n * density), kept in [1, n - 1]. */
  public int noiseTokens(int n) {
    checkLength(n);
    return (int) Math.min(Math.max(Math.rint(n * noiseDensity), 1), n - 1);
  }

  /** Noise spans of a row of n: round(noise / meanSpanLength), at least 1, at most min(noise, non-noise). */
  public int noiseSpans(int n) {
    int noise = noiseTokens(n);
    int spans = (int) Math.max(Math.rint(noise / meanSpanLength), 1);
    return Math.min(spans, Math.min(noise, n - noise));
  }

  /** Encoder input length of a row of n: non-noise tokens, one sentinel per span, eos. */
  public int inputLength(int n) {
    return n - noiseTokens(n) + noiseSpans(n) + 1;
  }

  /** Decoder target length of a row of n: noise tokens, one sentinel per span, eos. */
  public int targetLength(int n) {
    return noiseTokens(n) + noiseSpans(n) + 1;
  }

  /** The longest raw row whose inputs fit maxInputs and whose targets fit maxTargets (T5's random_spans_helper). */
  public int rawLengthFor(int maxInputs, int maxTargets) {
    int best = -1;
    // Inputs keep at least the n - noise tokens, about n (1 - density): longer rows cannot fit.
    int limit = (int) Math.min(1 << 24, Math.ceil(maxInputs / (1 - noiseDensity)) + 4);
    for (int n = 2; n <= limit; n++) {
      if (inputLength(n) <= maxInputs && targetLength(n) <= maxTargets && noiseSpans(n) <= sentinels) best = n;
    }
    if (best < 0) {
      throw new IllegalArgumentException("span corruption: no row fits " + maxInputs + " inputs and " + maxTargets + " targets");
    }
    return best;
  }

  // ---- the noise mask and the corruption ----------------------------------------------------------

  /** T5's random_spans_noise_mask: true marks noise; starts with non-noise, ends with noise. */
  public boolean[] noiseMask(int n, SplittableRandom rng) {
    int noise = noiseTokens(n);
    int spans = noiseSpans(n);
    int[] noiseLengths = randomSegmentation(noise, spans, rng);
    int[] keepLengths = randomSegmentation(n - noise, spans, rng);
    boolean[] mask = new boolean[n];
    int at = 0;
    for (int s = 0; s < spans; s++) {
      at += keepLengths[s];
      for (int j = 0; j < noiseLengths[s]; j++) mask[at++] = true;
    }
    return mask;
  }

  /** items split into segments random pieces, each >= 1: segments - 1 distinct cuts among items - 1 gaps. */
  static int[] randomSegmentation(int items, int segments, SplittableRandom rng) {
    if (segments < 1 || segments > items) {
      throw new IllegalArgumentException("cannot split " + items + " items into " + segments + " non-empty segments");
    }
    int[] gaps = new int[items - 1];
    for (int i = 0; i < gaps.length; i++) gaps[i] = i + 1;
    for (int i = 0; i < segments - 1; i++) {                 // partial Fisher-Yates: the first segments-1 are the cuts
      int j = i + rng.nextInt(gaps.length - i);
      int t = gaps[i];
      gaps[i] = gaps[j];
      gaps[j] = t;
    }
    int[] cuts = Arrays.copyOf(gaps, segments - 1);
    Arrays.sort(cuts);
    int[] lengths = new int[segments];
    int prev = 0;
    for (int i = 0; i < segments - 1; i++) {
      lengths[i] = cuts[i] - prev;
      prev = cuts[i];
    }
    lengths[segments - 1] = items - prev;
    return lengths;
  }

  /** Corrupts tokens (ids in [0, baseVocab)) with a fresh noise mask. */
  public Example corrupt(int[] tokens, SplittableRandom rng) {
    for (int t : tokens) {
      if (t < 0 || t >= baseVocab) throw new IllegalArgumentException("span corruption: token " + t + " outside [0, " + baseVocab + ")");
    }
    return apply(tokens, noiseMask(tokens.length, rng));
  }

  /** Inputs and targets of tokens under a given noise mask (true = noise). */
  public Example apply(int[] tokens, boolean[] mask) {
    if (mask.length != tokens.length) {
      throw new IllegalArgumentException("span corruption: mask of " + mask.length + " for " + tokens.length + " tokens");
    }
    int[] in = new int[tokens.length + 1];
    int[] out = new int[tokens.length + sentinels + 1];
    int ni = 0, no = 0, span = 0;
    for (int i = 0; i < tokens.length; i++) {
      if (mask[i] && (i == 0 || !mask[i - 1])) {
        int s = sentinel(span++);
        in[ni++] = s;
        out[no++] = s;
      }
      if (mask[i]) out[no++] = tokens[i];
      else in[ni++] = tokens[i];
    }
    in[ni++] = eosId();
    out[no++] = eosId();
    return new Example(Arrays.copyOf(in, ni), Arrays.copyOf(out, no));
  }

  /** The text an example was made from: each sentinel in inputs replaced by what follows it in targets. */
  public int[] reconstruct(int[] inputs, int[] targets) {
    List<int[]> spans = new ArrayList<>();
    int i = 0;
    while (i < targets.length && targets[i] != eosId()) {
      if (!isSentinel(targets[i]) || targets[i] != sentinel(spans.size())) {
        throw new IllegalArgumentException("targets: expected <extra_id_" + spans.size() + "> at " + i + ", got " + targets[i]);
      }
      int from = ++i;
      while (i < targets.length && targets[i] != eosId() && !isSentinel(targets[i])) i++;
      spans.add(Arrays.copyOfRange(targets, from, i));
    }
    int[] out = new int[inputs.length + targets.length];
    int n = 0;
    for (int id : inputs) {
      if (id == eosId()) break;
      if (isSentinel(id)) {
        int k = id - sentinel(0);
        if (k >= spans.size()) throw new IllegalArgumentException("inputs: <extra_id_" + k + "> has no span in the targets");
        for (int t : spans.get(k)) out[n++] = t;
      } else {
        out[n++] = id;
      }
    }
    return Arrays.copyOf(out, n);
  }

  /** ids as text: runs of tokenizer ids decoded, special ids by name ({@code <extra_id_0>}, {@code </s>}). */
  public String render(int[] ids, Tokenizer tokenizer) {
    StringBuilder b = new StringBuilder();
    int from = 0;
    for (int i = 0; i <= ids.length; i++) {
      String special = i < ids.length ? specialName(ids[i]) : "";
      if (special == null) continue;
      if (i > from) b.append(tokenizer.decode(Arrays.copyOfRange(ids, from, i)));
      b.append(special);
      from = i + 1;
    }
    return b.toString();
  }

  private static void checkLength(int n) {
    if (n < 2) throw new IllegalArgumentException("span corruption: a row needs at least 2 tokens, got " + n);
  }
}
