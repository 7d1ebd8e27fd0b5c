package ai.anvil.train.seq2seq;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.data.Corpora;
import ai.anvil.data.TokenDataset;
import ai.anvil.data.fetch.Fetcher;
import ai.anvil.data.masking.SpanCorruption;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.data.tokenizer.Tokenizers;
import ai.anvil.models.t5.T5;
import ai.anvil.models.t5.T5Config;
import ai.anvil.tensor.Device;
import ai.anvil.train.Pretraining;
import ai.anvil.train.RandomState;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainListener;
import ai.anvil.train.Trainer;
import ai.anvil.train.report.LossPlot;
import ai.anvil.train.report.MetricsLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A whole span-corruption pre-training run of a T5-style encoder-decoder ({@code pretrain --objective span}):
 * corpus and tokenizer as for causal LM, a 90/10 token split, {@link SpanCorruption} with the config's
 * noise density and mean span length (100 sentinels appended to the vocabulary after pad and eos), a
 * {@link T5} of n_layer encoder and n_layer decoder blocks, n_head heads, n_embd wide, d_ff 4 n_embd, and
 * the {@link Trainer} on the teacher-forced target loss. Encoder rows are block_size tokens long (the raw
 * window is the longest whose corrupted inputs fit); the trainer's tokens/s counts those encoder positions.
 *
 * <pre>
 *   OUT/
 *     checkpoint/        config.json + model.safetensors (T5Checkpoint), tokenizer.json, train_config.json
 *     metrics.jsonl      one JSON object per step and evaluation; val loss is over target tokens
 *     loss.png           train and val loss curves
 *     train_config.json  the config of the run
 *     tokens.shard       the tokenized corpus
 * </pre>
 *
 * <p>The checkpoint holds the model, not the optimizer state: resuming a span run is refused, and so is
 * init (starting from other weights).
 */
public final class SpanPretraining {
  private static final Logger log = LoggerFactory.getLogger(SpanPretraining.class);

  private SpanPretraining() {}

  /** Runs a span-corruption pre-training run; progress goes to listener. */
  public static Pretraining.Outcome run(TrainConfig config, TrainListener listener) throws IOException {
    if (!config.objective().equals("span")) {
      throw new IllegalArgumentException("SpanPretraining runs objective span, got " + config.objective());
    }
    if (config.resume() != null || config.init() != null) {
      throw new UnsupportedOperationException("span pre-training starts from random weights only: resume and init "
          + "are not supported for the encoder-decoder yet");
    }
    if (config.blockSize() < 8) {
      throw new IllegalArgumentException("span pre-training needs block_size >= 8 (encoder row length), got " + config.blockSize());
    }
    if (config.threads() > 0) CpuBackend.setThreads(config.threads());
    Device device = Device.parse(config.device());
    Path out = Path.of(config.out());
    Files.createDirectories(out);
    Path cache = Fetcher.defaultCacheDir();

    String text = config.corpus() == null ? Corpora.embeddedKjv() : Corpora.load(config.corpus(), cache);
    Tokenizer tokenizer = Tokenizers.forSpec(config.tokenizer(), text, cache);
    SpanCorruption spans = new SpanCorruption(tokenizer.vocabSize(), config.noiseDensity(), config.meanSpanLength(),
        SpanCorruption.SENTINELS);
    int rawLength = spans.rawLengthFor(config.blockSize(), config.blockSize());
    T5Config modelConfig = new T5Config(spans.vocabSize(), config.nEmbd(), 4 * config.nEmbd(), config.nHead(),
        config.nLayer(), config.nLayer(), config.blockSize(), config.dropout(), 1e-6, true, spans.padId(), spans.eosId());
    config.save(out.resolve("train_config.json"));
    Path metricsFile = out.resolve("metrics.jsonl");
    Files.deleteIfExists(metricsFile);

    try (TokenDataset data = TokenDataset.build(text, tokenizer, out.resolve("tokens.shard"));
         T5 model = new T5(modelConfig, config.seed(), device);
         Trainer trainer = new Trainer(model, new Seq2seqObjective(model), config,
             new SpanBatches(data.train(), spans, config.batchSize(), rawLength, config.seed()),
             new SpanBatches(data.val(), spans, config.batchSize(), rawLength, config.seed() + 1),
             randomState(model));
         MetricsLog metrics = new MetricsLog(metricsFile)) {
      log.info("{} train / {} val tokens, vocabulary {} (+ pad, eos, {} sentinels), raw rows of {} -> inputs {} targets {}, "
              + "model {} ({} parameters) on {}", data.train().size(), data.val().size(), tokenizer.vocabSize(),
          spans.sentinels(), rawLength, spans.inputLength(rawLength), spans.targetLength(rawLength), modelConfig,
          modelConfig.parameterCount(), device);
      trainer.listener(TrainListener.all(metrics, listener))
          .checkpointer(t -> Seq2seqCheckpoint.save(out, model, tokenizer, config));
      Trainer.Result result = trainer.fit();
      metrics.close();
      Path plot = plot(metricsFile, out.resolve("loss.png"), modelConfig);
      String sample = config.sampleTokens() > 0 ? SpanSample.fillIn(model, tokenizer, spans, data.val(), rawLength,
          config.sampleTokens(), config.seed()) : null;
      return new Pretraining.Outcome(result, modelConfig.parameterCount(), spans.vocabSize(), config.tokenizer(), device,
          CpuBackend.threads(), out, metricsFile, plot, sample);
    }
  }

  /** The model's dropout RNG as the trainer's RandomState. */
  static RandomState randomState(T5 model) {
    return new RandomState() {
      @Override
      public long[] randomState() {
        return model.randomState();
      }

      @Override
      public void restoreRandomState(long[] state) {
        model.restoreRandomState(state);
      }
    };
  }

  private static Path plot(Path metricsFile, Path png, T5Config model) {
    try {
      MetricsLog.Curves curves = MetricsLog.read(metricsFile);
      LossPlot.write(png, curves.train(), curves.val(), String.format("T5 %d+%d layers x %d wide, span corruption: target loss",
          model.numLayers(), model.numDecoderLayers(), model.dModel()));
      return png;
    } catch (IOException | RuntimeException | LinkageError e) {
      // A JVM without AWT or fonts should not fail a finished run over its picture.
      log.warn("could not draw {}: {}", png, e.toString());
      return null;
    }
  }
}
