package ai.anvil.train.finetune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.data.tokenizer.WordPieceTokenizer;
import ai.anvil.io.Safetensors;
import ai.anvil.models.heads.HeadCheckpoint;
import ai.anvil.models.heads.SequenceClassifier;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.TrainListener;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Classification with a head on a BERT body ({@code finetune --task classify} on a BERT folder), on a
 * tiny randomly initialized encoder with the real uncased WordPiece vocabulary, telling product from
 * restaurant reviews (the sentiment fixture's topic). The real run, all-MiniLM-L6-v2 on sentiment, is
 * a documented command (README, bench/RESULTS.md "Real tasks"); it takes minutes, this seconds.
 */
class EncoderFinetuningTest {
  @TempDir static Path shared;
  static Path base;
  /** The first 100 of the fixture's 200 val sentences (49 product): val and test set alike, to keep the test short. */
  static Path val;
  /** Full fine-tuning of the tiny encoder, 40 steps: checked below, and the LoRA test's base. */
  static Finetuning.Outcome full;

  /** 2 layers, 32 wide, no dropout, 64 positions; the tokenizer of the tests' bert-uncased folder. */
  @BeforeAll
  static void tinyEncoder() throws Exception {
    base = FinetuneFixtures.tinyBert(shared);
    val = FinetuneFixtures.val100(shared);
    full = Finetuning.run(config("full", shared.resolve("full")).with("lr", 3e-3, "max_steps", 40, "eval_interval", 40),
        new TrainListener() {});
    System.out.println("encoder full " + ai.anvil.io.Json.write(full.summary()));
  }

  private static FinetuneConfig config(String method, Path out) {
    return FinetuneConfig.defaults(base.toString(), method, "classify", FinetuneFixtures.sentiment("train").toString())
        .with("val_data", val.toString(), "test_data", val.toString(),
            "label_key", "topic", "block_size", 48, "device", "cpu", "threads", 2, "out", out.toString());
  }

  @Test
  void fullFineTuningLearnsTheTopicAndReportsTestScores() throws Exception {
    Finetuning.Outcome o = full;
    assertEquals(1.0, o.trainableShare());
    assertTrue(o.bestValLoss() < 0.9 * o.baselineValLoss(), "val loss " + o.baselineValLoss() + " -> " + o.bestValLoss());
    assertTrue(o.test().accuracy() >= 0.7, "test accuracy " + o.test().accuracy());
    // The majority baseline is the training set's most frequent topic, scored on the test set.
    List<Examples.Example> train = Examples.read(FinetuneFixtures.sentiment("train"), "topic");
    List<Examples.Example> test = Examples.read(val, "topic");
    long product = train.stream().filter(e -> e.label().equals("product")).count();
    String majority = product * 2 >= train.size() ? "product" : "restaurant";
    assertEquals(majority, o.test().majorityLabel());
    assertEquals(test.stream().filter(e -> e.label().equals(majority)).count() / (double) test.size(), o.test().majorityAccuracy(), 1e-12);
    assertEquals(0.5, o.test().chance());
    assertEquals(o.accuracy(), o.test().accuracy(), 1e-12, "val and test are the same file here");
    assertTrue(Files.isRegularFile(o.out().resolve("summary.json")));
    assertTrue(Files.readString(o.adapter().resolve("labels.json")).contains("\"restaurant\""));
    // The best weights were saved as an HF BertForSequenceClassification folder: loaded back, they give the reported accuracy.
    WordPieceTokenizer tokenizer = WordPieceTokenizer.fromHuggingFace(o.adapter().resolve("tokenizer.json"));
    try (SequenceClassifier head = HeadCheckpoint.loadSequenceClassifier(o.adapter(), Device.CPU)) {
      head.train(false);
      assertEquals(List.of("product", "restaurant"), head.labels());
      int right = 0;
      for (Examples.Example e : test) {
        try (Tape.NoGrad ng = Tape.noGrad(); Scope scope = Scope.open()) {
          int[] ids = tokenizer.encode(e.text(), 48);
          int p = head.predict(Tensor.ofInts(ids, Device.CPU, 1, ids.length), null)[0];
          if (head.labels().get(p).equals(e.label())) right++;
        }
      }
      assertEquals(o.test().accuracy(), right / (double) test.size(), 1e-12);
    }
  }

  @Test
  void loraOnABodyThatKnowsTheTaskTrainsOnlyItsTermsAndANewHead(@TempDir Path out) throws Exception {
    // The base is the full run's best weights, an HF BertForSequenceClassification folder: its body reads
    // as a base, its head is replaced by a new one. A random body would give LoRA nothing to work with.
    FinetuneConfig c = config("lora", out).with("base", full.adapter().toString(), "lr", 3e-3, "max_steps", 20, "eval_interval", 10,
        "warmup_steps", 2, "lora_targets", "query,value");
    Finetuning.Outcome o = Finetuning.run(c, new TrainListener() {});
    System.out.println("encoder lora " + ai.anvil.io.Json.write(o.summary()));
    // 2 layers x 2 targets x r 8 x (32 + 32), plus the head 2 x 32 + 2
    assertEquals(2 * 2 * 8 * 64 + 66, o.trainableParams());
    assertTrue(o.bestValLoss() < 0.9 * o.baselineValLoss(), "val loss " + o.baselineValLoss() + " -> " + o.bestValLoss());
    assertTrue(o.test().accuracy() >= 0.7, "test accuracy " + o.test().accuracy());
    try (Safetensors.Reader r = Safetensors.Reader.open(o.adapter().resolve("classifier.safetensors"))) {
      for (String name : r.entries().keySet()) assertTrue(name.startsWith("lora.") || name.startsWith("head.classifier."), name);
      assertEquals(2 * 2 * 2 + 2, r.entries().size());
    }
  }

  @Test
  void aGptBodyTakesAHeadToo(@TempDir Path out) throws Exception {
    // --head on the tests' KJV char-level GPT: mean pooling and GPT-2's bias-free score layer.
    FinetuneConfig c = FinetuneFixtures.config("full", "classify", FinetuneFixtures.sentiment("train"), out)
        .with("head", true, "val_data", val.toString(), "test_data", val.toString(), "label_key", "topic", "lr", 3e-3,
            "max_steps", 200, "eval_interval", 100);
    Finetuning.Outcome o = Finetuning.run(c, new TrainListener() {});
    System.out.println("gpt head " + ai.anvil.io.Json.write(o.summary()));
    assertEquals(212_352 + 2 * 64, o.totalParams());
    // measured: val loss 0.700 -> 0.634, accuracy 0.44 -> 0.66 (deterministic)
    assertTrue(o.bestValLoss() < 0.95 * o.baselineValLoss(), "val loss " + o.baselineValLoss() + " -> " + o.bestValLoss());
    assertTrue(o.test().accuracy() >= 0.6, "test accuracy " + o.test().accuracy());
    assertTrue(Files.readString(o.adapter().resolve("labels.json")).contains("\"mean\""));
    assertThrows(IllegalArgumentException.class, () -> Finetuning.run(c.with("method", "head", "train_head", false), null));
  }

  @Test
  void refusesWhatAnEncoderCannotDo(@TempDir Path out) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Finetuning.run(config("full", out).with("train_head", false), null));
    assertTrue(e.getMessage().contains("train_head false"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Finetuning.run(config("full", out).with("task", "text"), null));
    assertTrue(e.getMessage().contains("task classify"), e.getMessage());
  }
}
