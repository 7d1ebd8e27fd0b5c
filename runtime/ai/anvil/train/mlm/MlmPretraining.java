package ai.anvil.train.mlm;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.data.Corpora;
import ai.anvil.data.fetch.Fetcher;
import ai.anvil.data.masking.MaskedLm;
import ai.anvil.data.masking.MlmVocabulary;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.data.tokenizer.Tokenizers;
import ai.anvil.io.Safetensors;
import ai.anvil.models.AutoModel;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.models.bert.Bert;
import ai.anvil.models.bert.BertConfig;
import ai.anvil.models.heads.Bodies;
import ai.anvil.models.heads.HeadCheckpoint;
import ai.anvil.models.heads.LmHead;
import ai.anvil.tensor.Device;
import ai.anvil.train.HeadObjectives;
import ai.anvil.train.Pretraining;
import ai.anvil.train.RandomState;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainListener;
import ai.anvil.train.Trainer;
import ai.anvil.train.checkpoint.Checkpoint;
import ai.anvil.train.report.LossPlot;
import ai.anvil.train.report.MetricsLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A whole masked-LM pre-training run (objective {@code mlm}): a BERT encoder with BERT's prediction head
 * ({@link LmHead}, BertForMaskedLM's names), trained on one row per line of the corpus with 15% of the
 * tokens chosen (80% [MASK], 10% random, 10% kept; {@link MaskedLm}), loss on the chosen tokens only,
 * normalized over the chosen tokens of the accumulation window. Same out folder as the causal run:
 * checkpoint/ (BertForMaskedLM layout + tokenizer + training state), metrics.jsonl, loss.png,
 * train_config.json; the sample is a fill-in of masked tokens of a validation row.
 *
 * <p>The model starts from random weights sized by the config (hidden n_embd, n_layer layers, n_head
 * heads, feed-forward 4 n_embd, block_size positions), from {@code init} (a BERT folder: an Anvil
 * checkpoint, a Hugging Face BertForMaskedLM / BertModel folder, an imported all-MiniLM-L6-v2; a folder
 * without an MLM head gets a fresh one; its tokenizer.json, when present, is the run's tokenizer), or
 * from {@code resume}. Tokenizers: a WordPiece tokenizer.json, or {@code char} with [PAD] [MASK] [CLS]
 * [SEP] appended ({@link MlmVocabulary}).
 */
public final class MlmPretraining {
  private static final Logger log = LoggerFactory.getLogger(MlmPretraining.class);

  private MlmPretraining() {}

  public static Pretraining.Outcome run(TrainConfig config, TrainListener listener) throws IOException {
    if (!config.objective().equals("mlm")) throw new IllegalArgumentException("MlmPretraining runs objective mlm, not " + config.objective());
    if (config.threads() > 0) CpuBackend.setThreads(config.threads());
    Device device = Device.parse(config.device());
    Path out = Path.of(config.out());
    Files.createDirectories(out);
    Path resume = config.resume() == null ? null : Checkpoint.resolve(Path.of(config.resume()));
    Path init = config.init() == null ? null : Pretraining.initFolder(Path.of(config.init()));
    Path cache = Fetcher.defaultCacheDir();

    String text = config.corpus() == null ? Corpora.embeddedKjv() : Corpora.load(config.corpus(), cache);
    Path from = resume != null ? resume : init;
    Tokenizer tokenizer = from != null && Files.isRegularFile(from.resolve(Checkpoint.TOKENIZER))
        ? Checkpoint.loadTokenizer(from) : Tokenizers.forSpec(config.tokenizer(), text, cache);
    MlmVocabulary vocab = MlmVocabulary.of(tokenizer);
    MlmRows rows = MlmRows.of(text, tokenizer, vocab, config.blockSize());
    config.save(out.resolve("train_config.json"));
    Path metricsFile = out.resolve("metrics.jsonl");
    if (resume == null) Files.deleteIfExists(metricsFile);

    MaskedLm masking = new MaskedLm(vocab, config.maskProbability());
    try (LmHead head = model(config, vocab, from, device);
         Trainer trainer = new Trainer(head, HeadObjectives.of(head), config,
             new MaskedBatches(rows.train(), config.batchSize(), masking, config.seed()),
             new MaskedBatches(rows.val(), config.batchSize(), masking, config.seed() + 1), randomState(head));
         MetricsLog metrics = new MetricsLog(metricsFile)) {
      Bert bert = (Bert) head.body();
      if (config.blockSize() > bert.maxLength()) {
        throw new IllegalArgumentException("block_size " + config.blockSize() + " exceeds the model's max_position_embeddings "
            + bert.maxLength());
      }
      log.info("{} train / {} val rows (mean {} ids), vocabulary {}, BERT {} ({} parameters with the MLM head) on {}",
          rows.train().size(), rows.val().size(), String.format("%.1f", rows.meanTrainRowLength()), vocab.vocabSize(),
          bert.config(), head.parameterCount(false), device);
      if (resume != null) {
        Checkpoint.restoreState(resume, trainer);
        log.info("resumed from {} at step {}", resume, trainer.state().step());
      }
      trainer.listener(TrainListener.all(metrics, listener))
          .checkpointer(t -> Checkpoint.save(out, dir -> HeadCheckpoint.save(head, dir), tokenizer, t));
      Trainer.Result result = trainer.fit();
      metrics.close();
      Path plot = plot(metricsFile, out.resolve("loss.png"), bert.config());
      String sample = config.sampleTokens() > 0 ? MlmSample.fill(head, tokenizer, vocab, rows.val().get(0), config.seed()) : null;
      String tokenizerName = from != null && Files.isRegularFile(from.resolve(Checkpoint.TOKENIZER))
          ? from.resolve(Checkpoint.TOKENIZER).toString() : config.tokenizer();
      return new Pretraining.Outcome(result, head.parameterCount(false), vocab.vocabSize(), tokenizerName, device,
          CpuBackend.threads(), out, metricsFile, plot, sample);
    }
  }

  /**
   * The model: from a checkpoint or init folder (its BERT body; its MLM head when the file has one, else
   * a fresh head), or fresh from the config's sizes.
   */
  static LmHead model(TrainConfig config, MlmVocabulary vocab, Path from, Device device) throws IOException {
    if (from == null) {
      BertConfig c = new BertConfig(vocab.vocabSize(), config.nEmbd(), config.nLayer(), config.nHead(), 4 * config.nEmbd(),
          config.blockSize(), 2, 1e-12, "gelu", config.dropout(), 0.0, 0.02, vocab.padId());
      return LmHead.on(new Bert(c, false, config.seed(), device), config.seed() + 1);
    }
    SequenceEncoder body = Bodies.load(from, device);
    if (!(body instanceof Bert bert)) {
      if (body instanceof AutoCloseable c) closeQuietly(c);
      throw new IllegalArgumentException(from + ": masked LM needs a BERT encoder, got model_type " + body.modelType()
          + " (continue a GPT with objective clm)");
    }
    LmHead head = LmHead.on(bert, config.seed() + 1);
    try {
      if (bert.vocabSize() != vocab.vocabSize()) {
        throw new IllegalArgumentException(from + ": the model has " + bert.vocabSize() + " tokens, the tokenizer's MLM vocabulary "
            + vocab.vocabSize());
      }
      boolean hasHead;
      try (Safetensors.Reader r = Safetensors.Reader.open(from.resolve(AutoModel.WEIGHTS))) {
        hasHead = r.entries().containsKey("cls.predictions.bias");
      }
      if (hasHead) HeadCheckpoint.readHead(head, from.resolve(AutoModel.WEIGHTS));
      else log.info("{} has no MLM head (cls.predictions): it starts fresh", from);
      return head;
    } catch (IOException | RuntimeException e) {
      head.close();
      throw e;
    }
  }

  /** The body's dropout RNG (the head has no dropout) as the trainer's RandomState. */
  static RandomState randomState(LmHead head) {
    Bert bert = (Bert) head.body();
    return new RandomState() {
      @Override
      public long[] randomState() {
        return bert.randomState();
      }

      @Override
      public void restoreRandomState(long[] state) {
        bert.restoreRandomState(state);
      }
    };
  }

  private static Path plot(Path metricsFile, Path png, BertConfig model) {
    try {
      MetricsLog.Curves curves = MetricsLog.read(metricsFile);
      LossPlot.write(png, curves.train(), curves.val(), String.format("BERT MLM %d layers x %d wide: masked-token loss",
          model.numHiddenLayers(), model.hiddenSize()));
      return png;
    } catch (IOException | RuntimeException | LinkageError e) {
      log.warn("could not draw {}: {}", png, e.toString());
      return null;
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception ignored) {
      // the refusal is what the caller needs to see
    }
  }
}
