package ai.anvil.cli;

import static ai.anvil.cli.InProcessCli.lastJson;
import static ai.anvil.cli.InProcessCli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.io.Json;
import ai.anvil.models.bert.BertCheckpoint;
import ai.anvil.models.bert.BertForMaskedLM;
import ai.anvil.tensor.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code pretrain --objective mlm} end to end (progress, metrics, plot, checkpoint, sample, final JSON
 * line), resume, {@code eval} of the masked-token loss, and {@code --init} for both objectives: a
 * continued run starts from the checkpoint's weights, not from scratch.
 */
class PretrainObjectivesCommandTest {
  @TempDir Path dir;

  private static final String[] TINY = {"--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "24",
      "--batch-size", "8", "--eval-interval", "10", "--eval-iters", "4", "--threads", "1", "--device", "cpu",
      "--sample-tokens", "1", "--lr", "3e-3", "--warmup-steps", "5"};

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static double firstTrainLoss(Path metrics) throws IOException {
    Map<String, Object> first = Json.parseObject(Files.readAllLines(metrics).get(0));
    return ((Number) first.get("loss")).doubleValue();
  }

  @Test
  void maskedLmPretrainResumeEvalAndInit() throws IOException {
    Path out = dir.resolve("mlm");
    Object[] first = run(concat(new String[] {"pretrain", "--objective", "mlm", "--mask-prob", "0.2"},
        concat(TINY, "--max-steps", "20", "--out", out.toString())));
    assertEquals(0, first[0], (String) first[2]);
    Map<String, Object> summary = lastJson((String) first[1]);
    assertEquals("mlm", summary.get("objective"));
    assertEquals(20L, summary.get("steps"));
    assertTrue(((Number) summary.get("final_val_loss")).doubleValue() < Math.log(67), summary.toString());
    assertTrue(((String) first[1]).contains("[MASK]"), "the fill-mask sample: " + first[1]);
    assertTrue(((String) first[2]).contains("val loss"), "progress on stderr");
    assertTrue(Files.size(out.resolve("loss.png")) > 1000);
    assertEquals(22, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "20 steps and 2 evaluations");
    assertTrue(Files.readString(out.resolve("train_config.json")).contains("\"mask_probability\": 0.2"));
    try (BertForMaskedLM hf = BertCheckpoint.loadMaskedLM(out.resolve("checkpoint"), Device.CPU)) {
      assertEquals(32, hf.config().hiddenSize());
    }

    Object[] resumed = run("pretrain", "--resume", out.toString(), "--max-steps", "30", "--sample-tokens", "0");
    assertEquals(0, resumed[0], (String) resumed[2]);
    assertEquals(30L, lastJson((String) resumed[1]).get("steps"));
    assertEquals(33, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "the metrics file continues");

    Path text = dir.resolve("text.txt");
    Files.writeString(text, "In the beginning God created the heaven and the earth.\nAnd God said, Let there be light.\n");
    Object[] eval = run("eval", "--checkpoint", out.toString(), "--text", text.toString(), "--device", "cpu");
    assertEquals(0, eval[0], (String) eval[2]);
    Map<String, Object> e = lastJson((String) eval[1]);
    assertEquals("mlm", e.get("objective"));
    assertTrue(((Number) e.get("masked_tokens")).longValue() > 0, e.toString());
    assertEquals(5L, e.get("rows"), "lines of 55 and 33 characters in pieces of 22");
    Object[] again = run("eval", "--checkpoint", out.toString(), "--text", text.toString(), "--device", "cpu");
    assertEquals(e, lastJson((String) again[1]), "same seed, same masks, same loss");

    // Domain-adaptive continuation: starts from the trained weights (its first loss is the trained model's).
    Path more = dir.resolve("mlm-more");
    Object[] cont = run("pretrain", "--objective", "mlm", "--init", out.toString(), "--max-steps", "5", "--eval-interval", "5",
        "--eval-iters", "2", "--block-size", "24", "--batch-size", "8", "--threads", "1", "--device", "cpu",
        "--sample-tokens", "0", "--out", more.toString());
    assertEquals(0, cont[0], (String) cont[2]);
    assertTrue(firstTrainLoss(more.resolve("metrics.jsonl")) < firstTrainLoss(out.resolve("metrics.jsonl")) - 0.3,
        "init starts from the checkpoint");
    // The continued run resumes like any other: resuming drops init (the checkpoint is where it goes on from).
    Object[] resumedMore = run("pretrain", "--resume", more.toString(), "--max-steps", "8");
    assertEquals(0, resumedMore[0], (String) resumedMore[2]);
    assertEquals(8L, lastJson((String) resumedMore[1]).get("steps"));
  }

  /** pretrain --objective span reaches the T5 run; eval finds the objective from the checkpoint's model type. */
  @Test
  void spanObjectiveRunsAndEvaluates() throws IOException {
    Path out = dir.resolve("span");
    Object[] first = run(concat(new String[] {"pretrain", "--objective", "span"}, concat(TINY, "--max-steps", "6",
        "--out", out.toString())));
    assertEquals(0, first[0], (String) first[2]);
    Map<String, Object> summary = lastJson((String) first[1]);
    assertEquals("span", summary.get("objective"));
    assertEquals(6L, summary.get("steps"));
    Object[] eval = run("eval", "--checkpoint", out.toString(), "--batches", "2", "--device", "cpu");
    assertEquals(0, eval[0], (String) eval[2]);
    Map<String, Object> e = lastJson((String) eval[1]);
    assertEquals("span", e.get("objective"));
    assertTrue(((Number) e.get("target_tokens")).longValue() > 0, e.toString());
  }

  @Test
  void causalInitContinuesFromTheCheckpoint() throws IOException {
    Path out = dir.resolve("clm");
    Object[] first = run(concat(new String[] {"pretrain"}, concat(TINY, "--max-steps", "30", "--out", out.toString())));
    assertEquals(0, first[0], (String) first[2]);
    Path more = dir.resolve("clm-more");
    Object[] cont = run("pretrain", "--init", out.toString(), "--max-steps", "5", "--eval-interval", "5", "--eval-iters", "2",
        "--block-size", "24", "--batch-size", "8", "--threads", "1", "--device", "cpu", "--sample-tokens", "0",
        "--out", more.toString());
    assertEquals(0, cont[0], (String) cont[2]);
    assertEquals("clm", lastJson((String) cont[1]).get("objective"));
    assertTrue(firstTrainLoss(more.resolve("metrics.jsonl")) < firstTrainLoss(out.resolve("metrics.jsonl")) - 0.5,
        "init starts from the checkpoint");
    Object[] both = run("pretrain", "--init", out.toString(), "--resume", out.toString());
    assertTrue((int) both[0] != 0);
    assertTrue(((String) both[2]).contains("init and resume"), (String) both[2]);
  }
}
