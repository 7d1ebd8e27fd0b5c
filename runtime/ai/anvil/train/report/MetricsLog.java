package ai.anvil.train.report;

import ai.anvil.io.Json;
import ai.anvil.train.TrainListener;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Training metrics as JSON lines, one object per event, appended (a resumed run continues the file):
 *
 * <pre>
 * {"event":"step","step":1,"loss":4.17,"lr":1e-05,"grad_norm":3.2,"tokens":768,"train_seconds":0.04,"tokens_per_s":19000.0}
 * {"event":"eval","step":250,"val_loss":2.31,"perplexity":10.1,"best_val_loss":2.31}
 * {"event":"skip","step":17,"reason":"loss is NaN"}
 * </pre>
 */
public final class MetricsLog implements TrainListener, AutoCloseable {
  private final BufferedWriter out;

  public MetricsLog(Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    this.out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

  @Override
  public void onStep(StepReport r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("event", "step");
    m.put("step", r.step());
    m.put("loss", r.loss());
    m.put("lr", r.lr());
    m.put("grad_norm", r.gradNorm());
    m.put("tokens", r.tokens());
    m.put("train_seconds", r.trainSeconds());
    m.put("tokens_per_s", r.tokensPerSecond());
    line(m, false);
  }

  @Override
  public void onEval(EvalReport r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("event", "eval");
    m.put("step", r.step());
    m.put("val_loss", r.valLoss());
    m.put("perplexity", r.perplexity());
    m.put("best_val_loss", r.bestValLoss());
    line(m, true);
  }

  @Override
  public void onSkip(long step, String reason) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("event", "skip");
    m.put("step", step);
    m.put("reason", reason);
    line(m, true);
  }

  private void line(Map<String, Object> m, boolean flush) {
    try {
      out.write(Json.write(m));
      out.write('\n');
      if (flush) out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write metrics", e);
    }
  }

  @Override
  public void close() throws IOException {
    out.close();
  }

  /** (step, value) series read back from a metrics file. */
  public record Curves(List<double[]> train, List<double[]> val) {}

  /**
   * The train and val loss series of a metrics file. When a resumed run repeated steps (a crash after
   * the last checkpoint), the later line of a step wins.
   */
  public static Curves read(Path file) throws IOException {
    TreeMap<Long, Double> train = new TreeMap<>(), val = new TreeMap<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (line.isBlank()) continue;
      Map<String, Object> m;
      try {
        m = Json.parseObject(line);
      } catch (IllegalArgumentException e) {
        continue; // a line cut short by a crash
      }
      String event = Json.getString(m, "event", "");
      long step = Json.getLong(m, "step", -1);
      if (event.equals("step") && m.get("loss") != null) train.put(step, Json.getDouble(m, "loss", Double.NaN));
      if (event.equals("eval") && m.get("val_loss") != null) val.put(step, Json.getDouble(m, "val_loss", Double.NaN));
    }
    return new Curves(series(train), series(val));
  }

  private static List<double[]> series(TreeMap<Long, Double> map) {
    List<double[]> out = new ArrayList<>();
    map.forEach((k, v) -> out.add(new double[] {k, v}));
    return out;
  }
}
