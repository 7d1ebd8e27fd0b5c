package ai.anvil.cli;

import ai.anvil.infer.LanguageModel;
import ai.anvil.infer.Score;
import ai.anvil.io.Json;
import ai.anvil.tensor.Device;
import ai.anvil.train.checkpoint.Checkpoint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Mean next-token loss and perplexity of a text under a checkpoint, as one JSON line. */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = "Score a text file with a checkpoint: prints {\"tokens\", \"loss\", \"perplexity\"} as one JSON line.")
final class EvalCommand implements Callable<Integer> {
  @Option(names = "--checkpoint", required = true, paramLabel = "DIR",
      description = "Checkpoint folder (or the run folder holding one).")
  Path checkpoint;

  @Option(names = "--text", required = true, paramLabel = "FILE", description = "UTF-8 text to score.")
  Path text;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws IOException {
    device.apply();
    Path dir = Checkpoint.resolveModel(checkpoint);
    String content = Files.readString(text, StandardCharsets.UTF_8);
    try (LanguageModel lm = LanguageModel.load(dir, device.device())) {
      Score s = lm.scorer().score(lm.tokenizer().encode(content));
      if (s.tokens() == 0) throw new IllegalArgumentException(text + ": fewer than two tokens, nothing to score");
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("tokens", s.tokens());
      out.put("loss", s.meanLoss());
      out.put("perplexity", s.perplexity());
      System.out.println(Json.write(out));
    }
    return 0;
  }
}
