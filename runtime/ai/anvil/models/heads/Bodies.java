package ai.anvil.models.heads;

import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import ai.anvil.models.AutoModel;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.models.bert.BertCheckpoint;
import ai.anvil.models.gpt.GptCheckpoint;
import ai.anvil.tensor.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * Loads the pre-trained body of a folder, whatever head the folder's file also holds: a Hugging Face or
 * Anvil BERT (BertModel, BertForMaskedLM, BertFor*Classification files) or GPT-2 folder
 * (config.json + model.safetensors). Tensors of heads are left for the head to read.
 */
public final class Bodies {
  private Bodies() {}

  /** The body in dir on device; the caller owns it. */
  public static SequenceEncoder load(Path dir, Device device) throws IOException {
    String type = AutoModel.modelType(dir);
    return switch (type) {
      // BertCheckpoint takes the encoder from under bert. and skips every head's tensors itself.
      case "bert" -> BertCheckpoint.loadModel(dir, device);
      case "gpt2" -> loadGpt(dir, device);
      default -> throw new IOException(dir + ": model_type " + type + " has no body loader (supported: bert, gpt2)");
    };
  }

  /**
   * GptCheckpoint refuses tensors it has no place for, so a file with a head (score.*, classifier.*) is
   * read through a copy holding the GPT-2 tensors alone.
   */
  private static SequenceEncoder loadGpt(Path dir, Device device) throws IOException {
    Path file = dir.resolve(GptCheckpoint.WEIGHTS);
    Predicate<String> body = n -> n.startsWith("transformer.") || n.startsWith("lm_head.") || n.startsWith("h.")
        || n.startsWith("wte.") || n.startsWith("wpe.") || n.startsWith("ln_f.");
    boolean extra;
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      extra = r.entries().keySet().stream().anyMatch(body.negate());
    }
    if (!extra) return GptCheckpoint.load(dir, device);
    Path tmp = Files.createTempDirectory("anvil-gpt-body");
    try {
      Files.copy(dir.resolve(GptCheckpoint.CONFIG), tmp.resolve(GptCheckpoint.CONFIG));
      copyTensors(file, tmp.resolve(GptCheckpoint.WEIGHTS), body);
      return GptCheckpoint.load(tmp, device);
    } finally {
      try (Stream<Path> files = Files.list(tmp)) {
        for (Path p : files.toList()) Files.deleteIfExists(p);
      }
      Files.deleteIfExists(tmp);
    }
  }

  /** Copies the F32/F16/BF16 tensors whose names pass keep from one safetensors file to another, as F32. */
  static void copyTensors(Path from, Path to, Predicate<String> keep) throws IOException {
    Safetensors.Writer w = new Safetensors.Writer().metadata("format", "pt");
    try (Safetensors.Reader r = Safetensors.Reader.open(from)) {
      for (Map.Entry<String, Safetensors.Entry> e : r.entries().entrySet()) {
        if (keep.test(e.getKey())) w.add(e.getKey(), r.floats(e.getKey()), e.getValue().shape());
      }
    }
    w.write(to);
  }

  /** config.json of dir as a map. */
  static Map<String, Object> config(Path dir) throws IOException {
    Path file = dir.resolve(AutoModel.CONFIG);
    try {
      return Json.parseObject(Files.readString(file));
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }
}
