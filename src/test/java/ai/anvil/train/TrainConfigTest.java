package ai.anvil.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainConfigTest {
  @TempDir Path dir;

  @Test
  void defaultsAreTheCpuSmallRecipe() {
    TrainConfig c = TrainConfig.defaults();
    assertEquals(4, c.nLayer());
    assertEquals(4, c.nHead());
    assertEquals(128, c.nEmbd());
    assertEquals(64, c.blockSize());
    assertEquals(12, c.batchSize());
    assertEquals(1e-3, c.lr());
    assertEquals(1e-4, c.minLrOrDefault(), 1e-18);
    assertEquals(0.99, c.beta2());
    assertEquals(100, c.warmupSteps());
    assertEquals(2000, c.maxSteps());
    assertEquals(50, c.evalIters());
    assertEquals("char", c.tokenizer());
    assertNull(c.corpus());
  }

  @Test
  void savesAndLoadsEveryKey() throws IOException {
    TrainConfig c = TrainConfig.defaults().with(Map.of("corpus", "x.txt", "min_lr", 5e-5, "seed", 7L, "resume", "r"));
    Path f = dir.resolve("c.json");
    c.save(f);
    assertEquals(c, TrainConfig.load(f));
    String text = Files.readString(f);
    for (String key : new String[] {"n_layer", "batch_size", "grad_accum", "warmup_steps", "eval_iters", "min_lr"}) {
      assertTrue(text.contains("\"" + key + "\""), key);
    }
  }

  @Test
  void partialFilesOverlayTheDefaults() throws IOException {
    Path f = dir.resolve("p.json");
    Files.writeString(f, "{\"n_layer\": 6, \"lr\": 3e-4, \"device\": \"cpu\"}");
    TrainConfig c = TrainConfig.load(f);
    assertEquals(6, c.nLayer());
    assertEquals(3e-4, c.lr());
    assertEquals(3e-5, c.minLrOrDefault(), 1e-18);
    assertEquals(TrainConfig.defaults().batchSize(), c.batchSize());
  }

  @Test
  void errorsNameTheKey() {
    IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
        () -> TrainConfig.defaults().with(Map.of("n_layers", 3)));
    assertTrue(unknown.getMessage().contains("n_layers"));
    IllegalArgumentException type = assertThrows(IllegalArgumentException.class,
        () -> TrainConfig.defaults().with(Map.of("n_layer", 2.5)));
    assertTrue(type.getMessage().contains("n_layer"));
    IllegalArgumentException range = assertThrows(IllegalArgumentException.class,
        () -> TrainConfig.defaults().with(Map.of("n_embd", 130)));
    assertTrue(range.getMessage().contains("n_head"));
  }

  @Test
  void objectiveSettingsDefaultToClmAndAreChecked() {
    TrainConfig c = TrainConfig.defaults();
    assertEquals("clm", c.objective());
    assertEquals(0.15, c.maskProbability());
    assertEquals(0.15, c.noiseDensity());
    assertEquals(3.0, c.meanSpanLength());
    assertNull(c.init());
    assertEquals("mlm", c.with("objective", "mlm").objective());
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> c.with("objective", "mask"));
    assertTrue(bad.getMessage().contains("objective"), bad.getMessage());
    assertThrows(IllegalArgumentException.class, () -> c.with("mask_probability", 0.0));
    assertThrows(IllegalArgumentException.class, () -> c.with("noise_density", 1.0));
    assertThrows(IllegalArgumentException.class, () -> c.with("mean_span_length", 0.5));
    IllegalArgumentException both = assertThrows(IllegalArgumentException.class, () -> c.with("init", "a", "resume", "b"));
    assertTrue(both.getMessage().contains("init"), both.getMessage());
  }
}
