package ai.anvil.train.finetune;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.data.BatchSampler;
import ai.anvil.data.TokenDataset;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.infer.ClassificationScores;
import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import ai.anvil.infer.LabelLikelihood;
import ai.anvil.metrics.ForgettingReport;
import ai.anvil.metrics.Perplexity;
import ai.anvil.models.CausalLm;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptCheckpoint;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.PeftModel;
import ai.anvil.peft.adapter.HoulsbyAdapters;
import ai.anvil.peft.lora.LoraConfig;
import ai.anvil.peft.lora.LoraModel;
import ai.anvil.peft.prompt.PrefixTuning;
import ai.anvil.peft.prompt.PromptTuning;
import ai.anvil.tensor.Device;
import ai.anvil.train.BatchSource;
import ai.anvil.train.Pretraining;
import ai.anvil.train.SamplerSource;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainListener;
import ai.anvil.train.Trainer;
import ai.anvil.train.checkpoint.Checkpoint;
import ai.anvil.train.report.LossPlot;
import ai.anvil.train.report.MetricsLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A whole fine-tuning run from a {@link FinetuneConfig}, as {@code anvil finetune} runs it: load a GPT
 * checkpoint and its tokenizer, attach the method (or unfreeze everything for full fine-tuning), train
 * with the {@link Trainer} (validation every eval_interval steps, early stopping after patience
 * evaluations without a new best), keep the best weights, and at the end put them back, measure and save.
 *
 * <pre>
 *   OUT/
 *     adapter/             the best weights: a PEFT adapter folder (lora, prompt, prefix; adapter is
 *                          Anvil's HOULSBY_ADAPTER), or for full a whole model folder with tokenizer.json
 *     checkpoint/          the latest weights, same layout, rewritten at every evaluation
 *     metrics.jsonl        one JSON object per step and evaluation
 *     loss.png             train and val loss
 *     finetune_config.json the config of the run
 *     summary.json         the figures of the run (Outcome.summary), as printed last
 * </pre>
 *
 * Resuming is not offered: runs are short, and the best weights are on disk at every evaluation.
 */
public final class Finetuning {
  private static final Logger log = LoggerFactory.getLogger(Finetuning.class);
  public static final String ADAPTER = "adapter";
  public static final String LATEST = "checkpoint";
  public static final String SUMMARY = "summary.json";

  /**
   * What a run produced. Accuracies are NaN for the text task.
   *
   * @param bestStep the step whose weights were kept (0: training never beat the start)
   * @param test the best weights' scores on test_data, or null without it
   * @param forgetting perplexity of forgetting_text before and after, or null without it
   */
  public record Outcome(Trainer.Result result, String method, long trainableParams, long totalParams,
                        double baselineValLoss, double bestValLoss, double baselineAccuracy, double accuracy,
                        long bestStep, double wallSeconds, Path out, Path adapter, Path metrics, Path plot, ClassificationScores test,
                        ForgettingReport forgetting) {
    public double trainableShare() {
      return (double) trainableParams / totalParams;
    }

    /** The one-line summary {@code anvil finetune} prints last. */
    public Map<String, Object> summary() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("method", method);
      m.put("steps", result.steps());
      m.put("baseline_val_loss", baselineValLoss);
      m.put("final_val_loss", result.finalValLoss());
      m.put("best_val_loss", bestValLoss);
      m.put("best_step", bestStep);
      if (!Double.isNaN(accuracy)) {
        m.put("baseline_accuracy", baselineAccuracy);
        m.put("accuracy", accuracy);
      }
      if (test != null) m.putAll(test.toMap());
      if (forgetting != null) {
        m.put("heldout_ppl_before", forgetting.perplexityBefore());
        m.put("heldout_ppl_after", forgetting.perplexityAfter());
      }
      m.put("trainable_params", trainableParams);
      m.put("total_params", totalParams);
      m.put("trainable_share", trainableShare());
      m.put("tokens_per_s", result.tokensPerSecond());
      m.put("train_seconds", result.trainSeconds());
      m.put("wall_seconds", wallSeconds);
      m.put("stopped_early", result.stoppedEarly());
      m.put("adapter", adapter.toString());
      m.put("metrics", metrics.toString());
      m.put("plot", plot == null ? null : plot.toString());
      return m;
    }
  }

  /** Told once the method is attached, before the first step: trainable and total parameter counts. */
  public interface Listener extends TrainListener {
    default void onMethod(String method, long trainable, long total) {}
  }

  private Finetuning() {}

  /** Runs config and writes OUT/summary.json, the {@link Outcome#summary()} (what {@code anvil report} reads). */
  public static Outcome run(FinetuneConfig config, TrainListener listener) throws IOException {
    Outcome o = train(config, listener);
    AtomicFiles.writeString(o.out().resolve(SUMMARY), Json.writePretty(o.summary()));
    return o;
  }

  private static Outcome train(FinetuneConfig config, TrainListener listener) throws IOException {
    long wallStart = System.nanoTime();
    if (config.threads() > 0) CpuBackend.setThreads(config.threads());
    Device device = Device.parse(config.device());
    Path out = Path.of(config.out());
    Files.createDirectories(out);
    config.save(out.resolve("finetune_config.json"));
    Path baseDir = Checkpoint.resolveModel(Path.of(config.base()));
    if (config.head() || EncoderFinetuning.isEncoder(baseDir)) return EncoderFinetuning.run(config, baseDir, listener);
    if (config.method().equals("head")) throw new IllegalArgumentException("method head trains a classification head: give head true");
    Tokenizer tokenizer = Checkpoint.loadTokenizer(baseDir);
    Path metricsFile = out.resolve("metrics.jsonl");
    Files.deleteIfExists(metricsFile);

    try (Gpt gpt = GptCheckpoint.load(baseDir, device)) {
      GptConfig g = gpt.config();
      int shift = config.method().equals("prompt") || config.method().equals("prefix") ? config.virtualTokens() : 0;
      int block = (config.blockSize() > 0 ? Math.min(config.blockSize(), g.blockSize()) : g.blockSize()) - shift;
      if (block < 2) throw new IllegalArgumentException("virtual_tokens " + shift + " leave no context of " + g.blockSize());
      int[] heldOut = config.forgettingText() == null ? null : Forgetting.tokens(tokenizer, Path.of(config.forgettingText()));
      Perplexity before = heldOut == null ? null : Forgetting.perplexity(gpt, heldOut, block);
      try (Data data = Data.load(config, tokenizer, block, out);
           Module model = attach(gpt, config)) {
        long trainable = model.parameterCount(true), total = model.parameterCount(false);
        log.info("{} on {}: {}", config.method(), baseDir, PeftModel.describeTrainable(model));
        if (listener instanceof Listener l) l.onMethod(config.method(), trainable, total);
        TrainConfig tc = config.trainConfig(g.nLayer(), g.nHead(), g.nEmbd(), block, data.valBatches);
        LabelScorer scorer = data.examples == null ? null
            : new LabelScorer(gpt, tokenizer, config.separator(), data.labels, block, LabelLikelihood.rowsFor(gpt, block, data.labels.size()));
        try (Trainer trainer = new Trainer(model, gpt::loss, tc, data.train, data.val, Pretraining.randomState(gpt));
             MetricsLog metrics = new MetricsLog(metricsFile)) {
          gpt.train(false);
          double baselineLoss = trainer.meanLoss(trainer.evalBatches());
          double baselineAccuracy = scorer == null ? Double.NaN : scorer.accuracy(data.valExamples);
          log.info("before fine-tuning: val loss {}{}", baselineLoss, scorer == null ? "" : ", accuracy " + baselineAccuracy);
          Best best = new Best(model, baselineLoss, () -> saveWeights(model, gpt, tokenizer, out.resolve(ADAPTER)));
          best.save();
          trainer.listener(TrainListener.all(metrics, best, listener))
              .checkpointer(t -> saveWeights(model, gpt, tokenizer, out.resolve(LATEST)));
          Trainer.Result result = trainer.fit();
          metrics.close();
          best.restore();
          gpt.train(false);
          double accuracy = scorer == null ? Double.NaN : scorer.accuracy(data.valExamples);
          log.info("after fine-tuning (best weights, step {}): val loss {}{}", best.step, best.loss,
              scorer == null ? "" : ", accuracy " + accuracy);
          ClassificationScores test = null;
          if (config.testData() != null) {
            if (scorer == null) throw new IllegalArgumentException("test_data is for classify");
            List<Examples.Example> xs = Examples.read(Path.of(config.testData()), config.labelKey());
            List<String> truth = new ArrayList<>(), trainLabels = new ArrayList<>();
            for (Examples.Example e : xs) truth.add(e.label());
            for (Examples.Example e : data.examples) trainLabels.add(e.label());
            test = ClassificationScores.of(truth, scorer.predictLabels(xs), trainLabels);
            log.info("test: {}", test);
          }
          ForgettingReport forgetting = heldOut == null ? null
              : ForgettingReport.of(before, Forgetting.perplexity(gpt, heldOut, block));
          if (forgetting != null) log.info("{}", forgetting);
          Path plot = plot(metricsFile, out.resolve("loss.png"), config);
          return new Outcome(result, config.method(), trainable, total, baselineLoss, best.loss, baselineAccuracy, accuracy,
              best.step, (System.nanoTime() - wallStart) / 1e9, out, out.resolve(ADAPTER), metricsFile, plot, test, forgetting);
        }
      }
    }
  }

  /** The method on gpt: a PeftModel (base frozen), or for full the model itself with every parameter trainable. */
  public static Module attach(Gpt gpt, FinetuneConfig c) {
    return switch (c.method()) {
      case "full" -> {
        gpt.setTrainable(true);
        yield gpt;   // closing it twice (here and by its owner) is harmless
      }
      case "lora" -> LoraModel.attach(gpt, new LoraConfig(c.loraR(), c.loraAlpha(), c.loraDropout(),
          Arrays.asList(c.loraTargets().split("\\s*,\\s*")), c.useRslora()), c.seed());
      case "adapter" -> HoulsbyAdapters.attach(gpt, c.adapterSize(), c.seed());
      case "prompt" -> PromptTuning.attach(gpt, c.virtualTokens(), c.seed());
      case "prefix" -> PrefixTuning.attach(gpt, c.virtualTokens(), c.seed());
      default -> throw new IllegalArgumentException("unknown method " + c.method());
    };
  }

  /** An adapter folder for a PeftModel, else a whole model folder (HF GPT-2 layout + tokenizer.json). */
  static Path saveWeights(Module model, Gpt gpt, Tokenizer tokenizer, Path dir) throws IOException {
    if (model instanceof PeftModel p) {
      p.save(dir);
    } else {
      GptCheckpoint.save(gpt, dir);
      tokenizer.save(dir.resolve(Checkpoint.TOKENIZER));
    }
    return dir;
  }

  /** Keeps the trainable weights of the best evaluation so far, in memory and on disk. */
  static final class Best implements TrainListener {
    /** Writes the model's current weights where the best ones live. */
    interface Saver {
      void save() throws IOException;
    }

    private final Module model;
    private final Saver saver;
    private final Map<Parameter, float[]> values = new LinkedHashMap<>();
    double loss;
    long step;

    Best(Module model, double baselineLoss, Saver saver) {
      this.model = model;
      this.loss = baselineLoss;
      this.saver = saver;
      keep();
    }

    private void keep() {
      for (Parameter p : model.trainableParameters()) values.put(p, p.value().toFloatArray());
    }

    void save() throws IOException {
      saver.save();
    }

    @Override
    public void onEval(EvalReport r) {
      if (!(r.valLoss() < loss)) return;
      loss = r.valLoss();
      step = r.step();
      keep();
      try {
        save();
      } catch (IOException e) {
        throw new java.io.UncheckedIOException("saving the best weights at step " + r.step() + " failed", e);
      }
    }

    /** Puts the kept weights back into the model. */
    void restore() {
      for (Map.Entry<Parameter, float[]> e : values.entrySet()) e.getKey().value().copyFrom(e.getValue());
    }
  }

  /** Training and validation batches for the task. */
  private static final class Data implements AutoCloseable {
    BatchSource train;
    BatchSource val;
    int valBatches;
    List<Examples.Example> examples;
    List<Examples.Example> valExamples;
    List<String> labels;
    TokenDataset tokens;

    static Data load(FinetuneConfig c, Tokenizer tokenizer, int block, Path out) throws IOException {
      Data d = new Data();
      if (c.task().equals("text")) {
        if (c.valData() != null) throw new IllegalArgumentException("val_data is for classify; the text task splits its data 90/10");
        String text = Examples.fit(tokenizer, Files.readString(Path.of(c.data())));
        d.tokens = TokenDataset.build(text, tokenizer, out.resolve("tokens.shard"));
        d.train = new SamplerSource(new BatchSampler(d.tokens.train(), c.batchSize(), block, c.seed()));
        d.val = new SamplerSource(new BatchSampler(d.tokens.val(), c.batchSize(), block, c.seed() + 1));
        d.valBatches = c.evalIters() > 0 ? c.evalIters() : 20;
        return d;
      }
      List<Examples.Example> all = new ArrayList<>(Examples.read(Path.of(c.data()), c.labelKey()));
      if (c.valData() != null) {
        d.examples = all;
        d.valExamples = Examples.read(Path.of(c.valData()), c.labelKey());
      } else {
        java.util.Collections.shuffle(all, new java.util.Random(new SplittableRandom(c.seed()).nextLong()));
        int nVal = Math.max(1, all.size() / 10);
        d.valExamples = List.copyOf(all.subList(0, nVal));
        d.examples = List.copyOf(all.subList(nVal, all.size()));
      }
      List<Examples.Example> both = new ArrayList<>(d.examples);
      both.addAll(d.valExamples);
      d.labels = Examples.labels(both);
      if (d.labels.size() < 2) throw new IllegalArgumentException("classify needs at least two labels, got " + d.labels);
      ExampleBatches train = new ExampleBatches(encode(d.examples, tokenizer, c, block, d.labels), c.batchSize(), true, c.seed(),
          CausalLm.IGNORE_INDEX);
      ExampleBatches val = new ExampleBatches(encode(d.valExamples, tokenizer, c, block, d.labels), c.batchSize(), false, 0,
          CausalLm.IGNORE_INDEX);
      d.train = train;
      d.val = val;
      d.valBatches = c.evalIters() > 0 ? c.evalIters() : val.batchesPerPass();
      return d;
    }

    private static List<Examples.Encoded> encode(List<Examples.Example> xs, Tokenizer t, FinetuneConfig c, int block,
                                                 List<String> labels) {
      List<Examples.Encoded> out = new ArrayList<>(xs.size());
      for (Examples.Example e : xs) out.add(Examples.encode(t, e, e.label(), c.separator(), block, labels));
      return out;
    }

    @Override
    public void close() {
      if (tokens != null) tokens.close();
    }
  }

  static Path plot(Path metricsFile, Path png, FinetuneConfig c) {
    try {
      MetricsLog.Curves curves = MetricsLog.read(metricsFile);
      LossPlot.write(png, curves.train(), curves.val(), "fine-tuning (" + c.method() + ", " + c.task() + "): loss");
      return png;
    } catch (IOException | RuntimeException | LinkageError e) {
      log.warn("could not draw {}: {}", png, e.toString());
      return null;
    }
  }
}
