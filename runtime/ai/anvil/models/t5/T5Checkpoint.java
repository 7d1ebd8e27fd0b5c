package ai.anvil.models.t5;

import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Safetensors;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * A {@link T5} as a folder: {@code config.json} ({@link T5Config}, model_type anvil-t5) and
 * {@code model.safetensors} holding every parameter under its name (see {@link T5}) in PyTorch's (out, in)
 * layout, fp32; the token tables ({@code shared.weight}, {@code lm_head.weight}) unpadded to vocab_size rows.
 */
public final class T5Checkpoint {
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";

  private T5Checkpoint() {}

  /** Writes config.json and model.safetensors into dir, each atomically. */
  public static void save(T5 model, Path dir) throws IOException {
    Files.createDirectories(dir);
    writeWeights(model, dir.resolve(WEIGHTS));
    AtomicFiles.writeString(dir.resolve(CONFIG), model.config().toJsonString());
  }

  public static void writeWeights(T5 model, Path file) throws IOException {
    T5Config c = model.config();
    Safetensors.Writer w = new Safetensors.Writer().metadata("format", "pt");
    for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
      Tensor t = e.getValue().value();
      float[] v = t.toFloatArray();
      long[] dims = t.dims();
      if (isVocabTable(e.getKey())) {
        v = Arrays.copyOf(v, c.vocabSize() * c.dModel());
        dims = new long[] {c.vocabSize(), c.dModel()};
      }
      w.add(e.getKey(), v, dims);
    }
    w.write(file);
  }

  /** True when dir holds both files of a saved T5. */
  public static boolean isT5(Path dir) {
    if (!Files.isRegularFile(dir.resolve(CONFIG)) || !Files.isRegularFile(dir.resolve(WEIGHTS))) return false;
    try {
      return Files.readString(dir.resolve(CONFIG)).contains("\"anvil-t5\"");
    } catch (IOException e) {
      return false;
    }
  }

  public static T5Config readConfig(Path dir) throws IOException {
    Path file = dir.resolve(CONFIG);
    try {
      return T5Config.fromJson(Files.readString(file));
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  /** A new model on device with the folder's config and weights. */
  public static T5 load(Path dir, Device device) throws IOException {
    T5 model = new T5(readConfig(dir), 0, device);
    try {
      readWeights(model, dir.resolve(WEIGHTS));
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
    return model;
  }

  /** Overwrites every parameter of model; a missing, misshapen or unexpected tensor is an error naming it. */
  public static void readWeights(T5 model, Path file) throws IOException {
    T5Config c = model.config();
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      Set<String> used = new HashSet<>();
      for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
        String name = e.getKey();
        Tensor t = e.getValue().value();
        Safetensors.Entry entry = r.entries().get(name);
        if (entry == null) throw new IOException(file + ": no tensor " + name);
        used.add(name);
        long[] expected = t.dims().clone();
        if (isVocabTable(name)) expected[0] = c.vocabSize();
        if (!Arrays.equals(entry.shape(), expected)) {
          throw new IOException(file + ": " + name + " has shape " + Arrays.toString(entry.shape()) + ", expected "
              + Arrays.toString(expected) + " for " + c);
        }
        float[] v = r.floats(name);
        if (isVocabTable(name)) v = Arrays.copyOf(v, Math.toIntExact(t.numel()));
        t.copyFrom(v);
      }
      for (String name : r.entries().keySet()) {
        if (!used.contains(name)) throw new IOException(file + ": unexpected tensor " + name + " for " + c);
      }
    }
  }

  private static boolean isVocabTable(String name) {
    return name.equals("shared.weight") || name.equals("lm_head.weight");
  }
}
