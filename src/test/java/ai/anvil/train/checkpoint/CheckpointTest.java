package ai.anvil.train.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.io.Safetensors;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;
import ai.anvil.train.RandomState;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
  private static final CharTokenizer TOKENIZER = CharTokenizer.of("abcdefghijklmnopqrstuvwxyz ,.\n");
  private static final TrainConfig CONFIG = TrainConfig.defaults().with(Map.of("n_layer", 1, "n_head", 2, "n_embd", 16,
      "block_size", 8, "batch_size", 2, "max_steps", 10, "eval_iters", 2, "eval_interval", 5));

  @TempDir Path dir;

  private static Gpt model() {
    return new Gpt(GptConfig.of(1, 2, 16, 8, TOKENIZER.vocabSize()), 3, Device.CPU);
  }

  private static Trainer trainer(Gpt gpt) {
    return new Trainer(gpt, gpt::loss, CONFIG, new Random(1), new Random(2), RandomState.NONE);
  }

  @Test
  void writesHuggingFaceLayoutAndRestoresEverything() throws IOException {
    Path saved;
    float[] m, weights;
    try (Gpt gpt = model(); Trainer t = trainer(gpt)) {
      for (int i = 0; i < 3; i++) t.step();
      saved = Checkpoint.save(dir, gpt, TOKENIZER, t);
      m = t.optimizer().firstMoment("transformer.h.0.attn.c_attn.weight").toFloatArray();
      weights = gpt.namedParameters().get("transformer.h.0.mlp.c_fc.weight").value().toFloatArray();
    }
    assertEquals(dir.resolve("checkpoint"), saved);
    for (String f : new String[] {"config.json", "model.safetensors", "tokenizer.json", "train_config.json",
        "training_state.safetensors"}) {
      assertTrue(Files.isRegularFile(saved.resolve(f)), f);
    }
    try (Safetensors.Reader r = Safetensors.Reader.open(saved.resolve("model.safetensors"))) {
      // Conv1D (in, out) and the unpadded vocabulary, as Hugging Face stores GPT-2.
      assertArrayEquals(new long[] {16, 48}, r.entry("transformer.h.0.attn.c_attn.weight").shape());
      assertArrayEquals(new long[] {TOKENIZER.vocabSize(), 16}, r.entry("transformer.wte.weight").shape());
    }
    assertEquals(CONFIG, Checkpoint.loadTrainConfig(saved));
    assertEquals(TOKENIZER.characters(), ((CharTokenizer) Checkpoint.loadTokenizer(saved)).characters());

    try (Gpt gpt = model(); Trainer t = trainer(gpt)) {
      Checkpoint.restore(Checkpoint.resolve(dir), gpt, t);
      assertEquals(3, t.state().step());
      assertEquals(3, t.optimizer().steps());
      assertArrayEquals(new long[] {1, 3}, t.state().dataCursor());
      assertArrayEquals(m, t.optimizer().firstMoment("transformer.h.0.attn.c_attn.weight").toFloatArray());
      assertArrayEquals(weights, gpt.namedParameters().get("transformer.h.0.mlp.c_fc.weight").value().toFloatArray());
    }
  }

  /** A save that fails half way (here: writing the tokenizer) leaves the previous checkpoint as it was. */
  @Test
  void aFailedSaveKeepsThePreviousCheckpoint() throws IOException {
    Tokenizer failing = new FailingTokenizer();
    float[] before;
    try (Gpt gpt = model(); Trainer t = trainer(gpt)) {
      t.step();
      Checkpoint.save(dir, gpt, TOKENIZER, t);
      before = gpt.namedParameters().get("transformer.wte.weight").value().toFloatArray();
      t.step();
      t.step();
      IOException e = assertThrows(IOException.class, () -> Checkpoint.save(dir, gpt, failing, t));
      assertEquals("disk full (simulated)", e.getMessage());
    }
    Path found = Checkpoint.resolve(dir);
    assertEquals(dir.resolve("checkpoint"), found);
    try (Gpt gpt = model(); Trainer t = trainer(gpt)) {
      Checkpoint.restore(found, gpt, t);
      assertEquals(1, t.state().step(), "the step-1 checkpoint survived");
      float[] wte = gpt.namedParameters().get("transformer.wte.weight").value().toFloatArray();
      // the padded rows are zero in a fresh model and not stored; compare the real rows
      for (int i = 0; i < TOKENIZER.vocabSize() * 16; i++) assertEquals(before[i], wte[i], 0.0);
    }
  }

  /**
   * A crash after the old folder was renamed aside but before the new one took its place leaves
   * checkpoint.prev complete and checkpoint.tmp possibly partial; resolve finds the previous one.
   */
  @Test
  void aCrashBetweenTheRenamesIsRecovered() throws IOException {
    try (Gpt gpt = model(); Trainer t = trainer(gpt)) {
      t.step();
      Checkpoint.save(dir, gpt, TOKENIZER, t);
    }
    Files.move(dir.resolve("checkpoint"), dir.resolve("checkpoint.prev"));
    Files.createDirectories(dir.resolve("checkpoint.tmp"));
    Files.writeString(dir.resolve("checkpoint.tmp/config.json"), "{\"n_layer\":");
    assertEquals(dir.resolve("checkpoint.prev"), Checkpoint.resolve(dir));
    assertEquals(dir.resolve("checkpoint.prev"), Checkpoint.resolve(dir.resolve("checkpoint")));
    try (Gpt gpt = model(); Trainer t = trainer(gpt)) {
      Checkpoint.restore(Checkpoint.resolve(dir), gpt, t);
      assertEquals(1, t.state().step());
      t.step();
      // A save that fails in this state must not touch the only complete checkpoint, .prev.
      assertThrows(IOException.class, () -> Checkpoint.save(dir, gpt, new FailingTokenizer(), t));
      assertEquals(dir.resolve("checkpoint.prev"), Checkpoint.resolve(dir));
      // Nor may the swap itself: here its rename fails, as a crash at that point would leave things.
      assertThrows(IOException.class, () -> Checkpoint.publish(dir.resolve("vanished.tmp"), dir.resolve("checkpoint"),
          dir.resolve("checkpoint.prev")));
      assertEquals(dir.resolve("checkpoint.prev"), Checkpoint.resolve(dir));
      // The next good save takes its place and cleans both leftovers up.
      Checkpoint.save(dir, gpt, TOKENIZER, t);
    }
    assertFalse(Files.exists(dir.resolve("checkpoint.prev")));
    assertFalse(Files.exists(dir.resolve("checkpoint.tmp")));
    assertEquals(dir.resolve("checkpoint"), Checkpoint.resolve(dir));
  }

  @Test
  void refusesIncompleteFolders() throws IOException {
    Files.createDirectories(dir.resolve("checkpoint"));
    Files.writeString(dir.resolve("checkpoint/config.json"), "{}");
    assertThrows(IOException.class, () -> Checkpoint.resolve(dir));
  }

  @Test
  void refusesMomentsOfAnotherParameterSet() throws IOException {
    try (Gpt gpt = model(); Trainer t = trainer(gpt)) {
      t.step();
      Checkpoint.save(dir, gpt, TOKENIZER, t);
    }
    try (Gpt gpt = model()) {
      for (Map.Entry<String, Parameter> e : gpt.namedParameters().entrySet()) {
        if (e.getKey().contains("ln_f")) e.getValue().setTrainable(false);
      }
      try (Trainer t = trainer(gpt)) {
        IOException e = assertThrows(IOException.class, () -> Checkpoint.restore(Checkpoint.resolve(dir), gpt, t));
        assertTrue(e.getMessage().contains("moment"), e.getMessage());
      }
    }
  }

  /** Random windows over a fixed random token stream. */
  static final class Random implements BatchSource {
    private static final int[] TOKENS = new SplittableRandom(9).ints(2000, 0, TOKENIZER.vocabSize()).toArray();
    private final long seed;
    private long draws;

    Random(long seed) {
      this.seed = seed;
    }

    @Override
    public Batch next() {
      SplittableRandom r = new SplittableRandom(seed * 1000003 + draws++);
      int[] in = new int[16], tg = new int[16];
      for (int row = 0; row < 2; row++) {
        int s = r.nextInt(TOKENS.length - 9);
        System.arraycopy(TOKENS, s, in, row * 8, 8);
        System.arraycopy(TOKENS, s + 1, tg, row * 8, 8);
      }
      return new Batch(2, 8, in, tg);
    }

    @Override
    public long[] cursor() {
      return new long[] {seed, draws};
    }

    @Override
    public void restore(long[] cursor) {
      if (cursor[0] != seed) throw new IllegalArgumentException("cursor of another seed");
      draws = cursor[1];
    }
  }

  /** Writes half a file, then fails, as a full disk would. */
  static final class FailingTokenizer implements Tokenizer {
    @Override
    public int[] encode(String text) {
      return TOKENIZER.encode(text);
    }

    @Override
    public String decode(int[] ids) {
      return TOKENIZER.decode(ids);
    }

    @Override
    public int vocabSize() {
      return TOKENIZER.vocabSize();
    }

    @Override
    public void save(Path file) throws IOException {
      Files.writeString(file, "{\"type\": \"ch");
      throw new IOException("disk full (simulated)");
    }
  }
}
