package ai.anvil.train.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunReportTest {
  /** A run folder as finetune leaves it: metrics (steps 1..n, evals every 5), summary, config. */
  private static Path run(Path dir, String method, int steps, double accuracy) throws Exception {
    Files.createDirectories(dir);
    StringBuilder m = new StringBuilder();
    for (int s = 1; s <= steps; s++) {
      m.append("{\"event\":\"step\",\"step\":").append(s).append(",\"loss\":").append(2.0 / s).append("}\n");
      if (s % 5 == 0) m.append("{\"event\":\"eval\",\"step\":").append(s).append(",\"val_loss\":").append(2.5 / s).append("}\n");
    }
    Files.writeString(dir.resolve("metrics.jsonl"), m.toString());
    Files.writeString(dir.resolve("summary.json"), "{\"method\": \"" + method + "\", \"test_accuracy\": " + accuracy
        + ", \"trainable_params\": 74498, \"note\": \"<b>&\"}");
    Files.writeString(dir.resolve("finetune_config.json"), "{\"lr\": 0.002, \"method\": \"" + method + "\"}");
    return dir;
  }

  private static int count(String s, String regex) {
    Matcher m = Pattern.compile(regex).matcher(s);
    int n = 0;
    while (m.find()) n++;
    return n;
  }

  @Test
  void aRunPageHasItsCurvesResultsAndSettingsAndNeedsNoNetwork(@TempDir Path tmp) throws Exception {
    Path r = run(tmp.resolve("lora"), "lora", 20, 0.912);
    Files.writeString(r.resolve("fewshot.jsonl"), "{\"k\":0,\"test_accuracy\":0.5}\n{\"k\":4,\"test_accuracy\":0.55}\n");
    List<Path> pages = RunReport.write(r);
    assertEquals(List.of(r.resolve("report.html")), pages);
    String html = Files.readString(pages.get(0));
    assertTrue(html.startsWith("<!DOCTYPE html>"));
    // Two curves: train with 20 points, val with 4 (circles drawn for both, fewer than 40 points each).
    assertEquals(2, count(html, "<polyline"));
    assertEquals(24, count(html, "<circle"));
    assertTrue(html.contains("<td>test_accuracy</td><td>0.9120</td>"), html);
    assertTrue(html.contains("<td>trainable_params</td><td>74,498</td>"));
    assertTrue(html.contains("&lt;b&gt;&amp;"), "escaped");
    assertTrue(html.contains("fewshot.jsonl") && html.contains("<td>0.5500</td>"));
    assertTrue(html.contains("Settings (finetune_config.json)"));
    // Offline: no scripts, no links out, no external resources (the SVG namespace is a name, not a fetch).
    assertFalse(html.contains("<script"));
    assertEquals(0, count(html.replace("xmlns=\"http://www.w3.org/2000/svg\"", ""), "https?://"));
  }

  @Test
  void aFolderOfRunsGetsAComparison(@TempDir Path tmp) throws Exception {
    run(tmp.resolve("full"), "full", 10, 0.7);
    run(tmp.resolve("lora"), "lora", 10, 0.8);
    Files.createDirectories(tmp.resolve("not-a-run"));
    List<Path> pages = RunReport.write(tmp);
    assertEquals(List.of(tmp.resolve("full/report.html"), tmp.resolve("lora/report.html"), tmp.resolve("report.html")), pages);
    String html = Files.readString(tmp.resolve("report.html"));
    // One row per run, columns in the comparison order (method before test_accuracy before trainable_params).
    assertTrue(html.contains("<tr><td>full</td><td>full</td><td>0.7000</td><td>74,498</td></tr>"), html);
    assertTrue(html.contains("<tr><td>lora</td><td>lora</td><td>0.8000</td><td>74,498</td></tr>"));
    assertTrue(html.contains("href=\"lora/report.html\""));
    assertEquals(4, count(html, "<polyline"), "val and train curves of both runs");
    assertThrows(IllegalArgumentException.class, () -> RunReport.write(tmp.resolve("not-a-run")));
  }

  @Test
  void ticksAreRoundAndCoverTheRange() {
    assertArrayEquals(new double[] {0, 0.5, 1, 1.5, 2, 2.5}, SvgChart.ticks(0.1, 2.4), 1e-12);
    assertArrayEquals(new double[] {0, 50, 100, 150, 200, 250, 300}, SvgChart.ticks(1, 300), 1e-12);
    String chart = SvgChart.render("t", "x", "y", List.of(new SvgChart.Series("a", List.of(new double[] {1, 0.1}, new double[] {2, 2.4}))));
    assertTrue(chart.contains(">0.5</text>") && chart.contains(">2.5</text>") && !chart.contains("0.500"), chart);
    String empty = SvgChart.render("t", "x", "y", List.of(new SvgChart.Series("a", List.of(new double[] {1, Double.NaN}))));
    assertTrue(empty.contains("no data"));
  }
}
