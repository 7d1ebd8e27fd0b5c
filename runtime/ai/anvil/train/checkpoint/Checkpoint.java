package ai.anvil.train.checkpoint;

import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.data.tokenizer.Tokenizers;
import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptCheckpoint;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.AdamW;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainState;
import ai.anvil.train.Trainer;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;
import java.util.Map;

/**
 * A training checkpoint: one folder that Hugging Face can load as a GPT-2 model and Anvil can resume from.
 *
 * <pre>
 *   checkpoint/
 *     config.json                  HF GPT-2 config              (GptCheckpoint)
 *     model.safetensors            HF GPT-2 names and layout    (GptCheckpoint: Conv1D transposed, vocab unpadded)
 *     tokenizer.json               the tokenizer                (Tokenizer.save)
 *     train_config.json            the TrainConfig of the run
 *     training_state.safetensors   AdamW moments m.NAME, v.NAME (fp32) + metadata: TrainState JSON, update count
 * </pre>
 *
 * <p>Saving is crash-safe: the folder is written whole as {@code checkpoint.tmp} (each file forced to disk),
 * the previous folder is renamed to {@code checkpoint.prev}, the new one renamed into place, and only then is
 * the previous one deleted. A crash at any point leaves a complete checkpoint that {@link #resolve} finds:
 * the new one, or the previous one under {@code .prev}. A half-written {@code .tmp} is never read.
 */
public final class Checkpoint {
  public static final String DIR = "checkpoint";
  public static final String TOKENIZER = "tokenizer.json";
  public static final String TRAIN_CONFIG = "train_config.json";
  public static final String STATE = "training_state.safetensors";
  private static final String FORMAT = "anvil-training-state-1";

  private Checkpoint() {}

  /**
   * Saves model, tokenizer, config and the trainer's state (moments, step, cursor, RNG) under
   * {@code runDir/checkpoint}, replacing the previous checkpoint atomically. Returns the checkpoint folder.
   */
  public static Path save(Path runDir, Gpt model, Tokenizer tokenizer, Trainer trainer) throws IOException {
    return save(runDir, staging -> {
      GptCheckpoint.writeWeights(model, staging.resolve(GptCheckpoint.WEIGHTS));
      AtomicFiles.writeString(staging.resolve(GptCheckpoint.CONFIG), model.config().toJsonString());
    }, tokenizer, trainer);
  }

  /** Writes a model's config.json and model.safetensors (HF layout) into a folder. */
  @FunctionalInterface
  public interface ModelFiles {
    void write(Path dir) throws IOException;
  }

  /**
   * {@link #save(Path, Gpt, Tokenizer, Trainer)} for any model (a BERT with its MLM head, a T5): model
   * writes its config.json and model.safetensors into the staging folder; the rest is the same.
   */
  public static Path save(Path runDir, ModelFiles model, Tokenizer tokenizer, Trainer trainer) throws IOException {
    Path target = runDir.resolve(DIR);
    Path staging = runDir.resolve(DIR + ".tmp");
    Path previous = runDir.resolve(DIR + ".prev");
    Files.createDirectories(runDir);
    deleteTree(staging);
    Files.createDirectories(staging);
    model.write(staging);
    Path tok = staging.resolve(TOKENIZER);
    tokenizer.save(tok);
    force(tok);
    trainer.config().save(staging.resolve(TRAIN_CONFIG));
    writeState(staging.resolve(STATE), trainer.optimizer(), trainer.state());
    AtomicFiles.forceDirectory(staging);
    publish(staging, target, previous);
    return target;
  }

  /** Swaps staging into place; between the renames the previous checkpoint sits complete under previous. */
  static void publish(Path staging, Path target, Path previous) throws IOException {
    // Without a target, previous may be the only complete checkpoint (a crash between the renames of an
    // earlier save): it stays until the new one is in place.
    if (Files.exists(target)) {
      deleteTree(previous);
      AtomicFiles.move(target, previous);
    }
    AtomicFiles.move(staging, target);
    AtomicFiles.forceDirectory(target.toAbsolutePath().getParent());
    deleteTree(previous);
  }

  /**
   * The complete checkpoint folder that path names, for resuming: a checkpoint folder itself, or a run
   * folder holding one; when a crash interrupted a save between its renames, the {@code .prev} folder it
   * left. A half-written {@code .tmp} is never chosen.
   */
  public static Path resolve(Path path) throws IOException {
    return find(path, true);
  }

  /** Like {@link #resolve}, but any folder with a model and a tokenizer will do (no training state needed). */
  public static Path resolveModel(Path path) throws IOException {
    return find(path, false);
  }

  private static Path find(Path path, boolean needState) throws IOException {
    for (Path candidate : new Path[] {path, path.resolve(DIR), path.resolve(DIR + ".prev"), sibling(path, ".prev")}) {
      if (candidate != null && isComplete(candidate, needState)) return candidate;
    }
    throw new IOException("no complete checkpoint at " + path + " (expected " + GptCheckpoint.CONFIG + ", "
        + GptCheckpoint.WEIGHTS + ", " + TOKENIZER + (needState ? " and " + STATE : "") + ")");
  }

  private static Path sibling(Path path, String suffix) {
    Path name = path.getFileName();
    return name == null || name.toString().endsWith(suffix) ? null : path.resolveSibling(name + suffix);
  }

  private static boolean isComplete(Path dir, boolean needState) {
    return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve(GptCheckpoint.CONFIG))
        && Files.isRegularFile(dir.resolve(GptCheckpoint.WEIGHTS)) && Files.isRegularFile(dir.resolve(TOKENIZER))
        && (!needState || Files.isRegularFile(dir.resolve(STATE)));
  }

  // ---- loading ------------------------------------------------------------------------------------

  /** The model of a checkpoint (or of any HF GPT-2 folder), on device. */
  public static Gpt loadModel(Path dir, Device device) throws IOException {
    return GptCheckpoint.load(dir, device);
  }

  public static GptConfig modelConfig(Path dir) throws IOException {
    return GptCheckpoint.readConfig(dir);
  }

  public static Tokenizer loadTokenizer(Path dir) throws IOException {
    return Tokenizers.load(dir.resolve(TOKENIZER));
  }

  public static TrainConfig loadTrainConfig(Path dir) throws IOException {
    return TrainConfig.load(dir.resolve(TRAIN_CONFIG));
  }

  /**
   * Puts a fresh trainer (built on a model with the checkpoint's config) where the checkpoint left off:
   * weights, AdamW moments and update count, step, data cursor, RNG, early-stopping record.
   */
  public static void restore(Path dir, Gpt model, Trainer trainer) throws IOException {
    GptCheckpoint.readWeights(model, dir.resolve(GptCheckpoint.WEIGHTS));
    restoreState(dir, trainer);
  }

  /**
   * The trainer half of {@link #restore}: AdamW moments and update count, step, data cursor, RNG, early
   * stopping record; for models whose weights their own loader has already read from dir.
   */
  public static void restoreState(Path dir, Trainer trainer) throws IOException {
    trainer.restore(readState(dir.resolve(STATE), trainer.optimizer()));
  }

  // ---- the training state file --------------------------------------------------------------------

  static void writeState(Path file, AdamW optimizer, TrainState state) throws IOException {
    Safetensors.Writer w = new Safetensors.Writer()
        .metadata("format", FORMAT)
        .metadata("optimizer_steps", Long.toString(optimizer.steps()))
        .metadata("trainer_state", Json.write(state.toMap()));
    for (Map.Entry<String, Parameter> e : optimizer.parameters().entrySet()) {
      Tensor m = optimizer.firstMoment(e.getKey()), v = optimizer.secondMoment(e.getKey());
      w.add("m." + e.getKey(), m.toFloatArray(), m.dims());
      w.add("v." + e.getKey(), v.toFloatArray(), v.dims());
    }
    w.write(file);
  }

  /** Fills the optimizer's moments and update count from file; returns the trainer state it holds. */
  static TrainState readState(Path file, AdamW optimizer) throws IOException {
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      String format = r.metadata().get("format");
      if (!FORMAT.equals(format)) throw new IOException(file + ": format " + format + ", expected " + FORMAT);
      int expected = 2 * optimizer.parameters().size();
      if (r.entries().size() != expected) {
        throw new IOException(file + ": " + r.entries().size() + " moment tensors, the optimizer has " + expected
            + " (were parameters frozen or unfrozen since the save?)");
      }
      for (String name : optimizer.parameters().keySet()) {
        load(r, "m." + name, optimizer.firstMoment(name), file);
        load(r, "v." + name, optimizer.secondMoment(name), file);
      }
      TrainState state;
      try {
        state = TrainState.fromMap(Json.parseObject(r.metadata().getOrDefault("trainer_state", "")));
      } catch (IllegalArgumentException e) {
        throw new IOException(file + ": bad trainer_state: " + e.getMessage(), e);
      }
      long steps = Long.parseLong(r.metadata().getOrDefault("optimizer_steps", "-1"));
      if (steps != state.step() - state.skipped()) {
        throw new IOException(file + ": optimizer_steps " + steps + " disagrees with step " + state.step() + " - skipped "
            + state.skipped());
      }
      return state;
    }
  }

  private static void load(Safetensors.Reader r, String name, Tensor into, Path file) throws IOException {
    if (!r.entries().containsKey(name)) throw new IOException(file + ": no tensor " + name);
    if (!Arrays.equals(r.entry(name).shape(), into.dims())) {
      throw new IOException(file + ": " + name + " has shape " + Arrays.toString(r.entry(name).shape()) + ", expected "
          + Arrays.toString(into.dims()));
    }
    into.copyFrom(r.floats(name));
  }

  // ---- files --------------------------------------------------------------------------------------

  private static void force(Path file) throws IOException {
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
      ch.force(true);
    }
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) return;
    Files.walkFileTree(dir, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.delete(file);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
        if (e != null) throw e;
        Files.delete(d);
        return FileVisitResult.CONTINUE;
      }
    });
  }
}
