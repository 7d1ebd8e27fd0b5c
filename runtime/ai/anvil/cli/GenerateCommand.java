package ai.anvil.cli;

import ai.anvil.infer.Generation;
import ai.anvil.infer.LanguageModel;
import ai.anvil.infer.SamplingConfig;
import ai.anvil.train.checkpoint.Checkpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Streams a continuation of a prompt from a checkpoint to stdout. */
@Command(name = "generate", mixinStandardHelpOptions = true,
    description = "Generate text from a checkpoint, streaming it to stdout.")
final class GenerateCommand implements Callable<Integer> {
  @Option(names = "--checkpoint", required = true, paramLabel = "DIR",
      description = "Checkpoint folder (or the run folder holding one).")
  Path checkpoint;

  @Option(names = "--prompt", defaultValue = "", description = "Text to continue (default: a new line, or end-of-text).")
  String prompt;

  @Option(names = "--max-tokens", defaultValue = "300", description = "Most new tokens (default: ${DEFAULT-VALUE}).")
  int maxTokens;

  @Option(names = "--temperature", defaultValue = "0.8", description = "0 for greedy (default: ${DEFAULT-VALUE}).")
  double temperature;

  @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens; 0 disables.")
  int topK;

  @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling mass; 1 disables.")
  double topP;

  @Option(names = "--seed", defaultValue = "42", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--stop", paramLabel = "TEXT", description = "Stop when the text contains this (repeatable).")
  List<String> stop = new ArrayList<>();

  @Option(names = "--no-cuda-graph", description = "Run every decode step eagerly instead of replaying a CUDA graph of it.")
  boolean noCudaGraph;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws IOException {
    device.apply();
    try (LanguageModel lm = LanguageModel.load(Checkpoint.resolveModel(checkpoint), device.device())) {
      lm.setCudaGraphs(!noCudaGraph);
      SamplingConfig config = new SamplingConfig(maxTokens, temperature, topK, topP, seed, stop, List.of(), true);
      String start = prompt.isEmpty() && lm.tokenizer().eosId().isEmpty() ? "\n" : prompt;
      System.out.print(prompt);
      Generation g = lm.generate(start, config, piece -> {
        System.out.print(piece);
        System.out.flush();
      });
      System.out.println();
      System.err.printf("%d tokens in %.2f s (%.1f tokens/s), %s%n", g.tokens().length, g.nanos() / 1e9,
          g.tokensPerSecond(), g.finish().name().toLowerCase(java.util.Locale.ROOT));
    }
    return 0;
  }
}
