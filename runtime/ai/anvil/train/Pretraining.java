package ai.anvil.train;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.data.BatchSampler;
import ai.anvil.data.Corpora;
import ai.anvil.data.TokenDataset;
import ai.anvil.data.fetch.Fetcher;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.data.tokenizer.Tokenizers;
import ai.anvil.infer.Generator;
import ai.anvil.infer.SamplingConfig;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptCheckpoint;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import ai.anvil.train.checkpoint.Checkpoint;
import ai.anvil.train.mlm.MlmPretraining;
import ai.anvil.train.report.LossPlot;
import ai.anvil.train.report.MetricsLog;
import ai.anvil.train.seq2seq.SpanPretraining;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A whole pre-training run from a {@link TrainConfig}, as {@code anvil pretrain} runs it. The config's
 * objective picks the run: {@code clm} is here (corpus and tokenizer, a 90/10 token split, a GPT, the
 * {@link Trainer}, checkpoints, metrics and the loss plot in the out folder, a text sample at the end);
 * {@code mlm} is {@link MlmPretraining} (BERT) and {@code span} is {@link SpanPretraining} (T5-style),
 * with the same out folder and outcome. With {@code init}, a causal run starts from the weights,
 * tokenizer and shape of a GPT-2 folder (an Anvil checkpoint or a Hugging Face one) with a fresh
 * optimizer and schedule: domain-adaptive pre-training. A service can call it as is.
 *
 * <pre>
 *   OUT/
 *     checkpoint/        the latest checkpoint (Checkpoint): resume from it, or load it in transformers
 *     metrics.jsonl      one JSON object per step and evaluation (MetricsLog)
 *     loss.png           train and val loss curves (LossPlot)
 *     train_config.json  the config of the run
 *     tokens.shard       the tokenized corpus (TokenShard)
 * </pre>
 */
public final class Pretraining {
  private static final Logger log = LoggerFactory.getLogger(Pretraining.class);

  /** What a run produced. sample is null when sampleTokens is 0; plot is null when it could not be drawn. */
  public record Outcome(Trainer.Result result, long parameters, int vocabSize, String tokenizer, Device device,
                        int threads, Path out, Path metrics, Path plot, String sample) {
    /** The one-line summary {@code anvil pretrain} prints last. */
    public Map<String, Object> summary() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("steps", result.steps());
      m.put("final_val_loss", result.finalValLoss());
      m.put("best_val_loss", result.bestValLoss());
      m.put("tokens_per_s", result.tokensPerSecond());
      m.put("train_seconds", result.trainSeconds());
      m.put("params", parameters);
      m.put("checkpoint", result.checkpoint() == null ? null : result.checkpoint().toString());
      m.put("skipped_steps", result.skipped());
      m.put("stopped_early", result.stoppedEarly());
      m.put("vocab_size", vocabSize);
      m.put("tokenizer", tokenizer);
      m.put("device", device.toString());
      m.put("threads", threads);
      m.put("metrics", metrics.toString());
      m.put("plot", plot == null ? null : plot.toString());
      return m;
    }
  }

  private Pretraining() {}

  /** Runs (or, with config.resume(), continues) a pre-training run; progress goes to listener. */
  public static Outcome run(TrainConfig config, TrainListener listener) throws IOException {
    return run(config, listener, null);
  }

  /**
   * One rank of a data-parallel run when parallel is not null: batch_size rows per rank (the global
   * batch is world x batch_size), and only rank 0 writes the run folder (config, metrics, checkpoints,
   * plot, sample) and reports to listener. Resuming reads the checkpoint on every rank (a shared folder).
   */
  public static Outcome run(TrainConfig config, TrainListener listener, DataParallelism parallel) throws IOException {
    if (!config.objective().equals("clm")) {
      if (parallel != null) {
        throw new IllegalArgumentException("data-parallel pre-training runs objective clm only, not " + config.objective());
      }
      return config.objective().equals("mlm") ? MlmPretraining.run(config, listener) : SpanPretraining.run(config, listener);
    }
    if (config.threads() > 0) CpuBackend.setThreads(config.threads());
    Device device = Device.parse(config.device());
    Path out = Path.of(config.out());
    Files.createDirectories(out);
    Path resume = config.resume() == null ? null : Checkpoint.resolve(Path.of(config.resume()));
    Path cache = Fetcher.defaultCacheDir();

    String text = config.corpus() == null ? Corpora.embeddedKjv() : Corpora.load(config.corpus(), cache);
    // Domain-adaptive pre-training: the weights (and their tokenizer and shape) of a GPT-2 folder.
    Path init = config.init() == null ? null : initFolder(Path.of(config.init()));
    Path from = resume != null ? resume : init;
    Tokenizer tokenizer = from != null && Files.isRegularFile(from.resolve(Checkpoint.TOKENIZER))
        ? Checkpoint.loadTokenizer(from) : Tokenizers.forSpec(config.tokenizer(), text, cache);
    GptConfig modelConfig = init != null ? GptCheckpoint.readConfig(init).withDropout(config.dropout())
        : GptConfig.of(config.nLayer(), config.nHead(), config.nEmbd(), config.blockSize(), tokenizer.vocabSize())
            .withBias(config.bias()).withDropout(config.dropout());
    if (resume != null) checkSameShape(modelConfig, Checkpoint.modelConfig(resume), resume);
    if (init != null) checkInit(modelConfig, tokenizer, config, init);
    boolean writer = parallel == null || parallel.rank() == 0;
    if (writer) config.save(out.resolve("train_config.json"));
    Path metricsFile = out.resolve("metrics.jsonl");
    if (resume == null && writer) Files.deleteIfExists(metricsFile);
    Path shardFile = out.resolve("tokens.shard");
    if (!writer) { // the other ranks tokenize into a file of their own: rank 0 may be writing the run's
      shardFile = Files.createTempFile("anvil-rank" + parallel.rank() + "-", ".shard");
      shardFile.toFile().deleteOnExit();
    }

    try (TokenDataset data = TokenDataset.build(text, tokenizer, shardFile);
         Gpt gpt = new Gpt(modelConfig, config.seed(), device);
         Trainer trainer = new Trainer(gpt, gpt::loss, config, trainSource(data, config, parallel),
             // Every rank evaluates the global batch (world x batch_size rows): the single process's val set.
             new SamplerSource(new BatchSampler(data.val(), config.batchSize() * (parallel == null ? 1 : parallel.worldSize()),
                 config.blockSize(), config.seed() + 1)),
             randomState(gpt, parallel == null ? 0 : parallel.rank()));
         MetricsLog metrics = new MetricsLog(metricsFile)) {
      // Before any resume: from here on this rank's model draws from the salted seed (see randomState).
      if (parallel != null) randomState(gpt, parallel.rank()).restoreRandomState(gpt.randomState());
      log.info("{} train / {} val tokens, vocabulary {}, model {} ({} parameters) on {}", data.train().size(),
          data.val().size(), tokenizer.vocabSize(), modelConfig, modelConfig.parameterCount(), device);
      if (resume != null) {
        Checkpoint.restore(resume, gpt, trainer);
        log.info("resumed from {} at step {}", resume, trainer.state().step());
      } else if (init != null) {
        GptCheckpoint.readWeights(gpt, init.resolve(GptCheckpoint.WEIGHTS));
        log.info("continuing pre-training from the weights of {}", init);
      }
      gpt.setRecompute(config.recompute());
      if (parallel != null) parallel.attach(trainer);
      if (writer) trainer.listener(TrainListener.all(metrics, listener)).checkpointer(t -> Checkpoint.save(out, gpt, tokenizer, t));
      Trainer.Result result = trainer.fit();
      metrics.close();
      Path plot = writer ? plot(metricsFile, out.resolve("loss.png"), modelConfig) : null;
      String sample = writer && config.sampleTokens() > 0 ? sample(gpt, tokenizer, config) : null;
      String tokenizerName = from != null && Files.isRegularFile(from.resolve(Checkpoint.TOKENIZER))
          ? from.resolve(Checkpoint.TOKENIZER).toString() : config.tokenizer();
      return new Outcome(result, modelConfig.parameterCount(), tokenizer.vocabSize(), tokenizerName, device,
          CpuBackend.threads(), out, metricsFile, plot, sample);
    }
  }

  /** Batches of batch_size rows; under data parallelism, this rank's rows of world x batch_size. */
  private static BatchSource trainSource(TokenDataset data, TrainConfig config, DataParallelism parallel) {
    if (parallel == null) {
      return new SamplerSource(new BatchSampler(data.train(), config.batchSize(), config.blockSize(), config.seed()));
    }
    return parallel.shard(new BatchSampler(data.train(), config.batchSize() * parallel.worldSize(), config.blockSize(),
        config.seed()));
  }

  /** The model's dropout RNG as the trainer's RandomState. */
  public static RandomState randomState(Gpt gpt) {
    return randomState(gpt, 0);
  }

  /**
   * The dropout RNG of one data-parallel rank: the model draws its masks from the shared seed XOR a
   * per-rank salt (0 on rank 0), so ranks draw independent masks on their different rows, while the
   * state the trainer saves (by rank 0) and restores (on every rank, any world size) is the shared one.
   */
  public static RandomState randomState(Gpt gpt, int rank) {
    long salt = rank == 0 ? 0 : (rank * 0x9E3779B97F4A7C15L) ^ 0xD1B54A32D192ED03L;
    return new RandomState() {
      @Override
      public long[] randomState() {
        long[] s = gpt.randomState();
        return new long[] {s[0] ^ salt, s[1]};
      }

      @Override
      public void restoreRandomState(long[] state) {
        if (state.length != 2) throw new IllegalArgumentException("Gpt random state has 2 words, got " + state.length);
        gpt.restoreRandomState(new long[] {state[0] ^ salt, state[1]});
      }
    };
  }

  /**
   * An init path: a model folder (config.json + model.safetensors: an Anvil checkpoint, a Hugging Face
   * folder), or a run folder holding a checkpoint.
   */
  public static Path initFolder(Path path) throws IOException {
    if (Files.isRegularFile(path.resolve(GptCheckpoint.CONFIG)) && Files.isRegularFile(path.resolve(GptCheckpoint.WEIGHTS))) {
      return path;
    }
    return Checkpoint.resolveModel(path);
  }

  /** The init model must take the run's tokens and rows: same vocabulary, block_size within its context. */
  private static void checkInit(GptConfig model, Tokenizer tokenizer, TrainConfig config, Path init) {
    if (model.vocabSize() != tokenizer.vocabSize()) {
      throw new IllegalArgumentException(init + ": the model has " + model.vocabSize() + " tokens but the tokenizer "
          + tokenizer.vocabSize() + "; give the folder a tokenizer.json or the matching --tokenizer");
    }
    if (config.blockSize() > model.blockSize()) {
      throw new IllegalArgumentException("block_size " + config.blockSize() + " exceeds the context " + model.blockSize()
          + " of " + init);
    }
  }

  private static void checkSameShape(GptConfig wanted, GptConfig saved, Path dir) {
    if (wanted.nLayer() != saved.nLayer() || wanted.nHead() != saved.nHead() || wanted.nEmbd() != saved.nEmbd()
        || wanted.blockSize() != saved.blockSize() || wanted.vocabSize() != saved.vocabSize() || wanted.bias() != saved.bias()) {
      throw new IllegalArgumentException("the model asked for (" + wanted + ") differs from the checkpoint's (" + saved
          + ") at " + dir + "; leave the model flags out when resuming");
    }
  }

  private static Path plot(Path metricsFile, Path png, GptConfig model) {
    try {
      MetricsLog.Curves curves = MetricsLog.read(metricsFile);
      LossPlot.write(png, curves.train(), curves.val(), String.format("GPT %d layers x %d wide, context %d: loss",
          model.nLayer(), model.nEmbd(), model.blockSize()));
      return png;
    } catch (IOException | RuntimeException | LinkageError e) {
      // A JVM without AWT or fonts should not fail a finished run over its picture.
      log.warn("could not draw {}: {}", png, e.toString());
      return null;
    }
  }

  /** A continuation of a new line (or the end-of-text token) at temperature 0.8. */
  private static String sample(Gpt gpt, Tokenizer tokenizer, TrainConfig config) {
    String prompt = tokenizer.eosId().isPresent() ? "" : "\n";
    SamplingConfig sampling = SamplingConfig.sample(config.sampleTokens(), 0.8, config.seed()).withTopK(200);
    gpt.train(false);
    return new Generator(gpt, tokenizer).generate(prompt, sampling, null).text();
  }
}
