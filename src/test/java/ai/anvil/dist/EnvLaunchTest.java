package ai.anvil.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.io.Json;
import ai.anvil.train.Pretraining;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainListener;
import java.io.File;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * torchrun's contract end to end: two {@code anvil pretrain --distributed env} processes (separate JVMs,
 * RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT in their environments) train one model; rank 0 reports and
 * matches one in-process run with the 2-rank global batch. A process missing a variable fails naming it.
 */
class EnvLaunchTest {
  @TempDir Path dir;

  @BeforeAll
  static void needGloo() {
    Assumptions.assumeTrue(GlooGroup.unavailableReason() == null, GlooGroup.unavailableReason());
  }

  private static final String[] FLAGS = {"--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "16",
      "--max-steps", "6", "--warmup-steps", "2", "--eval-interval", "6", "--eval-iters", "2", "--threads", "1",
      "--device", "cpu", "--sample-tokens", "0"};

  private static Process launch(Path out, Path log, Map<String, String> env, String... extra) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx512m", "-cp", System.getProperty("java.class.path"), "ai.anvil.cli.Main", "pretrain"));
    cmd.addAll(List.of(FLAGS));
    cmd.addAll(List.of("--out", out.toString(), "--distributed", "env"));
    cmd.addAll(List.of(extra));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    for (String k : List.of("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")) pb.environment().remove(k);
    pb.environment().putAll(env);
    return pb.start();
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void twoProcessesTrainOneModel() throws Exception {
    Path out = dir.resolve("dp");
    String port = Integer.toString(freePort());
    List<Process> ranks = new ArrayList<>();
    for (int r = 0; r < 2; r++) {
      ranks.add(launch(out, dir.resolve("rank" + r + ".log"), Map.of("RANK", "" + r, "WORLD_SIZE", "2",
          "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", port), "--batch-size", "4"));
    }
    for (int r = 0; r < 2; r++) {
      assertTrue(ranks.get(r).waitFor(120, TimeUnit.SECONDS), "rank " + r + " finished");
      String log = Files.readString(dir.resolve("rank" + r + ".log"), StandardCharsets.UTF_8);
      assertEquals(0, ranks.get(r).exitValue(), "rank " + r + ":\n" + log);
    }
    List<String> lines = Files.readAllLines(dir.resolve("rank0.log"), StandardCharsets.UTF_8);
    Map<String, Object> summary = Json.parseObject(lines.get(lines.size() - 1));
    assertEquals(6, ((Number) summary.get("steps")).intValue());

    TrainConfig single = TrainConfig.defaults().with("n_layer", 1, "n_head", 2, "n_embd", 32, "block_size", 16,
        "max_steps", 6, "warmup_steps", 2, "eval_interval", 6, "eval_iters", 2, "threads", 1, "device", "cpu",
        "sample_tokens", 0, "batch_size", 8, "out", dir.resolve("single").toString());
    double expected = Pretraining.run(single, new TrainListener() {}).result().finalValLoss();
    assertEquals(expected, ((Number) summary.get("final_val_loss")).doubleValue(), 5e-6);
  }

  @Test
  void aMissingVariableIsNamed() throws Exception {
    Path log = dir.resolve("bad.log");
    Process p = launch(dir.resolve("bad"), log, Map.of("RANK", "0", "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "29500"));
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertTrue(p.exitValue() != 0);
    String text = Files.readString(log, StandardCharsets.UTF_8);
    assertTrue(text.contains("WORLD_SIZE is not set"), text);
    assertTrue(new File(dir.toFile(), "bad").listFiles() == null, "nothing was written before the rendezvous failed");
  }
}
