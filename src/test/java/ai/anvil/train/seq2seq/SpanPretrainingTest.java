package ai.anvil.train.seq2seq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.Corpora;
import ai.anvil.data.TokenDataset;
import ai.anvil.data.masking.SpanCorruption;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.models.t5.T5;
import ai.anvil.tensor.Device;
import ai.anvil.train.Pretraining;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainListener;
import ai.anvil.train.report.MetricsLog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tiny encoder-decoder pre-trained by span corruption on the embedded KJV: the target loss falls well. */
class SpanPretrainingTest {
  @Test
  void targetLossFallsWellOnRealText(@TempDir Path out) throws Exception {
    TrainConfig config = TrainConfig.defaults().with("objective", "span", "n_layer", 2, "n_head", 2, "n_embd", 64,
        "block_size", 48, "batch_size", 8, "max_steps", 300, "lr", 3e-3, "warmup_steps", 20, "eval_interval", 150,
        "eval_iters", 8, "device", "cpu", "threads", 1, "sample_tokens", 24, "out", out.toString(), "seed", 3);
    Pretraining.Outcome o = SpanPretraining.run(config, new TrainListener() {});
    // Chance is ln(vocabulary): the corpus's characters + pad, eos and 100 sentinels.
    assertEquals(CharTokenizer.fromText(Corpora.embeddedKjv()).vocabSize() + 2 + 100, o.vocabSize());
    List<double[]> val = MetricsLog.read(o.metrics()).val();
    assertEquals(2, val.size());
    double first = val.get(0)[1], last = val.get(1)[1];
    assertTrue(last < 0.5 * Math.log(o.vocabSize()), "val target loss " + last + " vs chance " + Math.log(o.vocabSize()));
    double unigram = unigramLoss(out, o.vocabSize());
    assertTrue(last < unigram - 0.5, "val target loss " + last + " vs " + unigram + " of the best context-free guess");
    assertTrue(last < first, "val loss falls from " + first + " to " + last);
    assertTrue(Files.isRegularFile(out.resolve("checkpoint/model.safetensors")));
    assertTrue(Files.isRegularFile(out.resolve("checkpoint/tokenizer.json")));
    assertNotNull(o.sample());
    assertTrue(o.sample().contains("<extra_id_0>"), o.sample());
    try (T5 loaded = Seq2seqCheckpoint.loadModel(out, Device.CPU)) {
      assertEquals(o.parameters(), loaded.config().parameterCount());
    }
    // eval of the saved run on the trainer's own validation windows (seed + 1, 8 batches) gives its last val loss.
    SpanEvaluation.Result eval = SpanEvaluation.evaluate(out, null, 8, 4, Device.CPU);
    assertEquals(o.result().finalValLoss(), eval.loss(), 1e-4);
    assertEquals(8L * 8 * eval.targetCols(), eval.targetTokens());
    assertThrows(UnsupportedOperationException.class,
        () -> SpanPretraining.run(config.with("resume", out.toString()), new TrainListener() {}));
  }

  /**
   * The trivial baseline: cross-entropy on val targets of the target-token frequencies of 200 train
   * batches (add-one smoothed), i.e. what a model that ignores its input and the target prefix can reach.
   */
  private static double unigramLoss(Path out, int vocab) throws Exception {
    try (TokenDataset data = TokenDataset.open(out.resolve("tokens.shard"))) {
      SpanCorruption spans = SpanCorruption.t5(data.train().vocabSize());
      int raw = spans.rawLengthFor(48, 48);
      double[] counts = new double[vocab];
      java.util.Arrays.fill(counts, 1);
      double total = vocab;
      SpanBatches train = new SpanBatches(data.train(), spans, 8, raw, 1);
      for (int i = 0; i < 200; i++) {
        for (int t : train.next().targets()) {
          counts[t]++;
          total++;
        }
      }
      SpanBatches val = new SpanBatches(data.val(), spans, 8, raw, 2);
      double loss = 0;
      long n = 0;
      for (int i = 0; i < 8; i++) {
        for (int t : val.next().targets()) {
          loss -= Math.log(counts[t] / total);
          n++;
        }
      }
      return loss / n;
    }
  }
}
