package ai.anvil.nn;

import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.util.SplittableRandom;

/** Seeded parameter initializers (fp32 values made on the host, then copied to the device). */
public final class Init {
  private final SplittableRandom random;

  public Init(long seed) {
    this.random = new SplittableRandom(seed);
  }

  /** Normal(0, std) of the given shape. */
  public Tensor normal(Device device, double std, long... dims) {
    int n = Math.toIntExact(ai.anvil.tensor.Shape.of(dims).numel());
    float[] v = new float[n];
    for (int i = 0; i < n; i += 2) {
      double u = Math.max(random.nextDouble(), 1e-300), w = random.nextDouble();
      double r = Math.sqrt(-2 * Math.log(u));
      v[i] = (float) (std * r * Math.cos(2 * Math.PI * w));
      if (i + 1 < n) v[i + 1] = (float) (std * r * Math.sin(2 * Math.PI * w));
    }
    return Tensor.of(v, device, dims);
  }

  /** Uniform(-bound, bound), PyTorch's default for Linear when bound = 1/sqrt(in). */
  public Tensor uniform(Device device, double bound, long... dims) {
    int n = Math.toIntExact(ai.anvil.tensor.Shape.of(dims).numel());
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
    return Tensor.of(v, device, dims);
  }

  public static Tensor constant(Device device, double value, long... dims) {
    return Tensor.full(value, ai.anvil.tensor.DType.F32, device, dims);
  }

  /** A fresh seed for a child initializer. */
  public long nextSeed() {
    return random.nextLong();
  }
}
