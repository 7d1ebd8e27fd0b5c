package ai.anvil.cli;

import static ai.anvil.cli.InProcessCli.lastJson;
import static ai.anvil.cli.InProcessCli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.train.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CliTest {
  @TempDir Path dir;

  private static final String[] TINY = {"--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "16",
      "--batch-size", "4", "--eval-interval", "10", "--eval-iters", "4", "--threads", "2", "--device", "cpu",
      "--sample-tokens", "40"};

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Test
  void pretrainThenResumeThenEval() throws IOException {
    Path out = dir.resolve("run");
    Object[] first = run(concat(new String[] {"pretrain"}, concat(TINY, "--max-steps", "20", "--out", out.toString())));
    assertEquals(0, first[0], (String) first[2]);
    Map<String, Object> summary = lastJson((String) first[1]);
    for (String key : new String[] {"steps", "final_val_loss", "best_val_loss", "tokens_per_s", "train_seconds", "params",
        "checkpoint"}) {
      assertTrue(summary.containsKey(key), key + " in " + summary);
    }
    assertEquals(20L, summary.get("steps"));
    assertTrue(((String) first[1]).contains("---- sample ----"));
    assertTrue(((String) first[2]).contains("val loss"), "progress on stderr");
    assertTrue(Files.size(out.resolve("loss.png")) > 1000);
    assertEquals(22, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "20 steps and 2 evaluations");

    // Resume: the model flags come from the checkpoint; only the new step budget is given.
    Object[] resumed = run("pretrain", "--resume", out.toString(), "--max-steps", "30", "--sample-tokens", "0");
    assertEquals(0, resumed[0], (String) resumed[2]);
    Map<String, Object> s2 = lastJson((String) resumed[1]);
    assertEquals(30L, s2.get("steps"));
    assertEquals(33, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "the metrics file continues");

    Path text = dir.resolve("text.txt");
    Files.writeString(text, "In the beginning God created the heaven and the earth.\n");
    Object[] eval = run("eval", "--checkpoint", out.toString(), "--text", text.toString(), "--device", "cpu");
    assertEquals(0, eval[0], (String) eval[2]);
    Map<String, Object> e = lastJson((String) eval[1]);
    assertEquals(54L, e.get("tokens"), "55 characters: every position after the first is scored");
    double loss = ((Number) e.get("loss")).doubleValue();
    assertEquals(Math.exp(loss), ((Number) e.get("perplexity")).doubleValue(), 1e-9 * Math.exp(loss));
    assertTrue(loss > 0 && loss < 4.5, "loss " + loss);

    Object[] gen = run("generate", "--checkpoint", out.resolve("checkpoint").toString(), "--prompt", "And", "--max-tokens", "20",
        "--device", "cpu");
    assertEquals(0, gen[0], (String) gen[2]);
    assertTrue(((String) gen[1]).startsWith("And"));
  }

  @Test
  void settingsLayerDefaultsThenConfigFileThenFlags() throws IOException {
    Path file = dir.resolve("c.json");
    Files.writeString(file, "{\"n_layer\": 6, \"lr\": 3e-4, \"batch_size\": 16}");
    PretrainCommand cmd = new PretrainCommand();
    new CommandLine(cmd).parseArgs("--config", file.toString(), "--batch-size", "8", "--grad-clip", "0");
    TrainConfig c = cmd.resolveConfig();
    assertEquals(6, c.nLayer(), "from the file");
    assertEquals(3e-4, c.lr(), "from the file");
    assertEquals(8, c.batchSize(), "the flag wins over the file");
    assertEquals(0.0, c.gradClip());
    assertEquals(TrainConfig.defaults().nEmbd(), c.nEmbd(), "untouched keys keep the defaults");
    assertNull(c.resume());
  }

  @Test
  void everyIssueFlagExists() {
    CommandLine cli = new CommandLine(new PretrainCommand());
    for (String flag : new String[] {"--corpus", "--tokenizer", "--n-layer", "--n-head", "--n-embd", "--block-size",
        "--batch-size", "--grad-accum", "--lr", "--min-lr", "--warmup-steps", "--max-steps", "--grad-clip", "--weight-decay",
        "--dropout", "--eval-interval", "--eval-iters", "--seed", "--device", "--threads", "--out", "--resume", "--config"}) {
      assertTrue(cli.getCommandSpec().findOption(flag) != null, flag);
    }
    // Every flag but --config and the process-group flags (how ranks meet, not what is trained) maps onto a TrainConfig key.
    Map<String, Object> keys = TrainConfig.defaults().toMap();
    for (CommandLine.Model.OptionSpec o : cli.getCommandSpec().options()) {
      String name = o.longestName();
      if (name.equals("--config") || o.usageHelp() || o.versionHelp() || DistributedOptions.NAMES.contains(name)) continue;
      assertTrue(keys.containsKey(name.substring(2).replace('-', '_')), name);
    }
  }

  @Test
  void everyCommandHasHelp() {
    for (String cmd : new String[] {"pretrain", "eval", "generate", "fetch", "info"}) {
      Object[] r = run(cmd, "--help");
      assertEquals(0, r[0], cmd);
      assertTrue(((String) r[1]).contains("Usage: anvil " + cmd), (String) r[1]);
    }
  }

  @Test
  void badFlagsFailWithOneLine() {
    Object[] r = run("pretrain", "--n-embd", "130", "--out", dir.resolve("x").toString());
    assertEquals(1, r[0]);
    assertTrue(((String) r[2]).contains("n_head"), (String) r[2]);
    Object[] missing = run("eval", "--checkpoint", dir.resolve("none").toString(), "--text", "x");
    assertEquals(1, missing[0]);
    assertTrue(((String) missing[2]).contains("no complete checkpoint"), (String) missing[2]);
  }

  @Test
  void infoRunsTheSelfCheck() {
    Object[] r = run("info");
    assertEquals(0, r[0], (String) r[1] + r[2]);
    assertTrue(((String) r[1]).contains("self-check cpu: matmul"), (String) r[1]);
    assertTrue(((String) r[1]).contains("cuda:"), (String) r[1]);
  }
}
