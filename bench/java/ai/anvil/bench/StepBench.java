package ai.anvil.bench;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.data.BatchSampler;
import ai.anvil.data.Corpora;
import ai.anvil.data.TokenDataset;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import ai.anvil.train.Pretraining;
import ai.anvil.train.SamplerSource;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.Trainer;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Time of one training step (forward, backward, clipping, AdamW) of an issue-3 recipe on char-level KJV,
 * through the same {@link Trainer} as {@code anvil pretrain}. Prints one JSON line: the median wall time
 * per step and the median CPU time of the calling thread per step. With one kernel thread every kernel
 * runs on the calling thread, so its CPU time (page faults included) barely moves when other processes
 * load the machine; that makes A/B comparisons meaningful on a shared VM, where wall times are not.
 *
 * <pre>
 *   java -cp ... ai.anvil.bench.StepBench [--recipe cpu-small|cpu-medium] [--threads N] [--steps N] [--warmup N]
 * </pre>
 */
public final class StepBench {
  private StepBench() {}

  public static void main(String[] args) throws Exception {
    String recipe = "cpu-small";
    int threads = 1, steps = 200, warmup = 30;
    for (int i = 0; i < args.length; i += 2) {
      switch (args[i]) {
        case "--recipe" -> recipe = args[i + 1];
        case "--threads" -> threads = Integer.parseInt(args[i + 1]);
        case "--steps" -> steps = Integer.parseInt(args[i + 1]);
        case "--warmup" -> warmup = Integer.parseInt(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown flag " + args[i]);
      }
    }
    // The recipes of issue 3 (bench/train-vs-torch.sh); defaults() is cpu-small's optimizer.
    TrainConfig c = switch (recipe) {
      case "cpu-small" -> TrainConfig.defaults().with("n_layer", 4, "n_head", 4, "n_embd", 128, "block_size", 64,
          "batch_size", 12);
      case "cpu-medium" -> TrainConfig.defaults().with("n_layer", 6, "n_head", 6, "n_embd", 384, "block_size", 256,
          "batch_size", 16);
      default -> throw new IllegalArgumentException("unknown recipe " + recipe);
    };
    c = c.with("max_steps", 100_000, "eval_iters", 1, "dropout", 0.0);
    CpuBackend.setThreads(threads);

    String text = Corpora.embeddedKjv();
    CharTokenizer tokenizer = CharTokenizer.fromText(text);
    Path shard = Files.createTempFile("stepbench", ".shard");
    shard.toFile().deleteOnExit();
    TokenDataset data = TokenDataset.build(text, tokenizer, shard);
    GptConfig g = GptConfig.of(c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(), tokenizer.vocabSize())
        .withDropout(0.0).withBias(c.bias());
    ThreadMXBean cpu = ManagementFactory.getThreadMXBean();
    double[] wall = new double[steps], busy = new double[steps];
    try (Gpt gpt = new Gpt(g, c.seed(), Device.CPU);
         Trainer t = new Trainer(gpt, gpt::loss, c,
             new SamplerSource(new BatchSampler(data.train(), c.batchSize(), c.blockSize(), c.seed())),
             new SamplerSource(new BatchSampler(data.val(), c.batchSize(), c.blockSize(), c.seed() + 1)),
             Pretraining.randomState(gpt))) {
      for (int i = 0; i < warmup; i++) t.step();
      for (int i = 0; i < steps; i++) {
        long w0 = System.nanoTime(), c0 = cpu.getCurrentThreadCpuTime();
        t.step();
        busy[i] = (cpu.getCurrentThreadCpuTime() - c0) / 1e6;
        wall[i] = (System.nanoTime() - w0) / 1e6;
      }
    }
    double wallMs = median(wall), cpuMs = median(busy);
    long tokens = (long) c.batchSize() * c.blockSize();
    System.out.println(String.format(Locale.ROOT,
        "{\"bench\": \"step\", \"recipe\": \"%s\", \"threads\": %d, \"steps\": %d, \"wall_ms_median\": %.3f, "
            + "\"thread_cpu_ms_median\": %.3f, \"tokens_per_s_wall\": %.0f, \"tokens_per_s_cpu\": %.0f}",
        recipe, threads, steps, wallMs, cpuMs, tokens / wallMs * 1e3, tokens / cpuMs * 1e3));
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
}
