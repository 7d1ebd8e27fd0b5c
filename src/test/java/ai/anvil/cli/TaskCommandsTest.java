package ai.anvil.cli;

import static ai.anvil.cli.InProcessCli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.io.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code anvil fewshot}, {@code sample-quality} and {@code report} end to end on the tests' tiny KJV
 * char-level GPT and sentiment excerpt: what they print, what they write, and that report renders a
 * finetune run's folder.
 */
class TaskCommandsTest {
  @TempDir Path dir;
  static final String BASE = "src/test/resources/finetune/kjv-char-base";
  static final String VAL = "src/test/resources/data/sentiment/val.jsonl";

  @Test
  void fewshotPrintsOneLinePerKBesideTheBaselines() throws Exception {
    Path out = dir.resolve("fewshot.jsonl");
    Object[] r = run("fewshot", "--checkpoint", BASE, "--pool", VAL, "--test", VAL, "--shots", "0,1", "--limit", "12",
        "--threads", "2", "--device", "cpu", "--out", out.toString());
    assertEquals(0, r[0], (String) r[2]);
    List<String> lines = ((String) r[1]).lines().toList();
    assertEquals(2, lines.size(), (String) r[1]);
    for (int i = 0; i < 2; i++) {
      Map<String, Object> m = Json.parseObject(lines.get(i));
      assertEquals((long) i, ((Number) m.get("k")).longValue());
      assertEquals(12L, ((Number) m.get("test_examples")).longValue());
      double acc = ((Number) m.get("test_accuracy")).doubleValue();
      assertTrue(acc >= 0 && acc <= 1);
      assertEquals(0.5, ((Number) m.get("chance")).doubleValue());
      assertTrue(m.containsKey("majority_accuracy") && m.containsKey("test_macro_f1"));
    }
    assertEquals(lines, Files.readAllLines(out));
  }

  @Test
  void sampleQualityComparesSamplesWithRealText() throws Exception {
    Path text = dir.resolve("heldout.txt");
    Files.writeString(text, "And God said, Let there be light: and there was light.\n"
        + "And God saw the light, that it was good: and God divided the light from the darkness.\n"
        + "And God called the light Day, and the darkness he called Night.\n");
    Object[] r = run("sample-quality", "--checkpoint", BASE, "--text", text.toString(), "--samples", "3", "--tokens", "40",
        "--temperature", "0", "--threads", "2", "--device", "cpu");
    assertEquals(0, r[0], (String) r[2]);
    Map<String, Object> m = Json.parseObject(((String) r[1]).strip());
    assertEquals(3L, ((Number) m.get("samples")).longValue());
    for (String k : List.of("distinct_1", "distinct_2", "reference_distinct_1", "reference_distinct_2")) {
      double v = ((Number) m.get(k)).doubleValue();
      assertTrue(v > 0 && v <= 1, k + " " + v);
    }
    // Greedy decoding takes the most likely character each time: the model finds its own samples far
    // more likely than real verses.
    assertTrue(((Number) m.get("sample_perplexity")).doubleValue() < ((Number) m.get("reference_perplexity")).doubleValue(), m.toString());
  }

  @Test
  void reportRendersAFinetuneRun() throws Exception {
    Path out = dir.resolve("runs").resolve("lora");
    Object[] f = run("finetune", "--base", BASE, "--method", "lora", "--data", VAL, "--max-steps", "4", "--eval-interval", "2",
        "--batch-size", "8", "--threads", "2", "--device", "cpu", "--out", out.toString());
    assertEquals(0, f[0], (String) f[2]);
    Object[] r = run("report", dir.resolve("runs").toString());
    assertEquals(0, r[0], (String) r[2]);
    assertEquals(List.of(out.resolve("report.html").toString(), dir.resolve("runs").resolve("report.html").toString()),
        ((String) r[1]).lines().toList());
    String page = Files.readString(out.resolve("report.html"));
    assertTrue(page.contains("<polyline") && page.contains("<td>trainable_params</td>"), page);
    assertEquals(1, run("report", dir.resolve("nothing").toString())[0]);
  }
}
