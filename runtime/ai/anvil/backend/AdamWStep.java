package ai.anvil.backend;

/**
 * Hyper-parameters of one AdamW update.
 *
 * @param step 1-based step number, for bias correction
 * @param gradScale multiplies every gradient first (the clipping scale; 1 when not clipping)
 */
public record AdamWStep(double lr, double beta1, double beta2, double eps, double weightDecay, long step,
                        double gradScale) {
  public AdamWStep {
    if (!(lr >= 0) || !Double.isFinite(lr)) throw new IllegalArgumentException("adamw: lr must be finite and >= 0, got " + lr);
    if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("adamw: beta1 must be in [0, 1), got " + beta1);
    if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("adamw: beta2 must be in [0, 1), got " + beta2);
    if (!(eps > 0)) throw new IllegalArgumentException("adamw: eps must be > 0, got " + eps);
    if (!(weightDecay >= 0)) throw new IllegalArgumentException("adamw: weight decay must be >= 0, got " + weightDecay);
    if (step < 1) throw new IllegalArgumentException("adamw: step is 1-based, got " + step);
    if (!Double.isFinite(gradScale)) throw new IllegalArgumentException("adamw: gradScale must be finite, got " + gradScale);
  }
}
