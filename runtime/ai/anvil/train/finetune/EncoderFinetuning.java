package ai.anvil.train.finetune;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.data.tokenizer.Tokenizers;
import ai.anvil.data.tokenizer.WordPieceTokenizer;
import ai.anvil.infer.ClassificationScores;
import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.models.bert.BertCheckpoint;
import ai.anvil.models.heads.Bodies;
import ai.anvil.models.heads.HeadCheckpoint;
import ai.anvil.models.heads.Pool;
import ai.anvil.peft.PeftModel;
import ai.anvil.peft.lora.LoraConfig;
import ai.anvil.tensor.Device;
import ai.anvil.train.Batch;
import ai.anvil.train.HeadObjectives;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainListener;
import ai.anvil.train.Trainer;
import ai.anvil.train.checkpoint.Checkpoint;
import ai.anvil.train.report.MetricsLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code anvil finetune --task classify} on a BERT base (all-MiniLM-L6-v2 from {@code import-minilm}, or
 * any BertModel folder), or on a GPT with {@code --head true}: an {@link EncoderClassifier}
 * (models.heads.SequenceClassifier, mean pooling) trained with full fine-tuning, LoRA, Houlsby adapters,
 * prompt tuning, prefix tuning or the head alone, validated by cross-entropy every
 * eval_interval steps, the best weights kept. The head trains with every method.
 *
 * <pre>
 *   OUT/adapter/                        the best weights: full, an HF BertForSequenceClassification folder
 *                                       (models.heads.HeadCheckpoint); the others, classifier.safetensors (the
 *                                       method's tensors and the head's classifier; {@link #load})
 *   OUT/adapter/labels.json             the labels, in the head's order, the method and its settings
 *   OUT/metrics.jsonl, OUT/loss.png, OUT/finetune_config.json   as for GPT bases
 * </pre>
 */
final class EncoderFinetuning {
  private static final Logger log = LoggerFactory.getLogger(EncoderFinetuning.class);
  /** Tokens per sentence, [CLS] and [SEP] included, when block_size is 0 (the longest sentence of the sentiment set is 77 tokens). */
  static final int DEFAULT_MAX_TOKENS = 128;
  /** The trainable tensors of every method but full (the method's and the head's), in the adapter folder. */
  static final String TRAINABLE = "classifier.safetensors";
  static final String LABELS = "labels.json";

  private EncoderFinetuning() {}

  /** True when dir holds a BERT model (config.json with model_type bert). */
  static boolean isEncoder(Path dir) {
    Path config = dir.resolve("config.json");
    if (!Files.isRegularFile(config)) return false;
    try {
      return "bert".equals(Json.getString(Json.parseObject(Files.readString(config)), "model_type", ""));
    } catch (IOException | IllegalArgumentException e) {
      return false;
    }
  }

  static Finetuning.Outcome run(FinetuneConfig c, Path baseDir, TrainListener listener) throws IOException {
    long wallStart = System.nanoTime();
    if (!c.task().equals("classify")) throw new IllegalArgumentException("an encoder base (or head) takes task classify, got " + c.task());
    if (!EncoderClassifier.METHODS.contains(c.method())) {
      throw new IllegalArgumentException("a head is fine-tuned with method " + EncoderClassifier.METHODS + ", got " + c.method());
    }
    if (c.forgettingText() != null) throw new IllegalArgumentException("forgetting_text is for classification by generation, not with a head");
    if (c.threads() > 0) CpuBackend.setThreads(c.threads());
    Device device = Device.parse(c.device());
    Path out = Path.of(c.out());
    Files.createDirectories(out);
    c.save(out.resolve("finetune_config.json"));
    Tokenizer tokenizer = Tokenizers.load(baseDir.resolve("tokenizer.json"));
    Path metricsFile = out.resolve("metrics.jsonl");
    Files.deleteIfExists(metricsFile);

    List<Examples.Example> train = new ArrayList<>(Examples.read(Path.of(c.data()), c.labelKey()));
    List<Examples.Example> val;
    if (c.valData() != null) {
      val = Examples.read(Path.of(c.valData()), c.labelKey());
    } else {
      java.util.Collections.shuffle(train, new java.util.Random(c.seed()));
      int nVal = Math.max(1, train.size() / 10);
      val = List.copyOf(train.subList(0, nVal));
      train = List.copyOf(train.subList(nVal, train.size()));
    }
    List<Examples.Example> test = c.testData() == null ? null : Examples.read(Path.of(c.testData()), c.labelKey());
    List<Examples.Example> all = new ArrayList<>(train);
    all.addAll(val);
    List<String> labels = Examples.labels(all);
    if (labels.size() < 2) throw new IllegalArgumentException("classify needs at least two labels, got " + labels);

    SequenceEncoder body = Bodies.load(baseDir, device);
    boolean bert = body.modelType().equals("bert");
    if (bert && !(tokenizer instanceof WordPieceTokenizer)) throw new IOException(baseDir.resolve("tokenizer.json") + ": not a WordPiece tokenizer");
    // Padding is masked out; a causal body's rows are right-padded and pooled at their last real token.
    int padId = bert ? ((WordPieceTokenizer) tokenizer).tokenId("[PAD]").orElse(BertCheckpoint.readConfig(baseDir).padTokenId()) : 0;
    // Mean pooling on every body: MiniLM was trained with it, and on a char-level GPT the last token (HF's
    // choice for GPT-2) is mostly a full stop, which says little (measured: val loss barely moves).
    Pool pool = Pool.MEAN;
    try (EncoderClassifier model = create(body, labels, pool, method(c, bert), c.trainHead(), c.seed())) {
      int maxTokens = Math.min(c.blockSize() > 0 ? c.blockSize() : DEFAULT_MAX_TOKENS, model.maxTokens());
      long trainable = model.parameterCount(true), total = model.parameterCount(false);
      log.info("{} on {}: {}", c.method(), baseDir, PeftModel.describeTrainable(model));
      if (listener instanceof Finetuning.Listener l) l.onMethod(c.method(), trainable, total);
      int ignore = EncoderClassifier.ignoreIndex();
      SentenceBatches trainBatches = new SentenceBatches(rows(train, tokenizer, maxTokens, labels), c.batchSize(), true, c.seed(),
          padId, ignore);
      List<SentenceBatches.Row> valRows = rows(val, tokenizer, maxTokens, labels);
      SentenceBatches valBatches = new SentenceBatches(valRows, c.batchSize(), false, 0, padId, ignore);
      int evalBatches = c.evalIters() > 0 ? c.evalIters() : valBatches.batchesPerPass();
      int[] shape = bert ? new int[] {BertCheckpoint.readConfig(baseDir).numHiddenLayers(), BertCheckpoint.readConfig(baseDir).numAttentionHeads()}
          : new int[] {Checkpoint.modelConfig(baseDir).nLayer(), Checkpoint.modelConfig(baseDir).nHead()};
      TrainConfig tc = c.trainConfig(shape[0], shape[1], body.hiddenSize(), maxTokens, evalBatches);
      try (Trainer trainer = new Trainer(model, HeadObjectives.of(model.head()), tc, trainBatches, valBatches, model);
           MetricsLog metrics = new MetricsLog(metricsFile)) {
        model.train(false);
        double baselineLoss = trainer.meanLoss(trainer.evalBatches());
        double baselineAccuracy = accuracy(model, valRows, c.batchSize(), padId);
        log.info("before fine-tuning: val loss {}, accuracy {}", baselineLoss, baselineAccuracy);
        Path adapter = out.resolve(Finetuning.ADAPTER);
        Finetuning.Best best = new Finetuning.Best(model, baselineLoss, () -> save(model, tokenizer, labels, c.method(), adapter));
        best.save();
        trainer.listener(TrainListener.all(metrics, best, listener))
            .checkpointer(t -> save(model, tokenizer, labels, c.method(), out.resolve(Finetuning.LATEST)));
        model.train(true);
        Trainer.Result result = trainer.fit();
        metrics.close();
        best.restore();
        model.train(false);
        double accuracy = accuracy(model, valRows, c.batchSize(), padId);
        ClassificationScores scores = null;
        if (test != null) {
          List<String> truth = new ArrayList<>(), predicted = new ArrayList<>(), trainLabels = new ArrayList<>();
          int[] p = predict(model, rows(test, tokenizer, maxTokens, labels, true), c.batchSize(), padId);
          for (int i = 0; i < p.length; i++) {
            truth.add(test.get(i).label());
            predicted.add(labels.get(p[i]));
          }
          for (Examples.Example e : train) trainLabels.add(e.label());
          scores = ClassificationScores.of(truth, predicted, trainLabels);
          log.info("test: {}", scores);
        }
        log.info("after fine-tuning (best weights, step {}): val loss {}, accuracy {}", best.step, best.loss, accuracy);
        Path plot = Finetuning.plot(metricsFile, out.resolve("loss.png"), c);
        return new Finetuning.Outcome(result, c.method(), trainable, total, baselineLoss, best.loss, baselineAccuracy, accuracy,
            best.step, (System.nanoTime() - wallStart) / 1e9, out, adapter, metricsFile, plot, scores, null);
      }
    }
  }

  /** The config's method and its settings; LoRA's default target c_attn means BERT's query and value. */
  static EncoderClassifier.Method method(FinetuneConfig c, boolean bert) {
    LoraConfig lora = null;
    if (c.method().equals("lora")) {
      String targets = bert && c.loraTargets().equals("c_attn") ? "query,value" : c.loraTargets();
      lora = new LoraConfig(c.loraR(), c.loraAlpha(), c.loraDropout(), Arrays.asList(targets.split("\\s*,\\s*")), c.useRslora());
    }
    return new EncoderClassifier.Method(c.method(), lora, c.adapterSize(), c.virtualTokens());
  }

  /**
   * The classifier an adapter folder of a method other than full describes (labels.json and
   * classifier.safetensors), on the body in baseDir; the caller owns it. Full fine-tuning's folder is an HF
   * task model: {@link HeadCheckpoint#loadSequenceClassifier}.
   */
  static EncoderClassifier load(Path baseDir, Path adapterDir, Device device) throws IOException {
    Map<String, Object> meta = Json.parseObject(Files.readString(adapterDir.resolve(LABELS)));
    EncoderClassifier.Method method = EncoderClassifier.Method.fromMap(meta);
    if (method.name().equals("full")) throw new IOException(adapterDir + ": a full fine-tuning folder; load it with HeadCheckpoint");
    Object labels = meta.get("labels");
    if (!(labels instanceof List<?> l) || l.size() < 2) throw new IOException(adapterDir.resolve(LABELS) + ": labels missing");
    List<String> names = l.stream().map(String::valueOf).toList();
    EncoderClassifier model = create(Bodies.load(baseDir, device), names, Pool.parse(Json.getString(meta, "pooling", "mean")), method,
        Json.getBoolean(meta, "train_head", true), 0);
    try {
      model.loadOwn(adapterDir.resolve(TRAINABLE));
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
    model.train(false);
    return model;
  }

  /** The classifier on body, or body closed and the error thrown when the method does not fit it. */
  private static EncoderClassifier create(SequenceEncoder body, List<String> labels, Pool pool, EncoderClassifier.Method method,
                                          boolean trainHead, long seed) {
    try {
      return new EncoderClassifier(body, labels, pool, method, trainHead, seed);
    } catch (RuntimeException e) {
      if (body instanceof ai.anvil.nn.Module m) m.close();
      throw e;
    }
  }

  static List<SentenceBatches.Row> rows(List<Examples.Example> xs, Tokenizer t, int maxTokens, List<String> labels) {
    return rows(xs, t, maxTokens, labels, false);
  }

  /** Sentences as token rows; a label outside labels is an error unless unknownAllowed (test sets: scored as wrong). */
  private static List<SentenceBatches.Row> rows(List<Examples.Example> xs, Tokenizer t, int maxTokens, List<String> labels,
                                                boolean unknownAllowed) {
    List<SentenceBatches.Row> out = new ArrayList<>(xs.size());
    for (Examples.Example e : xs) {
      int label = labels.indexOf(e.label());
      if (label < 0 && !unknownAllowed) throw new IllegalArgumentException("label '" + e.label() + "' is not among " + labels);
      out.add(new SentenceBatches.Row(encode(t, e.text(), maxTokens), Math.max(label, 0)));
    }
    return out;
  }

  /** WordPiece with [CLS] and [SEP], cut to maxTokens; other tokenizers: the text's first maxTokens tokens. */
  private static int[] encode(Tokenizer t, String text, int maxTokens) {
    if (t instanceof WordPieceTokenizer w) return w.encode(text, maxTokens);
    int[] ids = t.encode(Examples.fit(t, text));
    if (ids.length == 0) ids = t.encode(Examples.fit(t, " ") + " ");   // nothing encodable ("10/10" in a char vocabulary): one space
    if (ids.length == 0) throw new IllegalArgumentException("a sentence has no tokens in this vocabulary: '" + text + "'");
    return ids.length > maxTokens ? java.util.Arrays.copyOf(ids, maxTokens) : ids;
  }

  static int[] predict(EncoderClassifier model, List<SentenceBatches.Row> rows, int batch, int padId) {
    int[] out = new int[rows.size()];
    for (int i = 0; i < rows.size(); i += batch) {
      int j = Math.min(rows.size(), i + batch);
      Batch b = SentenceBatches.of(rows.subList(i, j).toArray(new SentenceBatches.Row[0]), padId, EncoderClassifier.ignoreIndex());
      System.arraycopy(model.predict(b), 0, out, i, j - i);
    }
    return out;
  }

  private static double accuracy(EncoderClassifier model, List<SentenceBatches.Row> rows, int batch, int padId) {
    int[] p = predict(model, rows, batch, padId);
    int right = 0;
    for (int i = 0; i < p.length; i++) if (p[i] == rows.get(i).label()) right++;
    return (double) right / p.length;
  }

  /**
   * full: the whole classifier as an HF BertForSequenceClassification folder (HeadCheckpoint) with
   * tokenizer.json; lora: the trainable tensors (LoRA terms and classifier) in classifier.safetensors.
   * Both with labels.json (the labels in the head's order, the method, the pooling).
   */
  private static Path save(EncoderClassifier model, Tokenizer tokenizer, List<String> labels, String method, Path dir)
      throws IOException {
    Files.createDirectories(dir);
    if (method.equals("full")) {
      HeadCheckpoint.save(model.head(), dir);
      tokenizer.save(dir.resolve("tokenizer.json"));
    } else {
      model.saveOwn(dir.resolve(TRAINABLE));
    }
    Map<String, Object> meta = new LinkedHashMap<>();
    meta.put("labels", labels);
    meta.putAll(model.method().toMap());
    meta.put("train_head", model.trainsHead());
    meta.put("pooling", model.head().pool().key());
    AtomicFiles.writeString(dir.resolve(LABELS), Json.writePretty(meta));
    return dir;
  }
}
