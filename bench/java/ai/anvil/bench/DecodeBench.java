package ai.anvil.bench;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.infer.Generation;
import ai.anvil.infer.Generator;
import ai.anvil.infer.SamplingConfig;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import java.util.Locale;

/**
 * Decoding speed with the KV cache, batch 1: a prompt of one token, then greedy tokens to the end of
 * the context, timed end to end through {@link Generator} (sampling and host copies included). Prints
 * one JSON line per configuration.
 *
 * <pre>
 *   java -cp ... ai.anvil.bench.DecodeBench [--threads N] [--vocab V] [--layers L --heads H --width C --context T]
 * </pre>
 * Defaults: the cpu-medium shape of issue 3 (6 layers, 6 heads, 384 wide, context 256) with the KJV
 * character vocabulary (65) and with GPT-2's (50257).
 */
public final class DecodeBench {
  private DecodeBench() {}

  public static void main(String[] args) {
    int threads = 0, layers = 6, heads = 6, width = 384, context = 256, reps = 5;
    int[] vocabs = {65, 50257};
    for (int i = 0; i < args.length; i += 2) {
      int v = Integer.parseInt(args[i + 1]);
      switch (args[i]) {
        case "--threads" -> threads = v;
        case "--vocab" -> vocabs = new int[] {v};
        case "--layers" -> layers = v;
        case "--heads" -> heads = v;
        case "--width" -> width = v;
        case "--context" -> context = v;
        case "--reps" -> reps = v;
        default -> throw new IllegalArgumentException("unknown flag " + args[i]);
      }
    }
    if (threads > 0) CpuBackend.setThreads(threads);
    for (int vocab : vocabs) {
      GptConfig config = GptConfig.of(layers, heads, width, context, vocab);
      try (Gpt model = new Gpt(config, 1, Device.CPU)) {
        model.train(false);
        Generator g = new Generator(model, null);
        int n = context - 1;
        SamplingConfig greedy = SamplingConfig.greedy(n);
        g.generate(new int[] {0}, greedy, null);   // warm-up: JIT, thread pools, scratch buffers
        double best = 0, sum = 0;
        for (int r = 0; r < reps; r++) {
          Generation gen = g.generate(new int[] {0}, greedy, null);
          double tps = gen.tokensPerSecond();
          best = Math.max(best, tps);
          sum += tps;
        }
        System.out.println(String.format(Locale.ROOT,
            "{\"bench\": \"decode\", \"layers\": %d, \"heads\": %d, \"width\": %d, \"context\": %d, \"vocab\": %d, "
                + "\"threads\": %d, \"tokens\": %d, \"tokens_per_s_mean\": %.1f, \"tokens_per_s_best\": %.1f}",
            layers, heads, width, context, vocab, CpuBackend.threads(), n, sum / reps, best));
      }
    }
  }
}
