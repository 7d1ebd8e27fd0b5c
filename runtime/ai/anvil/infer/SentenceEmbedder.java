package ai.anvil.infer;

import ai.anvil.autograd.Tape;
import ai.anvil.data.tokenizer.Tokenizers;
import ai.anvil.data.tokenizer.WordPieceTokenizer;
import ai.anvil.io.Json;
import ai.anvil.models.bert.Bert;
import ai.anvil.models.bert.BertCheckpoint;
import ai.anvil.models.bert.Pooling;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Sentence embeddings from a BERT encoder, as sentence-transformers computes them: WordPiece ids with
 * [CLS]/[SEP], cut at maxLength tokens; a batch padded to its longest row with the padding masked out
 * of attention; mean pooling over real tokens (or the [CLS] state); optionally L2-normalized. Texts are
 * batched in length order (padding does not change a row's result, only its cost) and returned in the
 * order given. The model is only read, so one embedder serves any number of threads.
 */
public final class SentenceEmbedder implements AutoCloseable {
  /** How token states become one vector. */
  public enum Mode { MEAN, CLS }

  private final Bert model;
  private final WordPieceTokenizer tokenizer;
  private final Mode mode;
  private final boolean normalize;
  private final int maxLength;
  private final int padId;

  /**
   * @param model the encoder (this embedder closes it)
   * @param maxLength tokens per text including [CLS] and [SEP], at most the model's positions
   */
  public SentenceEmbedder(Bert model, WordPieceTokenizer tokenizer, Mode mode, boolean normalize, int maxLength) {
    if (maxLength < 2 || maxLength > model.config().maxPositionEmbeddings()) {
      throw new IllegalArgumentException("maxLength must be in [2, " + model.config().maxPositionEmbeddings() + "], got " + maxLength);
    }
    if (tokenizer.vocabSize() > model.config().vocabSize()) {
      throw new IllegalArgumentException("the tokenizer's " + tokenizer.vocabSize() + " tokens exceed the model's vocabulary "
          + model.config().vocabSize());
    }
    this.model = model;
    this.tokenizer = tokenizer;
    this.mode = mode;
    this.normalize = normalize;
    this.maxLength = maxLength;
    this.padId = tokenizer.tokenId("[PAD]").orElse(model.config().padTokenId());
    model.train(false);
  }

  /**
   * A model folder: config.json + model.safetensors (BertModel or BertForMaskedLM layout) and
   * tokenizer.json, plus sentence-transformers' files when present: {@code sentence_bert_config.json}
   * (max_seq_length), {@code 1_Pooling/config.json} (mean or CLS) and {@code modules.json} (whether a
   * Normalize module follows). Without them: mean pooling, normalized, the model's full length.
   */
  public static SentenceEmbedder load(Path dir, Device device) throws IOException {
    if (!(Tokenizers.load(dir.resolve("tokenizer.json")) instanceof WordPieceTokenizer tokenizer)) {
      throw new IOException(dir.resolve("tokenizer.json") + ": not a WordPiece tokenizer");
    }
    Mode mode = Mode.MEAN;
    boolean normalize = true;
    int maxLength = Integer.MAX_VALUE;
    try {
      Path st = dir.resolve("sentence_bert_config.json");
      if (Files.isRegularFile(st)) maxLength = Json.getInt(Json.parseObject(Files.readString(st)), "max_seq_length", maxLength);
      Path pooling = dir.resolve("1_Pooling").resolve("config.json");
      if (Files.isRegularFile(pooling)) {
        Map<String, Object> p = Json.parseObject(Files.readString(pooling));
        if (Json.getBoolean(p, "pooling_mode_cls_token", false)) mode = Mode.CLS;
        else if (!Json.getBoolean(p, "pooling_mode_mean_tokens", false)) {
          throw new IOException(pooling + ": only mean and CLS pooling are supported");
        }
      }
      Path modules = dir.resolve("modules.json");
      if (Files.isRegularFile(modules)) normalize = Files.readString(modules).contains("sentence_transformers.models.Normalize");
    } catch (IllegalArgumentException e) {
      throw new IOException(dir + ": " + e.getMessage(), e);
    }
    Bert model = BertCheckpoint.loadModel(dir, device);
    return new SentenceEmbedder(model, tokenizer, mode, normalize, Math.min(maxLength, model.config().maxPositionEmbeddings()));
  }

  public int dimension() {
    return model.config().hiddenSize();
  }

  public Mode mode() {
    return mode;
  }

  public boolean normalizes() {
    return normalize;
  }

  public int maxLength() {
    return maxLength;
  }

  public WordPieceTokenizer tokenizer() {
    return tokenizer;
  }

  /** One vector per text, in order, computed batchSize texts at a time. */
  public float[][] embed(List<String> texts, int batchSize) {
    if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
    int[][] ids = new int[texts.size()][];
    for (int i = 0; i < ids.length; i++) ids[i] = tokenizer.encode(texts.get(i), maxLength);
    Integer[] order = new Integer[ids.length];
    for (int i = 0; i < order.length; i++) order[i] = i;
    Arrays.sort(order, Comparator.comparingInt((Integer i) -> -ids[i].length));
    float[][] out = new float[ids.length][];
    for (int start = 0; start < order.length; start += batchSize) {
      Integer[] rows = Arrays.copyOfRange(order, start, Math.min(order.length, start + batchSize));
      float[] vectors = embedBatch(rows, ids);
      int h = dimension();
      for (int r = 0; r < rows.length; r++) out[rows[r]] = Arrays.copyOfRange(vectors, r * h, (r + 1) * h);
    }
    return out;
  }

  /** The token ids and attention mask of a right-padded batch, then the pooled (and normalized) vectors. */
  private float[] embedBatch(Integer[] rows, int[][] ids) {
    int b = rows.length, t = 0;
    for (Integer r : rows) t = Math.max(t, ids[r].length);
    int[] flat = new int[b * t], mask = new int[b * t];
    Arrays.fill(flat, padId);
    for (int i = 0; i < b; i++) {
      int[] row = ids[rows[i]];
      System.arraycopy(row, 0, flat, i * t, row.length);
      Arrays.fill(mask, i * t, i * t + row.length, 1);
    }
    float[] vectors;
    try (Tape.NoGrad ng = Tape.noGrad(); Scope scope = Scope.open()) {
      Device device = model.device();
      Tensor maskT = Tensor.ofInts(mask, device, b, t);
      Tensor hidden = model.forward(Tensor.ofInts(flat, device, b, t), null, maskT);
      vectors = (mode == Mode.CLS ? Pooling.cls(hidden) : Pooling.mean(hidden, maskT)).toFloatArray();
    }
    if (normalize) Pooling.l2Normalize(vectors, dimension());
    return vectors;
  }

  @Override
  public void close() {
    model.close();
  }
}
