package ai.anvil.testkit;

import ai.anvil.tensor.Tensor;
import java.util.SplittableRandom;

/** Seeded random inputs; {@link #AWKWARD} are the sizes that break tiling and vector edges. */
public final class Random {
  /** Sizes that are not multiples of any tile: 1, 7, 63, 65, 127 (and friends). */
  public static final int[] AWKWARD = {1, 7, 63, 65, 127};

  private final SplittableRandom random;

  public Random(long seed) {
    this.random = new SplittableRandom(seed);
  }

  /** Uniform in [-scale, scale). */
  public double[] uniform(int n, double scale) {
    double[] out = new double[n];
    for (int i = 0; i < n; i++) out[i] = (random.nextDouble() * 2 - 1) * scale;
    return out;
  }

  /** Standard normal times scale. */
  public double[] normal(int n, double scale) {
    double[] out = new double[n];
    for (int i = 0; i < n; i += 2) {
      double u = Math.max(random.nextDouble(), 1e-300), v = random.nextDouble();
      double r = Math.sqrt(-2 * Math.log(u));
      out[i] = scale * r * Math.cos(2 * Math.PI * v);
      if (i + 1 < n) out[i + 1] = scale * r * Math.sin(2 * Math.PI * v);
    }
    return out;
  }

  public int[] ints(int n, int bound) {
    int[] out = new int[n];
    for (int i = 0; i < n; i++) out[i] = random.nextInt(bound);
    return out;
  }

  public int nextInt(int bound) {
    return random.nextInt(bound);
  }

  /** fp32 copy of values rounded from fp64, so the reference sees exactly the kernel's inputs. */
  public static float[] toFloats(double[] values) {
    float[] f = new float[values.length];
    for (int i = 0; i < f.length; i++) f[i] = (float) values[i];
    return f;
  }

  /** fp64 values rounded to fp32 and back: feed these to references. */
  public static double[] roundToFloat(double[] values) {
    double[] d = new double[values.length];
    for (int i = 0; i < d.length; i++) d[i] = (float) values[i];
    return d;
  }

  /** A CPU fp32 tensor of the given values (rounded to fp32). */
  public static Tensor tensor(double[] values, long... dims) {
    return Tensor.of(toFloats(values), dims);
  }

  public static double[] toDoubles(float[] values) {
    double[] d = new double[values.length];
    for (int i = 0; i < d.length; i++) d[i] = values[i];
    return d;
  }
}
