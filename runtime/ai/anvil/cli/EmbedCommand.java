package ai.anvil.cli;

import ai.anvil.infer.SentenceEmbedder;
import ai.anvil.io.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Sentence embeddings of texts under a BERT model folder, as one JSON object. */
@Command(name = "embed", mixinStandardHelpOptions = true,
    description = {"Embed sentences with a BERT model folder (import-minilm writes one): prints",
        "{\"model\", \"pooling\", \"normalized\", \"dimension\", \"embeddings\": [[...], ...]} as one JSON line,",
        "one embedding per text in the order given."})
final class EmbedCommand implements Callable<Integer> {
  static final class Input {
    @Option(names = "--text", paramLabel = "TEXT", description = "A text to embed (repeatable).")
    List<String> texts;

    @Option(names = "--file", paramLabel = "FILE", description = "UTF-8 file, one text per line (blank lines skipped).")
    Path file;
  }

  @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model folder.")
  Path model;

  @ArgGroup(exclusive = true, multiplicity = "1") Input input;

  @Option(names = "--batch", paramLabel = "N", defaultValue = "32", description = "Texts per forward pass (default: ${DEFAULT-VALUE}).")
  int batch;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws IOException {
    device.apply();
    List<String> texts = new ArrayList<>();
    if (input.file != null) {
      for (String line : Files.readAllLines(input.file, StandardCharsets.UTF_8)) if (!line.isBlank()) texts.add(line);
    } else {
      texts.addAll(input.texts);
    }
    if (texts.isEmpty()) throw new IllegalArgumentException("no text to embed");
    try (SentenceEmbedder embedder = SentenceEmbedder.load(model, device.device())) {
      float[][] vectors = embedder.embed(texts, batch);
      List<Object> rows = new ArrayList<>();
      for (float[] v : vectors) {
        List<Object> row = new ArrayList<>(v.length);
        for (float x : v) row.add(x);
        rows.add(row);
      }
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("model", model.toString());
      out.put("pooling", embedder.mode().name().toLowerCase(java.util.Locale.ROOT));
      out.put("normalized", embedder.normalizes());
      out.put("dimension", embedder.dimension());
      out.put("embeddings", rows);
      System.out.println(Json.write(out));
    }
    return 0;
  }
}
