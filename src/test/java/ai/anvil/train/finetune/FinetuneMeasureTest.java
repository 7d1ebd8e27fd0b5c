package ai.anvil.train.finetune;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.io.Json;
import ai.anvil.train.TrainListener;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Longer runs of every method on both labels of the review sentences (topic, then sentiment), for the
 * figures reported with issue 10 (slow: minutes each; {@code -Dtest.groups=slow -Dtest.excludedGroups=}).
 * Prints one JSON summary per run; asserts only that accuracy beats the untrained base.
 */
@Tag("slow")
class FinetuneMeasureTest {
  @ParameterizedTest
  @CsvSource({"full, topic, 1e-3", "lora, topic, 5e-3", "adapter, topic, 5e-3", "prompt, topic, 5e-2", "prefix, topic, 5e-2",
      "full, label, 1e-3", "lora, label, 5e-3", "adapter, label, 5e-3", "prompt, label, 5e-2", "prefix, label, 5e-2"})
  void reviews(String method, String labelKey, double lr, @TempDir Path out) throws Exception {
    FinetuneConfig c = FinetuneFixtures.config(method, "classify", FinetuneFixtures.sentiment("train"), out)
        .with("val_data", FinetuneFixtures.sentiment("val").toString(), "label_key", labelKey, "lr", lr,
            "lora_targets", "all-linear", "max_steps", Integer.getInteger("finetune.steps", 1000), "eval_interval", 100);
    Finetuning.Outcome o = Finetuning.run(c, new TrainListener() {});
    System.out.println("FINETUNE " + labelKey + " " + Json.write(o.summary()));
    assertTrue(o.accuracy() > o.baselineAccuracy(), method + " " + labelKey + ": " + o.accuracy());
  }
}
