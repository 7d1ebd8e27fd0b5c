package ai.anvil.cli;

import static ai.anvil.cli.InProcessCli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.io.Json;
import ai.anvil.peft.AdapterFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code anvil finetune}: flags, the trainable share line, the adapter folder and the final JSON line. */
class FinetuneCommandTest {
  @TempDir Path dir;

  private static Path resource(String name) throws Exception {
    return Path.of(FinetuneCommandTest.class.getResource(name).toURI());
  }

  @Test
  void loraRunPrintsTheTrainableShareAndEndsWithOneJsonLine() throws Exception {
    Path out = dir.resolve("run");
    Object[] r = run("finetune", "--base", resource("/finetune/kjv-char-base").toString(), "--method", "lora", "--data",
        resource("/data/sentiment/val.jsonl").toString(), "--lora-r", "4", "--lora-targets", "c_attn,c_fc", "--max-steps", "6",
        "--eval-interval", "3", "--batch-size", "8", "--threads", "2", "--device", "cpu", "--out", out.toString());
    assertEquals(0, r[0], (String) r[2]);
    List<String> lines = ((String) r[1]).lines().toList();
    assertTrue(lines.get(0).matches("lora: trainable params: [0-9,]+ \\|\\| all params: [0-9,]+ \\|\\| trainable%: [0-9.]+"), lines.get(0));
    Map<String, Object> summary = Json.parseObject(lines.get(lines.size() - 1));
    assertEquals("lora", summary.get("method"));
    assertEquals(6L, ((Number) summary.get("steps")).longValue());
    assertTrue(((Number) summary.get("trainable_share")).doubleValue() < 0.05);
    assertTrue(summary.containsKey("accuracy"));
    assertTrue(Files.isRegularFile(out.resolve("adapter").resolve(AdapterFiles.CONFIG)));
    assertTrue(Files.isRegularFile(out.resolve("metrics.jsonl")));
  }

  @Test
  void unknownMethodIsAOneLineError() throws Exception {
    Object[] r = run("finetune", "--base", "x", "--data", "y", "--method", "qlora");
    assertEquals(1, r[0]);
    assertTrue(((String) r[2]).contains("method must be one of"), (String) r[2]);
  }
}
