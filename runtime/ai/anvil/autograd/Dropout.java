package ai.anvil.autograd;

import ai.anvil.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * Inverted dropout as a composition of existing ops: out = x * mask, where mask holds 0 with
 * probability p and 1/(1-p) otherwise, drawn on the host from a seed (so a run is reproducible from
 * its seeds, on any device). The backward is Ops.mul's: dx = dout * mask.
 *
 * <p>Cost: one host draw per element and one copy of the mask to the device. That is fine for the CPU
 * and small models; a fused native kernel would avoid the mask tensor and belongs here if dropout ever
 * shows in a profile.
 */
public final class Dropout {
  private Dropout() {}

  /** x (...) -> (...) with elements zeroed at rate p and the rest scaled by 1/(1-p); p = 0 returns x. */
  public static Tensor apply(Tensor x, double p, long seed) {
    if (!(p >= 0 && p < 1)) throw new IllegalArgumentException("dropout: p must be in [0, 1), got " + p);
    if (p == 0) return x;
    // A bf16 activation (a linear's output under Autocast) drops out in fp32: an fp32 mask rounded to
    // bf16 would scale by a rounded 1/(1-p), and the result joins the fp32 residual stream anyway.
    if (x.dtype() == ai.anvil.tensor.DType.BF16) x = Ops.cast(x, ai.anvil.tensor.DType.F32);
    float[] mask = mask(Math.toIntExact(x.numel()), p, seed);
    Tensor m = Tensor.of(mask, x.device(), x.dims());
    if (m.dtype() != x.dtype()) {
      throw new IllegalArgumentException("dropout: " + x.dtype() + " inputs are not supported (fp32 masks only)");
    }
    return Ops.mul(x, m);
  }

  /** The mask apply(x, p, seed) uses: n values, each 0 (probability p) or 1/(1-p). */
  public static float[] mask(int n, double p, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    float keep = (float) (1.0 / (1.0 - p));
    float[] mask = new float[n];
    for (int i = 0; i < n; i++) mask[i] = random.nextDouble() < p ? 0f : keep;
    return mask;
  }
}
