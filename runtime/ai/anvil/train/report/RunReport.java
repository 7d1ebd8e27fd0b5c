package ai.anvil.train.report;

import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Self-contained HTML pages for people, one per run folder, viewable offline (inline SVG, inline CSS,
 * no script, no link out). A run folder is one holding {@code metrics.jsonl}; its page
 * ({@code RUN/report.html}) shows the train and val loss curves, the run's final figures
 * ({@code summary.json}, as {@code finetune} and {@code pretrain} print them last), every other JSON-lines
 * file of the folder as a table (few-shot results, say), and its settings ({@code *_config.json}).
 * A folder whose sub-folders are runs gets a comparison page ({@code DIR/report.html}): one row of
 * figures per run (the method comparison) and every run's curves on shared axes.
 */
public final class RunReport {
  public static final String PAGE = "report.html";
  static final String METRICS = "metrics.jsonl";
  static final String SUMMARY = "summary.json";
  /** The figures of the comparison table, in this order, when any run has them. */
  static final List<String> COMPARE = List.of("method", "steps", "test_accuracy", "test_macro_f1", "test_positive_f1", "accuracy",
      "baseline_accuracy", "majority_accuracy", "chance", "best_val_loss", "baseline_val_loss", "heldout_ppl_before",
      "heldout_ppl_after", "trainable_params", "trainable_share", "wall_seconds", "k", "truncated_prompts");

  private RunReport() {}

  /** True when dir holds a run's metrics. */
  public static boolean isRun(Path dir) {
    return Files.isRegularFile(dir.resolve(METRICS));
  }

  /**
   * Writes the pages for dir: its own page if it is a run, one page for each sub-folder that is a run,
   * and a comparison page when it has such sub-folders. Returns the pages written.
   */
  public static List<Path> write(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) throw new IllegalArgumentException(dir + " is not a folder");
    List<Path> runs = new ArrayList<>();
    try (Stream<Path> s = Files.list(dir)) {
      s.filter(Files::isDirectory).filter(RunReport::isRun).sorted().forEach(runs::add);
    }
    List<Path> pages = new ArrayList<>();
    for (Path r : runs) pages.add(writeRun(r));
    if (isRun(dir)) {
      pages.add(writeRun(dir));
    } else if (!runs.isEmpty()) {
      pages.add(writeComparison(dir, runs));
    } else {
      throw new IllegalArgumentException(dir + " holds no run: no " + METRICS + " in it or in a folder under it");
    }
    return pages;
  }

  /** The page of one run folder. */
  static Path writeRun(Path run) throws IOException {
    StringBuilder b = head(run.getFileName().toString());
    Map<String, Object> summary = readObject(run.resolve(SUMMARY));
    if (summary != null) b.append("<h2>Results</h2>").append(Html.keyValues(summary));
    MetricsLog.Curves c = MetricsLog.read(run.resolve(METRICS));
    b.append("<h2>Loss</h2>")
        .append(SvgChart.render("train and val loss", "step", "loss",
            List.of(new SvgChart.Series("train", c.train()), new SvgChart.Series("val", c.val()))));
    for (Path table : jsonLines(run)) {
      b.append("<h2>").append(Html.escape(table.getFileName().toString())).append("</h2>")
          .append(Html.rows(null, null, readLines(table), null));
    }
    for (Path cfg : configs(run)) {
      Map<String, Object> m = readObject(cfg);
      if (m != null) {
        b.append("<h2>Settings (").append(Html.escape(cfg.getFileName().toString())).append(")</h2>").append(Html.keyValues(m));
      }
    }
    return finish(b, run.resolve(PAGE));
  }

  /** The comparison page of a folder of runs. */
  static Path writeComparison(Path dir, List<Path> runs) throws IOException {
    StringBuilder b = head(dir.getFileName() + ": " + runs.size() + " runs");
    List<String> names = new ArrayList<>();
    List<Map<String, Object>> rows = new ArrayList<>();
    List<SvgChart.Series> train = new ArrayList<>(), val = new ArrayList<>();
    for (Path r : runs) {
      String name = r.getFileName().toString();
      Map<String, Object> s = readObject(r.resolve(SUMMARY));
      names.add(name);
      rows.add(s == null ? Map.of() : s);
      MetricsLog.Curves c = MetricsLog.read(r.resolve(METRICS));
      train.add(new SvgChart.Series(name, c.train()));
      val.add(new SvgChart.Series(name, c.val()));
    }
    b.append("<h2>Comparison</h2>").append(Html.rows(names, "run", rows, COMPARE));
    b.append("<h2>Loss</h2>").append(SvgChart.render("val loss", "step", "loss", val))
        .append(SvgChart.render("train loss", "step", "loss", train));
    b.append("<h2>Runs</h2><ul>");
    for (String n : names) b.append("<li><a href=\"").append(Html.escape(n)).append('/').append(PAGE).append("\">")
        .append(Html.escape(n)).append("</a></li>");
    b.append("</ul>");
    for (Path table : jsonLines(dir)) {
      b.append("<h2>").append(Html.escape(table.getFileName().toString())).append("</h2>")
          .append(Html.rows(null, null, readLines(table), null));
    }
    return finish(b, dir.resolve(PAGE));
  }

  private static StringBuilder head(String title) {
    return new StringBuilder("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>").append(Html.escape(title))
        .append("</title><style>").append(Html.STYLE).append("</style></head><body><h1>").append(Html.escape(title)).append("</h1>");
  }

  private static Path finish(StringBuilder b, Path page) throws IOException {
    b.append("<p class=\"muted\">written by anvil report</p></body></html>\n");
    AtomicFiles.writeString(page, b.toString());
    return page;
  }

  /** JSON-lines files of a folder other than the metrics, by name. */
  private static List<Path> jsonLines(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(".jsonl") && !p.getFileName().toString().equals(METRICS))
          .filter(Files::isRegularFile).sorted().toList();
    }
  }

  private static List<Path> configs(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith("_config.json")).sorted().toList();
    }
  }

  private static Map<String, Object> readObject(Path file) throws IOException {
    if (!Files.isRegularFile(file)) return null;
    try {
      return Json.parseObject(Files.readString(file, StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  private static List<Map<String, Object>> readLines(Path file) throws IOException {
    List<Map<String, Object>> out = new ArrayList<>();
    int n = 0;
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      n++;
      if (line.isBlank()) continue;
      try {
        out.add(new LinkedHashMap<>(Json.parseObject(line)));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(file + ":" + n + ": " + e.getMessage(), e);
      }
    }
    return out;
  }
}
