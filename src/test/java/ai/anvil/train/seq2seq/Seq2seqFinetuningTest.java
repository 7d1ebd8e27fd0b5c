package ai.anvil.train.seq2seq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.masking.SpanCorruption;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.models.t5.T5;
import ai.anvil.models.t5.T5Config;
import ai.anvil.tensor.Device;
import ai.anvil.testkit.OneCpuThread;
import ai.anvil.train.TrainListener;
import ai.anvil.train.report.MetricsLog;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quick version of issue 11's KJV to WEB task: a tiny T5 (random weights, char vocabulary of the pairs)
 * fine-tuned on 757 short verse pairs (src/test/resources/data/kjv-web), Job validating and John tested.
 * Full fine-tuning and LoRA each bring the validation target loss well below the best context-free guess;
 * LoRA trains only its A and B matrices and leaves the base untouched; the test verses are decoded and
 * scored with the copy baseline beside them.
 */
@ExtendWith(OneCpuThread.class)
class Seq2seqFinetuningTest {
  private static final Path DATA = Path.of("src/test/resources/data/kjv-web");
  /** A random 2+2-layer T5 over the characters of both files, saved as a span run would save it. */
  private static Path base(Path dir) throws Exception {
    String text = Files.readString(DATA.resolve("kjv.tsv"), StandardCharsets.UTF_8)
        + Files.readString(DATA.resolve("web.tsv"), StandardCharsets.UTF_8);
    CharTokenizer tok = CharTokenizer.fromText(text);
    SpanCorruption spans = SpanCorruption.t5(tok.vocabSize());
    T5Config c = T5Config.of(spans.vocabSize(), 64, 4, 2, 72, spans.padId(), spans.eosId());
    try (T5 model = new T5(c, 5, Device.CPU)) {
      return Seq2seqCheckpoint.save(dir, model, tok, null);
    }
  }

  private static Seq2seqConfig config(Path base, String method, Path out) {
    return new Seq2seqConfig(DATA.resolve("kjv.tsv").toString(), DATA.resolve("web.tsv").toString(), base.toString(),
        method, 8, 16, List.of("q", "v"), List.of("Job"), List.of("John"), 64, 16, 240, 3e-3, 20, 120, 6, 16, 7,
        "cpu", 1, out.toString());
  }

  /** Cross-entropy of the validation targets under the train targets' character frequencies (add-one). */
  private static double unigramLoss(Path out) throws Exception {
    List<String> lines = Files.readAllLines(DATA.resolve("web.tsv"), StandardCharsets.UTF_8);
    double[] counts = new double[1 << 16];
    Arrays.fill(counts, 1);
    double total = counts.length;
    for (String l : lines) {
      String[] f = l.split("\t");
      if (f[0].equals("Job") || f[0].equals("John")) continue;
      for (char ch : (f[3] + "\0").toCharArray()) {                  // \0 stands for eos
        counts[ch]++;
        total++;
      }
    }
    double loss = 0;
    long n = 0;
    for (String l : lines) {
      String[] f = l.split("\t");
      if (!f[0].equals("Job")) continue;
      for (char ch : (f[3] + "\0").toCharArray()) {
        loss -= Math.log(counts[ch] / total);
        n++;
      }
    }
    return loss / n;
  }

  @Test
  void fullAndLoraLearnTheTaskAndAreScoredAgainstCopying(@TempDir Path dir) throws Exception {
    Path base = base(dir.resolve("base"));
    double unigram = unigramLoss(dir);

    Seq2seqFinetuning.Outcome full = Seq2seqFinetuning.run(config(base, "full", dir.resolve("full")), new TrainListener() {});
    List<double[]> val = MetricsLog.read(dir.resolve("full/metrics.jsonl")).val();
    double last = val.get(val.size() - 1)[1];
    assertTrue(last < unigram - 0.4, "full: val target loss " + last + " vs unigram " + unigram);
    assertEquals(full.totalParameters(), full.trainableParameters());
    assertEquals(16, full.testPairs());
    assertTrue(full.trainPairs() > 500 && full.valPairs() > 90, full.summary().toString());
    // KJV and WEB share most words: copying scores well, and the scorer says so.
    assertTrue(full.copy().bleu() > 10 && full.copy().rougeL() > 40, full.copy().toString());
    assertTrue(full.model().bleu() >= 0 && full.model().rougeL() >= 0);
    assertEquals(17, Files.readAllLines(dir.resolve("full/predictions.tsv")).size());
    assertTrue(Files.isRegularFile(dir.resolve("full/checkpoint/model.safetensors")));
    assertTrue(Files.readString(dir.resolve("full/summary.json")).contains("\"copy_baseline\""));

    Seq2seqFinetuning.Outcome lora = Seq2seqFinetuning.run(config(base, "lora", dir.resolve("lora")), new TrainListener() {});
    T5Config c = Seq2seqCheckpoint.loadModel(base, Device.CPU).config();
    // q and v of 2 encoder self-attentions, 2 decoder self- and 2 cross-attentions: 12 layers of r (in + out).
    assertEquals(12L * 8 * (c.dModel() + c.dModel()), lora.trainableParameters());
    List<double[]> lv = MetricsLog.read(dir.resolve("lora/metrics.jsonl")).val();
    assertTrue(lv.get(lv.size() - 1)[1] < lv.get(0)[1], "lora val loss falls: " + lv.get(0)[1] + " -> " + lv.get(lv.size() - 1)[1]);
    assertTrue(Files.isRegularFile(dir.resolve("lora/adapter/adapter_model.safetensors")));
    assertTrue(Files.readString(dir.resolve("lora/adapter/adapter_config.json")).contains("SEQ_2_SEQ_LM"));
    // The saved adapter (and the full run's checkpoint), loaded again, decode the test verses as the runs did.
    assertEquals(lora.model(), Seq2seqFinetuning.retest(config(base, "lora", dir.resolve("lora")))[0]);
    assertEquals(full.model(), Seq2seqFinetuning.retest(config(base, "full", dir.resolve("full")))[0]);

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Seq2seqFinetuning.run(
        new Seq2seqConfig(DATA.resolve("kjv.tsv").toString(), DATA.resolve("web.tsv").toString(), base.toString(), "full", 8,
            16, List.of("q"), List.of("Job"), List.of("Jonah"), 64, 16, 1, 1e-3, 0, 1, 1, 1, 1, "cpu", 1,
            dir.resolve("bad").toString()), new TrainListener() {}));
    assertTrue(e.getMessage().contains("Jonah"), e.getMessage());
  }
}
