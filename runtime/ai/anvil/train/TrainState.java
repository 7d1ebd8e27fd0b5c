package ai.anvil.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The trainer's own state, everything besides weights and optimizer moments that a resumed run needs
 * to continue exactly: steps done, the data cursor, the model's RNG, and the early-stopping record.
 *
 * @param step optimizer steps done (skipped steps included)
 * @param bestValLoss lowest val loss so far (NaN before the first evaluation)
 * @param lastValLoss val loss of the latest evaluation (NaN before the first)
 * @param evalsWithoutImprovement evaluations since the best one, for patience
 * @param trainSeconds training time so far, evaluation and checkpoints left out
 * @param tokens training tokens consumed so far
 * @param skipped steps skipped for a non-finite loss or gradient norm
 * @param dataCursor the training BatchSource's cursor
 * @param rng the model's random state (dropout), empty when it has none
 */
public record TrainState(long step, double bestValLoss, double lastValLoss, int evalsWithoutImprovement,
                         double trainSeconds, long tokens, long skipped, long[] dataCursor, long[] rng) {

  public static TrainState initial(long[] dataCursor, long[] rng) {
    return new TrainState(0, Double.NaN, Double.NaN, 0, 0.0, 0, 0, dataCursor, rng);
  }

  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("step", step);
    m.put("best_val_loss", Double.isNaN(bestValLoss) ? null : bestValLoss);
    m.put("last_val_loss", Double.isNaN(lastValLoss) ? null : lastValLoss);
    m.put("evals_without_improvement", evalsWithoutImprovement);
    m.put("train_seconds", trainSeconds);
    m.put("tokens", tokens);
    m.put("skipped", skipped);
    // Longs as strings: the cursor holds full 64-bit RNG words that a JSON number would round.
    m.put("data_cursor", strings(dataCursor));
    m.put("rng", strings(rng));
    return m;
  }

  public static TrainState fromMap(Map<String, Object> m) {
    return new TrainState(num(m, "step").longValue(), nanIfNull(m.get("best_val_loss")), nanIfNull(m.get("last_val_loss")),
        num(m, "evals_without_improvement").intValue(), num(m, "train_seconds").doubleValue(),
        num(m, "tokens").longValue(), num(m, "skipped").longValue(), longs(m.get("data_cursor")), longs(m.get("rng")));
  }

  private static Number num(Map<String, Object> m, String key) {
    Object v = m.get(key);
    if (!(v instanceof Number n)) throw new IllegalArgumentException("training state: '" + key + "' missing or not a number");
    return n;
  }

  private static double nanIfNull(Object v) {
    return v == null ? Double.NaN : ((Number) v).doubleValue();
  }

  private static List<Object> strings(long[] values) {
    List<Object> out = new ArrayList<>();
    for (long v : values) out.add(Long.toString(v));
    return out;
  }

  private static long[] longs(Object v) {
    if (!(v instanceof List<?> list)) throw new IllegalArgumentException("training state: expected a list, got " + v);
    long[] out = new long[list.size()];
    for (int i = 0; i < out.length; i++) out[i] = Long.parseLong(String.valueOf(list.get(i)));
    return out;
  }
}
