package ai.anvil.peft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.models.gpt.Gpt;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.adapter.HoulsbyAdapters;
import ai.anvil.peft.lora.LoraConfig;
import ai.anvil.peft.lora.LoraModel;
import ai.anvil.peft.prompt.PrefixTuning;
import ai.anvil.peft.prompt.PromptTuning;
import ai.anvil.tensor.MemoryStats;
import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.Trainer;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Freezing is real: after training with each method, every base weight is bit-identical, no base
 * parameter ever got a gradient buffer, the optimizer holds moments for the method's parameters only,
 * and every one of those changed. (That they learn a task well is FinetuneTest's business.)
 */
class FreezingTest {
  /** Rows of a fixed pattern (next = 3 * token + 1 mod 70), so there is something to learn. */
  static BatchSource pattern(long seed) {
    return new BatchSource() {
      long draws;

      @Override
      public Batch next() {
        int rows = 4, cols = 12;
        int[] in = new int[rows * cols], tg = new int[rows * cols];
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed + draws++);
        for (int i = 0; i < rows; i++) {
          int t = r.nextInt(70);
          for (int j = 0; j < cols; j++) {
            in[i * cols + j] = t;
            t = (3 * t + 1) % 70;
            tg[i * cols + j] = t;
          }
        }
        return new Batch(rows, cols, in, tg);
      }

      @Override
      public long[] cursor() {
        return new long[] {draws};
      }

      @Override
      public void restore(long[] cursor) {
        draws = cursor[0];
      }
    };
  }

  static PeftModel attach(String method, Gpt gpt) {
    return switch (method) {
      case "lora" -> LoraModel.attach(gpt, LoraConfig.of(4, 8).withTargets(LoraConfig.ALL_LINEAR), 1);
      case "adapter" -> HoulsbyAdapters.attach(gpt, 8, 1);
      case "prompt" -> PromptTuning.attach(gpt, 4, 1);
      default -> PrefixTuning.attach(gpt, 4, 1);
    };
  }

  @ParameterizedTest
  @ValueSource(strings = {"lora", "adapter", "prompt", "prefix"})
  void baseWeightsStayBitIdenticalAndCostNoGradientOrOptimizerMemory(String method) {
    try (Gpt gpt = TinyModels.gpt(31)) {
      Map<String, float[]> before = new LinkedHashMap<>();
      for (Map.Entry<String, Parameter> e : gpt.namedParameters().entrySet()) before.put(e.getKey(), e.getValue().value().toFloatArray());
      long baseBytes = 0;
      for (Parameter p : gpt.parameters()) baseBytes += p.value().bytes();
      try (PeftModel model = attach(method, gpt)) {
        TrainConfig c = TrainConfig.defaults().with("n_layer", 2, "n_head", 2, "n_embd", 32, "block_size", 12, "batch_size", 4,
            "max_steps", 40, "warmup_steps", 0, "lr", method.startsWith("p") ? 3e-2 : 1e-2, "eval_interval", 40, "eval_iters", 2,
            "weight_decay", 0.1);
        long live = MemoryStats.liveBytes(ai.anvil.tensor.Device.CPU);
        try (Trainer trainer = new Trainer(model, gpt::loss, c, pattern(1), pattern(99), null)) {
          long optimizerBytes = MemoryStats.liveBytes(ai.anvil.tensor.Device.CPU) - live;
          long adapterBytes = 0;
          for (Parameter p : model.adapterParameters().values()) adapterBytes += p.value().bytes();
          assertEquals(2 * adapterBytes, optimizerBytes, "AdamW holds two moments of the method's parameters, nothing more");
          assertEquals(model.adapterParameters().keySet(), trainer.optimizer().parameters().keySet());
          Map<String, float[]> start = new LinkedHashMap<>();
          for (Map.Entry<String, Parameter> e : model.adapterParameters().entrySet()) start.put(e.getKey(), e.getValue().value().toFloatArray());
          trainer.fit();
          for (Map.Entry<String, Parameter> e : model.adapterParameters().entrySet()) {
            assertTrue(!java.util.Arrays.equals(start.get(e.getKey()), e.getValue().value().toFloatArray()), e.getKey() + " trained");
          }
        }
        for (Map.Entry<String, Parameter> e : gpt.namedParameters().entrySet()) {
          assertArrayEquals(before.get(e.getKey()), e.getValue().value().toFloatArray(), e.getKey() + " changed");
          assertNull(e.getValue().grad(), e.getKey() + " got a gradient buffer");
        }
        assertTrue(baseBytes > 0);
      }
    }
  }

  /** For full fine-tuning the same bookkeeping holds the other way round: everything trains. */
  @ParameterizedTest
  @ValueSource(strings = {"full"})
  void fullFineTuningTrainsEveryParameter(String method) {
    try (Gpt gpt = TinyModels.gpt(32)) {
      Module model = gpt;
      TrainConfig c = TrainConfig.defaults().with("n_layer", 2, "n_head", 2, "n_embd", 32, "block_size", 12, "batch_size", 4,
          "max_steps", 5, "warmup_steps", 0, "eval_interval", 5, "eval_iters", 1);
      try (Trainer trainer = new Trainer(model, gpt::loss, c, pattern(1), pattern(99), null)) {
        assertEquals(gpt.namedParameters().size(), trainer.optimizer().parameters().size(), method);
      }
    }
  }
}
