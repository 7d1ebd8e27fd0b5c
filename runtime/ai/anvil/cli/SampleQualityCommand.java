package ai.anvil.cli;

import ai.anvil.infer.LanguageModel;
import ai.anvil.infer.SampleQuality;
import ai.anvil.infer.SamplingConfig;
import ai.anvil.io.Json;
import ai.anvil.train.checkpoint.Checkpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** distinct-1/2 and perplexity of samples from a causal LM, beside held-out real text (infer.SampleQuality). */
@Command(name = "sample-quality", mixinStandardHelpOptions = true,
    description = {"Sample continuations of the first words of held-out lines and report distinct-1/2 and their perplexity "
        + "under the model, beside the same figures of the real lines.",
        "Prints one JSON line; --show prints the samples first."})
final class SampleQualityCommand implements Callable<Integer> {
  @Option(names = "--checkpoint", required = true, paramLabel = "DIR", description = "GPT checkpoint folder (or its run folder).")
  Path checkpoint;

  @Option(names = "--text", required = true, paramLabel = "FILE", description = "Held-out text, one passage a line (a verse, a sentence).")
  Path text;

  @Option(names = "--samples", defaultValue = "32", paramLabel = "N", description = "Lines to take, one sample each (default 32).")
  int samples;

  @Option(names = "--prompt-chars", defaultValue = "16", paramLabel = "N", description = "Characters of each line given as the prompt (default 16).")
  int promptChars;

  @Option(names = "--tokens", defaultValue = "100", paramLabel = "N", description = "New tokens per sample (default 100).")
  int tokens;

  @Option(names = "--temperature", defaultValue = "0.8", paramLabel = "T", description = "Sampling temperature (default 0.8).")
  double temperature;

  @Option(names = "--top-k", defaultValue = "0", paramLabel = "K", description = "Top-k, 0 off (default 0).")
  int topK;

  @Option(names = "--seed", defaultValue = "1", paramLabel = "N", description = "Sampler seed (default 1).")
  long seed;

  @Option(names = "--out", paramLabel = "FILE", description = "Also write the JSON line here (a .jsonl in a run folder shows in its report).")
  Path outFile;

  @Option(names = "--show", description = "Print the samples before the JSON line.")
  boolean show;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws IOException {
    device.apply();
    if (samples < 1 || promptChars < 1 || tokens < 2) throw new IllegalArgumentException("--samples, --prompt-chars must be >= 1 and --tokens >= 2");
    List<String> prompts = new ArrayList<>(), references = new ArrayList<>();
    for (String line : Files.readAllLines(text)) {
      if (prompts.size() == samples) break;
      String l = line.strip();
      if (l.length() <= promptChars + 8) continue;
      prompts.add(l.substring(0, promptChars));
      references.add(l.substring(promptChars));
    }
    if (prompts.isEmpty()) throw new IllegalArgumentException(text + ": no line longer than " + (promptChars + 8) + " characters");
    try (LanguageModel lm = LanguageModel.load(Checkpoint.resolveModel(checkpoint), device.device())) {
      // References as long as the samples (distinct-n falls with length): their first --tokens tokens.
      for (int i = 0; i < references.size(); i++) {
        int[] ids = lm.tokenizer().encode(references.get(i));
        if (ids.length > tokens) references.set(i, lm.tokenizer().decode(java.util.Arrays.copyOf(ids, tokens)));
      }
      SamplingConfig c = new SamplingConfig(tokens, temperature, topK, 1.0, seed, List.of(), List.of(), false);
      SampleQuality q = SampleQuality.measure(lm, prompts, c, references);
      if (show) for (int i = 0; i < prompts.size(); i++) System.out.println(prompts.get(i) + "|" + q.samples().get(i).replace('\n', ' '));
      Map<String, Object> out = q.toMap();
      out.put("tokens_per_sample", tokens);
      out.put("temperature", temperature);
      System.out.println(Json.write(out));
      if (outFile != null) ai.anvil.io.AtomicFiles.writeString(outFile, Json.write(out) + "\n");
    }
    return 0;
  }
}
