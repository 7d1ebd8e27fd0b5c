package ai.anvil.train;

/**
 * Learning rate per optimizer step: linear warmup from peak/warmup to peak over the first warmup steps,
 * then a half cosine from peak down to floor at step total, and floor after that.
 *
 * <pre>
 *   s &lt; warmup:          peak * (s + 1) / warmup
 *   warmup &lt;= s &lt; total: floor + (peak - floor) * (1 + cos(pi * (s - warmup) / (total - warmup))) / 2
 *   s &gt;= total:          floor
 * </pre>
 * s is the 0-based index of the update, so the first update already moves the weights.
 */
public record LrSchedule(double peak, double floor, long warmup, long total) {
  public LrSchedule {
    if (!(peak >= 0) || !Double.isFinite(peak)) throw new IllegalArgumentException("lr must be finite and >= 0, got " + peak);
    if (!(floor >= 0) || floor > peak) {
      throw new IllegalArgumentException("min lr must be in [0, lr=" + peak + "], got " + floor);
    }
    if (warmup < 0) throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmup);
    if (total < 1) throw new IllegalArgumentException("max steps must be >= 1, got " + total);
  }

  /** The rate for 0-based update step s. */
  public double at(long s) {
    if (s < 0) throw new IllegalArgumentException("step must be >= 0, got " + s);
    if (s < warmup) return peak * (s + 1) / warmup;
    if (s >= total) return floor;
    double progress = (double) (s - warmup) / Math.max(1, total - warmup);
    return floor + (peak - floor) * 0.5 * (1.0 + Math.cos(Math.PI * progress));
  }
}
