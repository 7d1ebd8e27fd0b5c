package ai.anvil.infer;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from one row of logits, as {@link SamplingConfig} says: greedy, or temperature,
 * then top-k, then top-p (the order of Hugging Face's and nanoGPT's samplers), then one seeded draw.
 * One sampler per generation: it owns the random stream, so it is not shared between threads.
 */
public final class Sampler {
  private final SamplingConfig config;
  private final SplittableRandom random;

  public Sampler(SamplingConfig config) {
    this.config = config;
    this.random = new SplittableRandom(config.seed());
  }

  /** The next token from logits[offset, offset + vocab): the real vocabulary of one row. */
  public int next(float[] logits, int offset, int vocab) {
    if (config.greedy()) return argmax(logits, offset, vocab);
    double[] p = distribution(logits, offset, vocab, config.temperature(), config.topK(), config.topP());
    return draw(p, random.nextDouble());
  }

  /** The lowest index of the largest of logits[offset, offset + vocab). */
  public static int argmax(float[] logits, int offset, int vocab) {
    int best = 0;
    float max = logits[offset];
    for (int i = 1; i < vocab; i++) {
      if (logits[offset + i] > max) {
        max = logits[offset + i];
        best = i;
      }
    }
    return best;
  }

  /**
   * The probabilities a draw uses (normalized, zero for filtered tokens): softmax(logits / temperature)
   * restricted to the top-k logits (ties with the k-th kept), then to the smallest set of most likely
   * tokens whose mass reaches topP (at least one token), renormalized.
   */
  public static double[] distribution(float[] logits, int offset, int vocab, double temperature, int topK, double topP) {
    if (!(temperature > 0)) throw new IllegalArgumentException("distribution needs temperature > 0, got " + temperature);
    double[] p = new double[vocab];
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i]);
    float cut = topK > 0 && topK < vocab ? kthLargest(logits, offset, vocab, topK) : Float.NEGATIVE_INFINITY;
    double sum = 0;
    for (int i = 0; i < vocab; i++) {
      float l = logits[offset + i];
      if (l < cut) continue;
      p[i] = Math.exp((l - max) / temperature);
      sum += p[i];
    }
    for (int i = 0; i < vocab; i++) p[i] /= sum;
    if (topP < 1) nucleus(p, topP);
    return p;
  }

  /**
   * Zeroes every token outside the nucleus of mass topP and renormalizes what is left. The nucleus is
   * the most likely tokens in order of probability (ties: lower id first) up to the first whose
   * cumulative mass reaches topP.
   */
  static void nucleus(double[] p, double topP) {
    int v = p.length;
    // Tokens below t hold at most v * t of the mass; with v * t < 1 - topP the nucleus lies wholly
    // among the tokens >= t, so only those are sorted (a handful, usually, instead of the vocabulary).
    double t = (1 - topP) / v * 0.5;
    int n = 0;
    for (double x : p) if (x >= t && x > 0) n++;
    double[] candidates = new double[n];
    n = 0;
    for (double x : p) if (x >= t && x > 0) candidates[n++] = x;
    Arrays.sort(candidates);
    // The probability of the last token the nucleus takes, walking down from the most likely.
    double last = candidates[0];
    double mass = 0;
    for (int i = n - 1; i >= 0; i--) {
      mass += candidates[i];
      if (mass >= topP) {
        last = candidates[i];
        break;
      }
    }
    // Keep everything above it, then tokens equal to it in id order until the mass is reached.
    mass = 0;
    for (int i = 0; i < v; i++) {
      if (p[i] > last) mass += p[i];
    }
    for (int i = 0; i < v; i++) {
      if (p[i] > last) continue;
      if (p[i] == last && mass < topP) mass += p[i];
      else p[i] = 0;
    }
    double sum = 0;
    for (double x : p) sum += x;
    for (int i = 0; i < v; i++) p[i] /= sum;
  }

  /** The index whose cumulative probability (in id order) first exceeds u in [0, 1). */
  static int draw(double[] p, double u) {
    double c = 0;
    int last = -1;
    for (int i = 0; i < p.length; i++) {
      if (p[i] == 0) continue;
      c += p[i];
      last = i;
      if (u < c) return i;
    }
    return last;
  }

  /** The k-th largest of logits[offset, offset + vocab), 1 <= k < vocab (quickselect on a copy). */
  static float kthLargest(float[] logits, int offset, int vocab, int k) {
    float[] a = Arrays.copyOfRange(logits, offset, offset + vocab);
    int target = vocab - k;   // ascending index of the k-th largest
    int lo = 0, hi = vocab - 1;
    SplittableRandom pivots = new SplittableRandom(vocab);
    while (lo < hi) {
      float pivot = a[lo + pivots.nextInt(hi - lo + 1)];
      int i = lo, j = hi;
      while (i <= j) {
        while (a[i] < pivot) i++;
        while (a[j] > pivot) j--;
        if (i <= j) {
          float tmp = a[i];
          a[i] = a[j];
          a[j] = tmp;
          i++;
          j--;
        }
      }
      if (target <= j) hi = j;
      else if (target >= i) lo = i;
      else return a[target];
    }
    return a[target];
  }
}
