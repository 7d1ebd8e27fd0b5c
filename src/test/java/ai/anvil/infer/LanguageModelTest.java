package ai.anvil.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptCheckpoint;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The service facade: loading a checkpoint folder, and concurrent calls equal to serial ones. */
class LanguageModelTest {
  private static final CharTokenizer TOKENIZER = CharTokenizer.of("abcdefghijklmnopqrstuvwxyz ,.;:!?\n");
  @TempDir static Path dir;
  private static LanguageModel lm;

  private static int threads;

  /**
   * Pinned kernel threads (DESIGN.md: serial-vs-concurrent tests pin them); 2 exercises the threaded
   * paths. The setting is per calling thread (OpenMP's), so the pool's threads set it too.
   */
  @BeforeAll
  static void checkpoint() throws IOException {
    threads = CpuBackend.threads();
    CpuBackend.setThreads(2);
    try (Gpt model = new Gpt(GptConfig.of(2, 2, 32, 32, TOKENIZER.vocabSize()), 12, Device.CPU)) {
      GptCheckpoint.save(model, dir);
    }
    TOKENIZER.save(dir.resolve(LanguageModel.TOKENIZER));
    lm = LanguageModel.load(dir, Device.CPU);
  }

  @AfterAll
  static void close() {
    CpuBackend.setThreads(threads);
    lm.close();
  }

  @Test
  void loadsTheCheckpointFolder() throws IOException {
    assertEquals(TOKENIZER.vocabSize(), lm.tokenizer().vocabSize());
    assertEquals(32, lm.model().contextLength());
    // The same weights give the same greedy text as a second load.
    try (LanguageModel again = LanguageModel.load(dir, Device.CPU)) {
      assertEquals(lm.generate("and god said", SamplingConfig.greedy(20)).text(),
          again.generate("and god said", SamplingConfig.greedy(20)).text());
    }
    Path empty = Files.createDirectories(dir.resolve("empty"));
    assertThrows(IOException.class, () -> LanguageModel.load(empty, Device.CPU));
  }

  @Test
  void scoreCountsEveryTokenButTheFirstWithoutEndOfText() {
    String text = "in the beginning god created the heaven and the earth.";
    Score s = lm.score(text);
    assertEquals(text.length() - 1, s.tokens());
    assertEquals(lm.scorer().score(TOKENIZER.encode(text)).logProb(), s.logProb(), 1e-9);
    assertEquals(text.length() - 1, lm.tokenLogProbs(text).length);
  }

  @Test
  void concurrentCallsGiveTheSerialResults() throws Exception {
    List<String> prompts = List.of("and god said", "let there be light", "in the beginning", "the earth was without form",
        "and darkness", "a", "and the spirit of god moved");
    List<SamplingConfig> configs = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      configs.add(i % 2 == 0 ? SamplingConfig.greedy(40) : SamplingConfig.sample(40, 1.0, i).withTopK(20).withTopP(0.95));
    }
    List<Generation> serial = new ArrayList<>();
    List<Double> serialScores = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      serial.add(lm.generate(prompts.get(i), configs.get(i)));
      serialScores.add(lm.score(prompts.get(i)).logProb());
    }
    ExecutorService pool = Executors.newFixedThreadPool(4, task -> new Thread(() -> {
      CpuBackend.setThreads(2);
      task.run();
    }));
    try {
      for (int round = 0; round < 3; round++) {
        List<Future<Generation>> gens = new ArrayList<>();
        List<Future<Double>> scores = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
          int k = i;
          List<String> streamed = new ArrayList<>();
          gens.add(pool.submit(() -> lm.generate(prompts.get(k), configs.get(k), streamed::add)));
          scores.add(pool.submit(() -> lm.score(prompts.get(k)).logProb()));
        }
        for (int i = 0; i < prompts.size(); i++) {
          Generation g = gens.get(i).get();
          assertArrayEquals(serial.get(i).tokens(), g.tokens(), "prompt " + i + " round " + round);
          assertEquals(serial.get(i).text(), g.text());
          assertEquals(serialScores.get(i), scores.get(i).get());
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
