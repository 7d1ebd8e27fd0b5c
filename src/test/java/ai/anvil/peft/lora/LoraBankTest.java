package ai.anvil.peft.lora;

import static ai.anvil.peft.TinyModels.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.models.gpt.Gpt;
import ai.anvil.peft.TinyModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many adapters on one base: a batch whose rows use different adapters (and the base alone) in one
 * forward equals running each row alone with its own adapter attached; per-request choice from
 * concurrent threads.
 */
class LoraBankTest {
  private static final int T = 6;

  /** Three adapters of different ranks and targets, saved as PEFT folders; returns their folders. */
  private static List<Path> adapters(Gpt gpt, Path dir) throws Exception {
    List<LoraConfig> configs = List.of(LoraConfig.of(4, 8), LoraConfig.of(2, 8).withTargets("c_attn", "mlp.c_proj"),
        LoraConfig.of(8, 4).withTargets(LoraConfig.ALL_LINEAR).withRsLora(true));
    List<Path> out = new ArrayList<>();
    for (int i = 0; i < configs.size(); i++) {
      try (LoraModel lora = LoraModel.attach(gpt, configs.get(i), i)) {
        LoraTest.randomize(lora, 1000 * (i + 1));
        Path p = dir.resolve("adapter" + i);
        lora.save(p);
        out.add(p);
      }
    }
    return out;
  }

  /** logits of one row with adapter folder (null: the base) attached alone. */
  private static float[] alone(Gpt gpt, Path adapter, int[] row) throws Exception {
    if (adapter == null) return TinyModels.logits(gpt, row, 1);
    try (LoraModel lora = LoraModel.load(gpt, adapter)) {
      return TinyModels.logits(gpt, row, 1);
    }
  }

  @Test
  void aMixedBatchInOneForwardEqualsEachRowAlone(@TempDir Path dir) throws Exception {
    String[] perRow = {"a1", "a0", null, "a2", "a1"};
    int rows = perRow.length;
    int[] ids = TinyModels.ids(rows * T, 42);
    try (Gpt gpt = TinyModels.gpt(21)) {
      List<Path> folders = adapters(gpt, dir);
      float[][] expected = new float[rows][];
      for (int r = 0; r < rows; r++) {
        Path folder = perRow[r] == null ? null : folders.get(perRow[r].charAt(1) - '0');
        expected[r] = alone(gpt, folder, java.util.Arrays.copyOfRange(ids, r * T, (r + 1) * T));
      }
      try (LoraBank bank = new LoraBank(gpt)) {
        for (int i = 0; i < folders.size(); i++) bank.add("a" + i, folders.get(i));
        float[] batch, cached;
        try (LoraBank.Selection s = bank.use(perRow)) {
          batch = TinyModels.logits(gpt, ids, rows);
          cached = TinyModels.decoded(gpt, ids, rows);
        }
        int v = gpt.paddedVocab() * T;
        for (int r = 0; r < rows; r++) {
          assertClose("row " + r + " (" + perRow[r] + ") in the mixed batch", expected[r], TinyModels.rows(batch, r, r + 1, v), 2e-5);
          assertClose("row " + r + " (" + perRow[r] + ") decoded in the mixed batch", expected[r], TinyModels.rows(cached, r, r + 1, v),
              2e-5);
        }
        float[] baseAlone = TinyModels.logits(gpt, ids, rows);
        for (int r = 0; r < rows; r++) {
          if (perRow[r] == null) assertArrayEquals(expected[r], TinyModels.rows(baseAlone, r, r + 1, v), "no selection: the base");
        }
        try (LoraBank.Selection s = bank.use("a0", "a1")) {
          assertThrows(IllegalArgumentException.class, () -> TinyModels.logits(gpt, ids, rows), "row count must match");
        }
        assertThrows(IllegalArgumentException.class, () -> bank.use("nope"));
      }
    }
  }

  @Test
  void concurrentRequestsEachGetTheirOwnAdapter(@TempDir Path dir) throws Exception {
    int[] ids = TinyModels.ids(2 * T, 43);
    try (Gpt gpt = TinyModels.gpt(22)) {
      List<Path> folders = adapters(gpt, dir);
      float[][] expected = new float[3][];
      for (int i = 0; i < 3; i++) {
        try (LoraModel lora = LoraModel.load(gpt, folders.get(i))) {
          expected[i] = TinyModels.logits(gpt, ids, 2);
        }
      }
      ExecutorService pool = Executors.newFixedThreadPool(3);
      try (LoraBank bank = new LoraBank(gpt)) {
        for (int i = 0; i < 3; i++) bank.add("a" + i, folders.get(i));
        List<Future<float[]>> results = new ArrayList<>();
        for (int k = 0; k < 12; k++) {
          int i = k % 3;
          results.add(pool.submit(() -> {
            try (LoraBank.Selection s = bank.use("a" + i)) {
              return TinyModels.logits(gpt, ids, 2);
            }
          }));
        }
        for (int k = 0; k < 12; k++) assertClose("request " + k, expected[k % 3], results.get(k).get(), 2e-5);
      } finally {
        pool.shutdown();
      }
    }
  }
}
