package ai.anvil.models.llama;

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
 * Llama weights in Hugging Face layout: a folder with {@code config.json} and {@code model.safetensors}
 * that {@code LlamaForCausalLM.from_pretrained} loads. Names and (out, in) layouts are HF's own, so the
 * only conversion is the vocabulary: the token table and head are stored with vocab_size rows and padded
 * inside. Reading widens BF16/F16 files to fp32, accepts files without the {@code model.} prefix (a bare
 * LlamaModel), skips the {@code rotary_emb.inv_freq} buffers old files carry, and ignores a stored
 * {@code lm_head.weight} when the config ties it to the token table (as transformers does).
 */
public final class LlamaCheckpoint {
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";
  private static final String PREFIX = "model.";
  private static final String HEAD = "lm_head.weight";

  private LlamaCheckpoint() {}

  /** Writes config.json and model.safetensors into dir, each atomically. */
  public static void save(Llama model, Path dir) throws IOException {
    Files.createDirectories(dir);
    writeWeights(model, dir.resolve(WEIGHTS));
    AtomicFiles.writeString(dir.resolve(CONFIG), model.config().toJsonString());
  }

  /** Writes the weights alone (HF names, unpadded vocabulary) to one safetensors file, atomically. */
  public static void writeWeights(Llama model, Path file) throws IOException {
    LlamaConfig c = model.config();
    Safetensors.Writer w = new Safetensors.Writer().metadata("format", "pt");
    for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
      String name = e.getKey();
      Tensor t = e.getValue().value();
      float[] v = t.toFloatArray();
      long[] dims = t.dims();
      if (isVocabTable(name)) {
        v = Arrays.copyOf(v, c.vocabSize() * c.hiddenSize());
        dims = new long[] {c.vocabSize(), c.hiddenSize()};
      }
      w.add(name, v, dims);
    }
    w.write(file);
  }

  /** Reads config.json and model.safetensors from dir into a new model on device. */
  public static Llama load(Path dir, Device device) throws IOException {
    LlamaConfig config = readConfig(dir);
    Llama model = new Llama(config, 0, device);
    try {
      readWeights(model, dir.resolve(WEIGHTS));
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
    return model;
  }

  public static LlamaConfig readConfig(Path dir) throws IOException {
    Path file = dir.resolve(CONFIG);
    try {
      return LlamaConfig.fromJson(Files.readString(file));
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  /** Overwrites every parameter of model from an HF Llama safetensors file; throws when any is missing. */
  public static void readWeights(Llama model, Path file) throws IOException {
    LlamaConfig c = model.config();
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      Set<String> used = new HashSet<>();
      for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
        String name = e.getKey();
        Tensor t = e.getValue().value();
        String stored = storedName(r, name);
        if (stored == null) throw new IOException(file + ": no tensor " + name);
        used.add(stored);
        Safetensors.Entry entry = r.entry(stored);
        long[] expected = t.dims();
        if (isVocabTable(name)) expected[0] = c.vocabSize();
        if (!Arrays.equals(entry.shape(), expected)) {
          throw new IOException(file + ": " + stored + " has shape " + Arrays.toString(entry.shape()) + ", expected "
              + Arrays.toString(expected) + " for " + c);
        }
        float[] v;
        try {
          v = r.floats(stored);
        } catch (IllegalArgumentException ex) {
          throw new IOException(ex.getMessage(), ex);
        }
        if (isVocabTable(name)) v = Arrays.copyOf(v, Math.toIntExact(t.numel()));
        t.copyFrom(v);
      }
      for (String name : r.entries().keySet()) {
        if (used.contains(name) || name.endsWith(".rotary_emb.inv_freq")) continue;
        if (c.tieWordEmbeddings() && name.equals(HEAD)) continue;
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
    return name.equals("model.embed_tokens.weight") || name.equals(HEAD);
  }
}
