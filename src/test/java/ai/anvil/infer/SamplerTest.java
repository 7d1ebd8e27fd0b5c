package ai.anvil.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.testkit.Random;
import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Greedy, temperature, top-k and top-p on distributions whose answer is known; seeded draws. */
class SamplerTest {
  private static float[] logProbs(double... p) {
    float[] out = new float[p.length];
    for (int i = 0; i < p.length; i++) out[i] = (float) Math.log(p[i]);
    return out;
  }

  private static void assertProbs(double[] expected, double[] actual) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], 1e-6, "token " + i + " of " + Arrays.toString(actual));
  }

  @Test
  void greedyTakesTheLowestIdOfTheLargest() {
    assertEquals(2, Sampler.argmax(new float[] {1, 3, 5, 5, 2}, 0, 5));
    assertEquals(1, Sampler.argmax(new float[] {9, 1, 5, 5, 2}, 1, 3));   // window [1, 4) of the row: ties -> first
    Sampler greedy = new Sampler(SamplingConfig.greedy(10));
    assertEquals(1, greedy.next(new float[] {0, 7, 7, -1}, 0, 4));
  }

  @Test
  void temperatureScalesLogits() {
    float[] l = {0f, (float) Math.log(2)};
    assertProbs(new double[] {1 / 3.0, 2 / 3.0}, Sampler.distribution(l, 0, 2, 1.0, 0, 1.0));
    assertProbs(new double[] {0.2, 0.8}, Sampler.distribution(l, 0, 2, 0.5, 0, 1.0));
    // Only the real vocabulary counts: padding columns past vocab are never considered.
    assertProbs(new double[] {1 / 3.0, 2 / 3.0}, Sampler.distribution(new float[] {0f, (float) Math.log(2), 100f}, 0, 2, 1.0, 0, 1.0));
  }

  @Test
  void topKKeepsTheKLargestAndTheirTies() {
    float[] l = {1, 2, 3, 4, 5};
    double a = Math.exp(4), b = Math.exp(5);
    assertProbs(new double[] {0, 0, 0, a / (a + b), b / (a + b)}, Sampler.distribution(l, 0, 5, 1.0, 2, 1.0));
    assertProbs(new double[] {0, 0.5, 0.5, 0}, Sampler.distribution(new float[] {1, 3, 3, 2}, 0, 4, 1.0, 1, 1.0));
    // k >= vocab is no filter.
    assertProbs(Sampler.distribution(l, 0, 5, 1.0, 0, 1.0), Sampler.distribution(l, 0, 5, 1.0, 5, 1.0));
  }

  @Test
  void topPKeepsTheSmallestNucleusReachingP() {
    float[] l = logProbs(0.5, 0.3, 0.15, 0.05);
    assertProbs(new double[] {1, 0, 0, 0}, Sampler.distribution(l, 0, 4, 1.0, 0, 0.4));
    assertProbs(new double[] {0.625, 0.375, 0, 0}, Sampler.distribution(l, 0, 4, 1.0, 0, 0.75));
    assertProbs(new double[] {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}, Sampler.distribution(l, 0, 4, 1.0, 0, 0.9));
    // Order of ids does not matter, only probability.
    float[] shuffled = logProbs(0.05, 0.3, 0.5, 0.15);
    assertProbs(new double[] {0, 0.375, 0.625, 0}, Sampler.distribution(shuffled, 0, 4, 1.0, 0, 0.75));
    // top-k first, then top-p over what is left: k=3 leaves (0.5, 0.3, 0.15)/0.95, cumulative 0.526,
    // 0.842, 1: p = 0.8 keeps two, p = 0.85 all three.
    assertProbs(new double[] {0.625, 0.375, 0, 0}, Sampler.distribution(l, 0, 4, 1.0, 3, 0.8));
    assertProbs(new double[] {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}, Sampler.distribution(l, 0, 4, 1.0, 3, 0.85));
  }

  @Test
  void topPMatchesAFullSortOnALargeVocabulary() {
    SplittableRandom r = new SplittableRandom(5);
    for (double temp : new double[] {0.3, 1.0, 3.0}) {
      float[] l = new float[5003];
      for (int i = 0; i < l.length; i++) l[i] = (float) (r.nextGaussian() * 3);
      for (double p : new double[] {0.01, 0.5, 0.9, 0.999}) {
        double[] full = Sampler.distribution(l, 0, l.length, temp, 0, 1.0);
        Integer[] order = IntStream.range(0, l.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -full[i]).thenComparingInt(i -> i));
        double[] want = new double[l.length];
        double mass = 0;
        for (int i : order) {
          want[i] = full[i];
          mass += full[i];
          if (mass >= p) break;
        }
        for (int i = 0; i < want.length; i++) want[i] /= mass;
        double[] got = Sampler.distribution(l, 0, l.length, temp, 0, p);
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-9, "temp " + temp + " p " + p + " token " + i);
      }
    }
  }

  @Test
  void kthLargestMatchesSorting() {
    SplittableRandom r = new SplittableRandom(3);
    for (int n : Random.AWKWARD) {
      float[] v = new float[n];
      for (int i = 0; i < n; i++) v[i] = r.nextInt(10) - 5;   // many ties
      float[] sorted = v.clone();
      Arrays.sort(sorted);
      for (int k = 1; k <= n; k++) assertEquals(sorted[n - k], Sampler.kthLargest(v, 0, n, k), "n " + n + " k " + k);
    }
  }

  @Test
  void drawsFollowTheDistribution() {
    float[] l = logProbs(0.1, 0.2, 0.7);
    Sampler s = new Sampler(SamplingConfig.sample(1, 1.0, 11));
    int[] counts = new int[3];
    int n = 40_000;
    for (int i = 0; i < n; i++) counts[s.next(l, 0, 3)]++;
    // Binomial standard deviation at n = 40000 is at most 0.0025: 4 sigma.
    assertEquals(0.1, counts[0] / (double) n, 0.01);
    assertEquals(0.2, counts[1] / (double) n, 0.01);
    assertEquals(0.7, counts[2] / (double) n, 0.01);
    // With top-k 1 only the most likely token is ever drawn.
    Sampler top1 = new Sampler(SamplingConfig.sample(1, 1.0, 11).withTopK(1));
    for (int i = 0; i < 1000; i++) assertEquals(2, top1.next(l, 0, 3));
  }

  @Test
  void seededDrawsRepeat() {
    float[] l = new float[100];
    for (int i = 0; i < l.length; i++) l[i] = (float) Math.sin(i);
    int[][] runs = new int[3][50];
    long[] seeds = {7, 7, 8};
    for (int r = 0; r < 3; r++) {
      Sampler s = new Sampler(SamplingConfig.sample(50, 0.9, seeds[r]).withTopP(0.95).withTopK(50));
      for (int i = 0; i < 50; i++) runs[r][i] = s.next(l, 0, l.length);
    }
    assertArrayEquals(runs[0], runs[1]);
    assertNotEquals(Arrays.toString(runs[0]), Arrays.toString(runs[2]));
  }

  @Test
  void configIsValidated() {
    assertThrows(IllegalArgumentException.class, () -> SamplingConfig.sample(1, -1, 0));
    assertThrows(IllegalArgumentException.class, () -> SamplingConfig.greedy(1).withTopP(0));
    assertThrows(IllegalArgumentException.class, () -> SamplingConfig.greedy(1).withTopP(1.5));
    assertThrows(IllegalArgumentException.class, () -> SamplingConfig.greedy(1).withTopK(-1));
    assertThrows(IllegalArgumentException.class, () -> SamplingConfig.greedy(1).withStop(""));
    assertThrows(IllegalArgumentException.class, () -> SamplingConfig.greedy(-1));
  }
}
