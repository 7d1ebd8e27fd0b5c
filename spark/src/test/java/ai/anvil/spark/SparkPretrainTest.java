package ai.anvil.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The spark-submit command line: pretrain's flags become TrainConfig keys; bad input names itself. */
class SparkPretrainTest {
  @Test
  void flagsAreTrainConfigKeys() throws Exception {
    SparkPretrain.Args a = SparkPretrain.parse(new String[] {"--world", "4", "--batch-size", "6", "--n-layer", "2",
        "--lr", "3e-4", "--dist-timeout", "60", "--out", "/shared/run", "--bias", "false"});
    assertEquals(4, a.world());
    assertEquals(Duration.ofSeconds(60), a.timeout());
    assertEquals(6, a.config().batchSize());
    assertEquals(2, a.config().nLayer());
    assertEquals(3e-4, a.config().lr());
    assertEquals("/shared/run", a.config().out());
    assertEquals(false, a.config().bias());
  }

  @Test
  void badInputIsRefused() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SparkPretrain.parse(new String[] {"--batch-size", "6"}))
        .getMessage().contains("--world"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SparkPretrain.parse(new String[] {"--world", "two"}))
        .getMessage().contains("--world must be an integer"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SparkPretrain.parse(new String[] {"--world", "2", "--nope", "1"}))
        .getMessage().contains("unknown training setting 'nope'"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SparkPretrain.parse(new String[] {"--world"}))
        .getMessage().contains("without a value"));
  }
}
