package ai.anvil.train.seq2seq;

import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.data.tokenizer.Tokenizers;
import ai.anvil.io.AtomicFiles;
import ai.anvil.models.t5.T5;
import ai.anvil.models.t5.T5Checkpoint;
import ai.anvil.tensor.Device;
import ai.anvil.train.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * An encoder-decoder run's checkpoint folder: the model ({@link T5Checkpoint}: config.json,
 * model.safetensors), tokenizer.json and train_config.json. No optimizer state (span runs do not resume).
 * Written whole as {@code checkpoint.tmp}, then swapped into place, so a crash leaves the old one or the new one.
 */
public final class Seq2seqCheckpoint {
  public static final String DIR = "checkpoint";
  public static final String TOKENIZER = "tokenizer.json";

  private Seq2seqCheckpoint() {}

  /** Saves under runDir/checkpoint; returns that folder. config may be null (not written then). */
  public static Path save(Path runDir, T5 model, Tokenizer tokenizer, TrainConfig config) throws IOException {
    Path target = runDir.resolve(DIR);
    Path staging = runDir.resolve(DIR + ".tmp");
    deleteTree(staging);
    Files.createDirectories(staging);
    T5Checkpoint.save(model, staging);
    tokenizer.save(staging.resolve(TOKENIZER));
    if (config != null) config.save(staging.resolve("train_config.json"));
    AtomicFiles.forceDirectory(staging);
    deleteTree(target);
    AtomicFiles.move(staging, target);
    return target;
  }

  /** A checkpoint folder, or a run folder holding one. */
  public static Path resolve(Path path) throws IOException {
    for (Path p : new Path[] {path, path.resolve(DIR)}) {
      if (T5Checkpoint.isT5(p) && Files.isRegularFile(p.resolve(TOKENIZER))) return p;
    }
    throw new IOException("no encoder-decoder checkpoint at " + path + " (expected " + T5Checkpoint.CONFIG + " of model_type"
        + " anvil-t5, " + T5Checkpoint.WEIGHTS + " and " + TOKENIZER + ")");
  }

  public static T5 loadModel(Path dir, Device device) throws IOException {
    return T5Checkpoint.load(resolve(dir), device);
  }

  public static Tokenizer loadTokenizer(Path dir) throws IOException {
    return Tokenizers.load(resolve(dir).resolve(TOKENIZER));
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) return;
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
    }
  }
}
