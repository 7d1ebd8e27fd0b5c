package ai.anvil.models.gpt;

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
 * GPT weights in Hugging Face GPT-2 layout: a folder with {@code config.json} and
 * {@code model.safetensors}, loadable by {@code GPT2LMHeadModel.from_pretrained}.
 *
 * <p>What differs from Anvil's own layout is converted here and nowhere else: GPT-2's Conv1D weights
 * ({@code c_attn}, {@code c_proj}, {@code c_fc}) are stored (in, out) and transposed on save and load;
 * the token table (and an untied head) is stored with vocabSize rows and padded inside. Reading also
 * accepts files without the {@code transformer.} prefix (as the hub's gpt2 files are) and skips the
 * causal-mask buffers ({@code attn.bias}, {@code attn.masked_bias}) old files carry.
 */
public final class GptCheckpoint {
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";
  private static final String PREFIX = "transformer.";

  private GptCheckpoint() {}

  /** Writes config.json and model.safetensors into dir, each atomically. */
  public static void save(Gpt model, Path dir) throws IOException {
    Files.createDirectories(dir);
    writeWeights(model, dir.resolve(WEIGHTS));
    AtomicFiles.writeString(dir.resolve(CONFIG), model.config().toJsonString());
  }

  /** Writes the weights alone (HF names and layout) to one safetensors file, atomically. */
  public static void writeWeights(Gpt model, Path file) throws IOException {
    GptConfig c = model.config();
    Safetensors.Writer w = new Safetensors.Writer().metadata("format", "pt");
    for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
      String name = e.getKey();
      Tensor t = e.getValue().value();
      float[] v = t.toFloatArray();
      long[] dims = t.dims();
      if (isVocabTable(name)) {
        v = Arrays.copyOf(v, c.vocabSize() * c.nEmbd());
        dims = new long[] {c.vocabSize(), c.nEmbd()};
      } else if (isConv1D(name)) {
        v = transpose(v, (int) dims[0], (int) dims[1]);
        dims = new long[] {dims[1], dims[0]};
      }
      w.add(name, v, dims);
    }
    w.write(file);
  }

  /** Reads config.json and model.safetensors from dir into a new model on device. */
  public static Gpt load(Path dir, Device device) throws IOException {
    GptConfig config = readConfig(dir);
    Gpt model = new Gpt(config, 0, device);
    try {
      readWeights(model, dir.resolve(WEIGHTS));
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
    return model;
  }

  public static GptConfig readConfig(Path dir) throws IOException {
    Path file = dir.resolve(CONFIG);
    try {
      return GptConfig.fromJson(Files.readString(file));
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  /** Overwrites every parameter of model from an HF GPT-2 safetensors file; throws when any is missing. */
  public static void readWeights(Gpt model, Path file) throws IOException {
    GptConfig c = model.config();
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      Set<String> used = new HashSet<>();
      for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
        String name = e.getKey();
        Tensor t = e.getValue().value();
        String stored = storedName(r, name);
        if (stored == null) throw new IOException(file + ": no tensor " + name);
        used.add(stored);
        Safetensors.Entry entry = r.entry(stored);
        long[] dims = t.dims();
        long[] expected = dims.clone();
        if (isVocabTable(name)) expected[0] = c.vocabSize();
        else if (isConv1D(name)) expected = new long[] {dims[1], dims[0]};
        if (!Arrays.equals(entry.shape(), expected)) {
          throw new IOException(file + ": " + stored + " has shape " + Arrays.toString(entry.shape()) + ", expected "
              + Arrays.toString(expected) + " for " + c);
        }
        float[] v = r.floats(stored);
        if (isVocabTable(name)) v = Arrays.copyOf(v, Math.toIntExact(t.numel()));
        else if (isConv1D(name)) v = transpose(v, (int) expected[0], (int) expected[1]);
        t.copyFrom(v);
      }
      for (String name : r.entries().keySet()) {
        if (used.contains(name) || isBuffer(name)) continue;
        if (c.tiedEmbeddings() && name.equals("lm_head.weight")) continue;
        throw new IOException(file + ": unexpected tensor " + name + " for " + c);
      }
    }
  }

  private static String storedName(Safetensors.Reader r, String name) {
    if (r.entries().containsKey(name)) return name;
    if (name.startsWith(PREFIX) && r.entries().containsKey(name.substring(PREFIX.length()))) {
      return name.substring(PREFIX.length());
    }
    return null;
  }

  private static boolean isVocabTable(String name) {
    return name.equals("transformer.wte.weight") || name.equals("lm_head.weight");
  }

  /** GPT-2's Conv1D layers, stored (in, out). */
  private static boolean isConv1D(String name) {
    return name.endsWith(".weight") && (name.contains(".attn.c_attn.") || name.contains(".attn.c_proj.")
        || name.contains(".mlp.c_fc.") || name.contains(".mlp.c_proj."));
  }

  private static boolean isBuffer(String name) {
    return name.endsWith(".attn.bias") || name.endsWith(".attn.masked_bias");
  }

  /** (rows, cols) row-major -> (cols, rows). */
  static float[] transpose(float[] v, int rows, int cols) {
    float[] out = new float[v.length];
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) out[j * rows + i] = v[i * cols + j];
    }
    return out;
  }
}
