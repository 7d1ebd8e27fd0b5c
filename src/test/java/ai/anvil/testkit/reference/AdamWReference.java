package ai.anvil.testkit.reference;

import ai.anvil.backend.AdamWStep;

/**
 * One AdamW step in fp64, exactly the formula of anvil.h: the oracle for native/cpu/adamw.cpp.
 * g = grad * gradScale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr wd p (when decay);
 * p -= lr (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps).
 */
public final class AdamWReference {
  private AdamWReference() {}

  /** Updates p, m, v in place. */
  public static void step(double[] p, double[] grad, double[] m, double[] v, boolean decay, AdamWStep s) {
    double bias1 = 1 - Math.pow(s.beta1(), s.step()), bias2 = 1 - Math.pow(s.beta2(), s.step());
    for (int i = 0; i < p.length; i++) {
      double g = grad[i] * s.gradScale();
      m[i] = s.beta1() * m[i] + (1 - s.beta1()) * g;
      v[i] = s.beta2() * v[i] + (1 - s.beta2()) * g * g;
      if (decay) p[i] -= s.lr() * s.weightDecay() * p[i];
      p[i] -= s.lr() * (m[i] / bias1) / (Math.sqrt(v[i] / bias2) + s.eps());
    }
  }
}
