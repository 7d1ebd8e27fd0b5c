package ai.anvil.models.heads;

import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import ai.anvil.models.AutoModel;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A task head with its body in Hugging Face task-model layout: one folder with {@code config.json} and
 * {@code model.safetensors} that {@code BertForSequenceClassification.from_pretrained} (and its kin) load.
 *
 * <pre>
 *   config.json        the body's config, architectures = [BertForSequenceClassification], id2label,
 *                      label2id, classifier_dropout; anvil_head (sequence_classification |
 *                      token_classification | lm) and anvil_pooling (pooler | cls | mean | last)
 *   model.safetensors  the body's tensors in its own HF layout under the task prefix (bert.*,
 *                      transformer.*), plus the head's (classifier.*, score.*, cls.predictions.*)
 * </pre>
 *
 * HF's BertForSequenceClassification always pools with the pooler; a head trained with mean pooling
 * says so in anvil_pooling, which HF ignores. Loading reads the body with its own loader
 * ({@link Bodies}) and the head's tensors by name, checked against the head's shapes.
 */
public final class HeadCheckpoint {
  public static final String HEAD_KEY = "anvil_head";
  public static final String POOLING_KEY = "anvil_pooling";

  private HeadCheckpoint() {}

  /** HF's class name for a body type and head suffix: (bert, ForSequenceClassification) -> BertForSequenceClassification. */
  public static String architecture(String modelType, String suffix) {
    String stem = switch (modelType) {
      case "bert" -> "Bert";
      case "gpt2" -> "GPT2";
      case "t5", "anvil-t5" -> "T5";
      default -> Character.toUpperCase(modelType.charAt(0)) + modelType.substring(1);
    };
    return stem + suffix;
  }

  // ---- saving -------------------------------------------------------------------------------------

  /** Writes head and body into dir (config.json and model.safetensors, each atomically). */
  public static void save(TaskHead head, Path dir) throws IOException {
    Files.createDirectories(dir);
    SequenceEncoder body = head.body();
    body.save(dir);                                    // the body's own layout, bare or prefixed names
    Path file = dir.resolve(AutoModel.WEIGHTS);
    List<String> prefixes = new ArrayList<>(body.taskModules().keySet());
    Safetensors.Writer w = new Safetensors.Writer().metadata("format", "pt");
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      for (Map.Entry<String, Safetensors.Entry> e : r.entries().entrySet()) {
        w.add(taskName(e.getKey(), prefixes), r.floats(e.getKey()), e.getValue().shape());
      }
    }
    for (Map.Entry<String, Parameter> e : head.headParameters().entrySet()) {
      Tensor t = e.getValue().value();
      w.add(e.getKey(), t.toFloatArray(), t.dims());
    }
    w.write(file);
    Map<String, Object> config = Bodies.config(dir);
    config.put("architectures", List.of(head.architecture()));
    config.put(HEAD_KEY, head.kind());
    if (head instanceof SequenceClassifier c) {
      putLabels(config, c.labels());
      config.put(POOLING_KEY, c.pool().key());
    } else if (head instanceof TokenClassifier c) {
      putLabels(config, c.labels());
    }
    if (!(head instanceof LmHead)) config.put("classifier_dropout", head.dropout());
    AtomicFiles.writeString(dir.resolve(AutoModel.CONFIG), Json.writePretty(config));
  }

  /**
   * A body file's name in the task file: prefixed names stay; a bare name gains the body's one prefix
   * (BertModel files: embeddings.* -> bert.embeddings.*); with several prefixes (T5: shared, encoder) a
   * name under none of them is a part of the saved model outside the body (T5's decoder), kept as it is
   * so the model's own loader reads the file back.
   */
  private static String taskName(String name, List<String> prefixes) {
    for (String p : prefixes) if (name.startsWith(p + ".")) return name;
    return prefixes.size() == 1 ? prefixes.get(0) + "." + name : name;
  }

  private static void putLabels(Map<String, Object> config, List<String> labels) {
    Map<String, Object> id2label = new LinkedHashMap<>();
    Map<String, Object> label2id = new LinkedHashMap<>();
    for (int i = 0; i < labels.size(); i++) {
      id2label.put(Integer.toString(i), labels.get(i));
      label2id.put(labels.get(i), i);
    }
    config.put("id2label", id2label);
    config.put("label2id", label2id);
  }

  // ---- loading ------------------------------------------------------------------------------------

  /** The head saved in dir, whatever its kind, with its body; the caller owns (closes) it. */
  public static TaskHead load(Path dir, Device device) throws IOException {
    Map<String, Object> config = Bodies.config(dir);
    String kind = kind(config, dir);
    SequenceEncoder body = Bodies.load(dir, device);
    TaskHead head = null;
    try {
      head = switch (kind) {
        case "sequence_classification" -> new SequenceClassifier(body, labels(config, dir),
            config.containsKey(POOLING_KEY) ? Pool.parse(Json.getString(config, POOLING_KEY, null)) : Pool.defaultFor(body),
            dropout(config, body), 0);
        case "token_classification" -> new TokenClassifier(body, labels(config, dir), dropout(config, body), 0);
        case "lm" -> LmHead.on(body, 0);
        default -> throw new IOException(dir + ": unknown " + HEAD_KEY + " " + kind);
      };
      readHead(head, dir.resolve(AutoModel.WEIGHTS));
      return head;
    } catch (IOException | RuntimeException e) {
      if (head != null) head.close();
      else if (body instanceof AutoCloseable c) closeQuietly(c);
      throw e;
    }
  }

  /** Loads a head that must be a sequence classifier. */
  public static SequenceClassifier loadSequenceClassifier(Path dir, Device device) throws IOException {
    return as(load(dir, device), SequenceClassifier.class, dir);
  }

  public static TokenClassifier loadTokenClassifier(Path dir, Device device) throws IOException {
    return as(load(dir, device), TokenClassifier.class, dir);
  }

  public static LmHead loadLmHead(Path dir, Device device) throws IOException {
    return as(load(dir, device), LmHead.class, dir);
  }

  private static <T extends TaskHead> T as(TaskHead head, Class<T> type, Path dir) throws IOException {
    if (type.isInstance(head)) return type.cast(head);
    head.close();
    throw new IOException(dir + ": holds a " + head.kind() + " head, not a " + type.getSimpleName());
  }

  /** The head's tensors from file, all checked before any is written. */
  public static void readHead(TaskHead head, Path file) throws IOException {
    Map<Parameter, float[]> values = new LinkedHashMap<>();
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      for (Map.Entry<String, Parameter> e : head.headParameters().entrySet()) {
        Safetensors.Entry entry = r.entries().get(e.getKey());
        if (entry == null) throw new IOException(file + ": missing head tensor " + e.getKey());
        long[] expected = e.getValue().value().dims();
        if (!Arrays.equals(entry.shape(), expected)) {
          throw new IOException(file + ": head tensor " + e.getKey() + " has shape " + Arrays.toString(entry.shape())
              + ", expected " + Arrays.toString(expected));
        }
        values.put(e.getValue(), r.floats(e.getKey()));
      }
    }
    for (Map.Entry<Parameter, float[]> e : values.entrySet()) e.getKey().value().copyFrom(e.getValue());
  }

  /** anvil_head, else what HF's architectures name says. */
  private static String kind(Map<String, Object> config, Path dir) throws IOException {
    if (config.get(HEAD_KEY) instanceof String s) return s;
    if (config.get("architectures") instanceof List<?> a && !a.isEmpty()) {
      String arch = String.valueOf(a.get(0));
      if (arch.endsWith("ForSequenceClassification")) return "sequence_classification";
      if (arch.endsWith("ForTokenClassification")) return "token_classification";
      if (arch.endsWith("ForMaskedLM") || arch.endsWith("LMHeadModel")) return "lm";
    }
    throw new IOException(dir + ": config.json names no task head (" + HEAD_KEY + " or a *ForSequenceClassification, "
        + "*ForTokenClassification, *ForMaskedLM architecture)");
  }

  /** id2label in id order, else num_labels default names. */
  private static List<String> labels(Map<String, Object> config, Path dir) throws IOException {
    if (config.get("id2label") instanceof Map<?, ?> m && !m.isEmpty()) {
      String[] names = new String[m.size()];
      for (Map.Entry<?, ?> e : m.entrySet()) {
        int id;
        try {
          id = Integer.parseInt(String.valueOf(e.getKey()));
        } catch (NumberFormatException ex) {
          throw new IOException(dir + ": id2label key " + e.getKey() + " is not a class id");
        }
        if (id < 0 || id >= names.length) throw new IOException(dir + ": id2label ids are not 0.." + (names.length - 1));
        names[id] = String.valueOf(e.getValue());
      }
      return List.of(names);
    }
    return SequenceClassifier.defaultLabels(Json.getInt(config, "num_labels", 2));
  }

  private static double dropout(Map<String, Object> config, SequenceEncoder body) {
    Object d = config.get("classifier_dropout");
    return d instanceof Number n ? n.doubleValue() : body.classifierDropout();
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception ignored) {
      // the load error is what the caller needs to see
    }
  }
}
