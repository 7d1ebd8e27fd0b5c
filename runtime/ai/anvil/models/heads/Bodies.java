package ai.anvil.models.heads;

import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import ai.anvil.models.AutoModel;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.models.bert.BertCheckpoint;
import ai.anvil.models.gpt.GptCheckpoint;
import ai.anvil.models.t5.T5Checkpoint;
import ai.anvil.tensor.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * Loads the pre-trained body of a folder, whatever head the folder's file also holds: a Hugging Face or
 * Anvil BERT (BertModel, BertForMaskedLM, BertFor*Classification files), GPT-2 or Anvil T5 folder
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
      case "gpt2" -> withoutHeads(dir, d -> GptCheckpoint.load(d, device));
      case "anvil-t5" -> withoutHeads(dir, d -> T5Checkpoint.load(d, device));
      default -> throw new IOException(dir + ": model_type " + type + " has no body loader (supported: bert, gpt2, anvil-t5)");
    };
  }

  /** Reads a model folder into a body. */
  @FunctionalInterface
  private interface Loader {
    SequenceEncoder load(Path dir) throws IOException;
  }

  /** Tensors of the heads (SequenceClassifier, TokenClassifier, LmHead on BERT), never a body's. */
  static boolean isHeadTensor(String name) {
    return name.startsWith("classifier.") || name.startsWith("score.") || name.startsWith("cls.");
  }

  /**
   * GPT-2's and T5's loaders refuse tensors they have no place for, so a file with a head is read through
   * a copy holding the model's tensors alone.
   */
  private static SequenceEncoder withoutHeads(Path dir, Loader loader) throws IOException {
    Path file = dir.resolve(AutoModel.WEIGHTS);
    boolean heads;
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      heads = r.entries().keySet().stream().anyMatch(Bodies::isHeadTensor);
    }
    if (!heads) return loader.load(dir);
    Path tmp = Files.createTempDirectory("anvil-body");
    try {
      Files.copy(dir.resolve(AutoModel.CONFIG), tmp.resolve(AutoModel.CONFIG));
      copyTensors(file, tmp.resolve(AutoModel.WEIGHTS), n -> !isHeadTensor(n));
      return loader.load(tmp);
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
