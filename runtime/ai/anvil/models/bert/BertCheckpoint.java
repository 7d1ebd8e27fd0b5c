package ai.anvil.models.bert;

import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Safetensors;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * BERT weights in Hugging Face layout: a folder with {@code config.json} and {@code model.safetensors}
 * that {@code BertModel.from_pretrained} / {@code BertForMaskedLM.from_pretrained} load.
 *
 * <p>Prefixes are handled as HF handles its base-model prefix: a BertModel file has bare names
 * ({@code embeddings.*}, {@code encoder.*}, {@code pooler.*}); a BertForMaskedLM file puts the encoder under
 * {@code bert.} and adds {@code cls.predictions.*}. Either file loads into either model: the encoder is
 * taken from under {@code bert.} when the file has that prefix, heads the model lacks are skipped, as are
 * the {@code position_ids} buffer, the tied decoder copies ({@code cls.predictions.decoder.*}) and the
 * next-sentence head of BertForPreTraining files. Old files' {@code LayerNorm.gamma/beta} read as
 * {@code weight/bias}.
 *
 * <p>Loading is all or nothing: every tensor is found and checked (dtype, shape against the config) and
 * read before any parameter is written, and a tensor the model has no place for is an error (it means
 * the file and config.json disagree, e.g. on the layer count). Errors are IOExceptions naming the file
 * and the tensor.
 */
public final class BertCheckpoint {
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";
  private static final String PREFIX = "bert.";

  private BertCheckpoint() {}

  // ---- writing ----------------------------------------------------------------------------------

  /** Writes a BertModel folder (config.json, model.safetensors), each file atomically. */
  public static void save(Bert model, Path dir) throws IOException {
    Files.createDirectories(dir);
    writeWeights(model, dir.resolve(WEIGHTS));
    AtomicFiles.writeString(dir.resolve(CONFIG), model.config().toJsonString("BertModel"));
  }

  /** Writes a BertForMaskedLM folder (config.json, model.safetensors), each file atomically. */
  public static void save(BertForMaskedLM model, Path dir) throws IOException {
    Files.createDirectories(dir);
    writeWeights(model, dir.resolve(WEIGHTS));
    AtomicFiles.writeString(dir.resolve(CONFIG), model.config().toJsonString("BertForMaskedLM"));
  }

  /** Every parameter under its HF name, F32, in one safetensors file written atomically. */
  public static void writeWeights(Module model, Path file) throws IOException {
    Safetensors.Writer w = new Safetensors.Writer().metadata("format", "pt");
    for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
      Tensor t = e.getValue().value();
      w.add(e.getKey(), t.toFloatArray(), t.dims());
    }
    w.write(file);
  }

  // ---- reading ----------------------------------------------------------------------------------

  public static BertConfig readConfig(Path dir) throws IOException {
    Path file = dir.resolve(CONFIG);
    if (!Files.isRegularFile(file)) throw new IOException(dir + ": no " + CONFIG);
    try {
      return BertConfig.fromJson(Files.readString(file));
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  /** A BertModel from a folder of either layout; it has a pooler when the file has one. */
  public static Bert loadModel(Path dir, Device device) throws IOException {
    BertConfig config = readConfig(dir);
    Path file = dir.resolve(WEIGHTS);
    boolean pooler;
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      pooler = r.entries().containsKey("pooler.dense.weight") || r.entries().containsKey(PREFIX + "pooler.dense.weight");
    }
    Bert model = new Bert(config, pooler, 0, device);
    try {
      readWeights(model, file);
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
    return model;
  }

  /** A BertForMaskedLM from a folder of either layout (a BertModel file lacks the head: an error). */
  public static BertForMaskedLM loadMaskedLM(Path dir, Device device) throws IOException {
    BertForMaskedLM model = new BertForMaskedLM(readConfig(dir), 0, device);
    try {
      readWeights(model, dir.resolve(WEIGHTS));
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
    return model;
  }

  /**
   * Overwrites every parameter of a {@link Bert} or {@link BertForMaskedLM} from an HF safetensors file,
   * all or nothing: on any error no parameter has changed.
   */
  public static void readWeights(Module model, Path file) throws IOException {
    boolean maskedLm;
    BertConfig config;
    if (model instanceof Bert b) {
      maskedLm = false;
      config = b.config();
    } else if (model instanceof BertForMaskedLM m) {
      maskedLm = true;
      config = m.config();
    } else {
      throw new IllegalArgumentException("BertCheckpoint: " + model.getClass().getSimpleName() + " is not a BERT model");
    }
    Map<Parameter, float[]> values = new LinkedHashMap<>();
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      Map<String, Safetensors.Entry> entries = r.entries();
      boolean prefixed = entries.keySet().stream().anyMatch(k -> k.startsWith(PREFIX));
      Set<String> used = new HashSet<>();
      Map<Parameter, String> plan = new LinkedHashMap<>();
      for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
        String stored = storedName(entries, e.getKey(), maskedLm, prefixed);
        if (stored == null) {
          throw new IOException(file + ": missing tensor " + fileName(e.getKey(), maskedLm, prefixed) + " (config: "
              + config + ")");
        }
        Safetensors.Entry entry = entries.get(stored);
        if (!List.of("F32", "F16", "BF16").contains(entry.dtype())) {
          throw new IOException(file + ": tensor " + stored + " has dtype " + entry.dtype() + ", expected F32, F16 or BF16");
        }
        long[] expected = e.getValue().value().dims();
        if (!Arrays.equals(entry.shape(), expected)) {
          throw new IOException(file + ": tensor " + stored + " has shape " + Arrays.toString(entry.shape()) + ", expected "
              + Arrays.toString(expected) + " from config.json (" + config + ")");
        }
        plan.put(e.getValue(), stored);
        used.add(stored);
      }
      List<String> unexpected = new ArrayList<>();
      for (String name : entries.keySet()) {
        if (!used.contains(name) && !skippable(name, maskedLm, prefixed)) unexpected.add(name);
      }
      if (!unexpected.isEmpty()) {
        throw new IOException(file + ": unexpected tensor " + unexpected.get(0)
            + (unexpected.size() > 1 ? " (and " + (unexpected.size() - 1) + " more)" : "") + " for config " + config);
      }
      for (Map.Entry<Parameter, String> e : plan.entrySet()) values.put(e.getKey(), r.floats(e.getValue()));
    }
    for (Map.Entry<Parameter, float[]> e : values.entrySet()) e.getKey().value().copyFrom(e.getValue());
  }

  /** The name a parameter has in a file of the given layout, or null when the file lacks it. */
  private static String storedName(Map<String, Safetensors.Entry> entries, String name, boolean maskedLm, boolean prefixed) {
    String n = fileName(name, maskedLm, prefixed);
    if (entries.containsKey(n)) return n;
    String legacy = n.endsWith(".LayerNorm.weight") ? n.replace(".LayerNorm.weight", ".LayerNorm.gamma")
        : n.endsWith(".LayerNorm.bias") ? n.replace(".LayerNorm.bias", ".LayerNorm.beta") : null;
    return legacy != null && entries.containsKey(legacy) ? legacy : null;
  }

  /** BertModel names gain "bert." in a prefixed file; BertForMaskedLM's "bert." names lose it in a bare one. */
  private static String fileName(String name, boolean maskedLm, boolean prefixed) {
    if (!maskedLm) return prefixed ? PREFIX + name : name;
    return !prefixed && name.startsWith(PREFIX) ? name.substring(PREFIX.length()) : name;
  }

  /** Tensors a file may hold that this model has no parameter for, and that HF skips too. */
  private static boolean skippable(String name, boolean maskedLm, boolean prefixed) {
    if (name.endsWith("embeddings.position_ids")) return true;
    if (name.startsWith("cls.predictions.decoder.")) return true;          // tied to the word table / cls bias
    if (name.startsWith("cls.seq_relationship.")) return true;             // BertForPreTraining's NSP head
    if (!maskedLm) {
      if (prefixed && !name.startsWith(PREFIX)) return true;              // heads of a task model
      if (!prefixed && name.startsWith("cls.")) return true;
      return false;
    }
    String bare = prefixed && name.startsWith(PREFIX) ? name.substring(PREFIX.length()) : name;
    return bare.startsWith("pooler.");                                    // BertForMaskedLM has no pooler
  }
}
