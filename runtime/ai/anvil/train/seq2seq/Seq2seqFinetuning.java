package ai.anvil.train.seq2seq;

import ai.anvil.backend.cpu.CpuBackend;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.infer.SamplingConfig;
import ai.anvil.infer.Seq2seqGenerator;
import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import ai.anvil.metrics.Bleu;
import ai.anvil.metrics.BleuScore;
import ai.anvil.metrics.Rouge;
import ai.anvil.metrics.RougeScores;
import ai.anvil.models.t5.T5;
import ai.anvil.nn.Module;
import ai.anvil.peft.lora.LoraConfig;
import ai.anvil.tensor.Device;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainListener;
import ai.anvil.train.Trainer;
import ai.anvil.train.report.LossPlot;
import ai.anvil.train.report.MetricsLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Seq2seq fine-tuning of a span-pretrained T5 on parallel verses (issue 11's KJV to WEB): pairs joined on
 * (book, chapter, verse), whole books held out for validation and test, full fine-tuning or LoRA on the
 * {@link Trainer} with the teacher-forced target loss, then greedy decoding of the test verses and corpus
 * BLEU (sacreBLEU defaults) and mean ROUGE-1/2/L F (rouge-score defaults) beside the copy-the-input baseline.
 *
 * <p>Text is fitted to the base's tokenizer: characters it lacks are replaced ({@code ‘’} and then {@code “”}
 * by an apostrophe, dashes by a hyphen) and pairs that still do not encode are left out, counted in the
 * summary. References, hypotheses and the copy baseline are all scored on the fitted text.
 *
 * <pre>
 *   OUT/
 *     metrics.jsonl, loss.png   training curves (val loss over target tokens of the validation books)
 *     checkpoint/ or adapter/   the fine-tuned T5 with its tokenizer (full) or the PEFT-layout LoRA adapter (lora)
 *     predictions.tsv           book, chapter, verse, source, reference, prediction of each scored test pair
 *     summary.json              what {@link Outcome#summary()} returns
 * </pre>
 */
public final class Seq2seqFinetuning {
  private static final Logger log = LoggerFactory.getLogger(Seq2seqFinetuning.class);

  /** Scores of one system on the test pairs: corpus BLEU and mean ROUGE F-measures (0-100). */
  public record Scores(double bleu, double rouge1, double rouge2, double rougeL) {
    public Map<String, Object> toMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("bleu", bleu);
      m.put("rouge1", rouge1);
      m.put("rouge2", rouge2);
      m.put("rougeL", rougeL);
      return m;
    }
  }

  /** What a run produced. */
  public record Outcome(Seq2seqConfig config, Trainer.Result result, long trainableParameters, long totalParameters,
                        int trainPairs, int valPairs, int testPairs, int droppedPairs, Scores model, Scores copy,
                        String bleuSignature, double wallSeconds, Path out) {
    public Map<String, Object> summary() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("method", config.method());
      m.put("base", config.base());
      m.put("source", config.sourceTsv());
      m.put("target", config.targetTsv());
      m.put("test_books", config.testBooks());
      m.put("val_books", config.valBooks());
      m.put("max_chars", config.maxChars());
      m.put("train_pairs", trainPairs);
      m.put("val_pairs", valPairs);
      m.put("test_pairs_scored", testPairs);
      m.put("dropped_pairs", droppedPairs);
      m.put("steps", result.steps());
      m.put("final_val_loss", result.finalValLoss());
      m.put("trainable_params", trainableParameters);
      m.put("total_params", totalParameters);
      m.put("model", model.toMap());
      m.put("copy_baseline", copy.toMap());
      m.put("bleu_signature", bleuSignature);
      m.put("wall_seconds", wallSeconds);
      m.put("tokens_per_s", result.tokensPerSecond());
      m.put("out", out.toString());
      return m;
    }
  }

  private Seq2seqFinetuning() {}

  public static Outcome run(Seq2seqConfig config, TrainListener listener) throws IOException {
    long start = System.nanoTime();
    if (config.threads() > 0) CpuBackend.setThreads(config.threads());
    Device device = Device.parse(config.device());
    Path out = Path.of(config.out());
    Files.createDirectories(out);
    VersePairs.Split split = VersePairs.byBooks(VersePairs.join(Path.of(config.sourceTsv()), Path.of(config.targetTsv())),
        new HashSet<>(config.valBooks()), new HashSet<>(config.testBooks()));
    Tokenizer tokenizer = Seq2seqCheckpoint.loadTokenizer(Path.of(config.base()));
    Path metricsFile = out.resolve("metrics.jsonl");
    Files.deleteIfExists(metricsFile);

    try (T5 t5 = Seq2seqCheckpoint.loadModel(Path.of(config.base()), device)) {
      Seq2seqText text = new Seq2seqText(tokenizer, t5.config().eosId(), Math.min(config.maxChars(), t5.config().nPositions() - 1));
      Seq2seqText.Encoded train = text.encode(split.train());
      Seq2seqText.Encoded val = text.encode(split.val());
      Seq2seqText.Encoded test = text.encode(split.test());
      int dropped = train.dropped() + val.dropped() + test.dropped();
      log.info("pairs: {} train, {} val, {} test ({} left out: longer than {} characters or not encodable)",
          train.size(), val.size(), test.size(), dropped, text.maxChars());
      TrainConfig tc = config.trainConfig(t5.config().nPositions());
      int pad = t5.config().padId(), startId = t5.config().decoderStartId();
      Module trained = config.method().equals("lora")
          ? new T5Lora(t5, LoraConfig.of(config.loraRank(), config.loraAlpha()).withTargets(config.loraTargets().toArray(String[]::new)),
              config.seed())
          : t5;
      try (Trainer trainer = new Trainer(trained, new Seq2seqObjective(t5), tc,
               new Seq2seqBatches(train.sources(), train.targets(), config.batchSize(), pad, startId, config.seed()),
               new Seq2seqBatches(val.sources(), val.targets(), config.batchSize(), pad, startId, config.seed() + 1),
               SpanPretraining.randomState(t5));
           MetricsLog metrics = new MetricsLog(metricsFile)) {
        long trainable = trained.parameterCount(true), total = trained.parameterCount(false);
        log.info("{} fine-tuning: {} of {} parameters train", config.method(), trainable, total);
        trainer.listener(TrainListener.all(metrics, listener)).checkpointer(t -> save(trained, t5, tokenizer, out));
        Trainer.Result result = trainer.fit();
        metrics.close();
        plot(metricsFile, out.resolve("loss.png"), config);

        Scores[] scores = test(t5, tokenizer, test, config.testLimit(), out);
        int n = config.testLimit() == 0 ? test.size() : Math.min(config.testLimit(), test.size());
        Outcome o = new Outcome(config, result, trainable, total, train.size(), val.size(), n, dropped, scores[0],
            scores[1], Bleu.CORPUS_DEFAULT.signature("1"), (System.nanoTime() - start) / 1e9, out);
        AtomicFiles.writeString(out.resolve("summary.json"), Json.writePretty(o.summary()));
        return o;
      } finally {
        if (trained != t5) trained.close();
      }
    }
  }

  /**
   * Greedy decoding of the first limit (0: all) test pairs; writes OUT/predictions.tsv and returns the
   * model's scores and the copy baseline's, in that order.
   */
  static Scores[] test(T5 t5, Tokenizer tokenizer, Seq2seqText.Encoded test, int limit, Path out) throws IOException {
    int n = limit == 0 ? test.size() : Math.min(limit, test.size());
    t5.train(false);
    List<String> refs = new ArrayList<>(), hyps = new ArrayList<>(), copies = new ArrayList<>();
    Seq2seqGenerator generator = new Seq2seqGenerator(t5);
    SamplingConfig greedy = SamplingConfig.greedy(t5.config().nPositions() - 1);
    StringBuilder tsv = new StringBuilder("book\tchapter\tverse\tsource\treference\tprediction\n");
    for (int from = 0; from < n; from += 32) {
      int to = Math.min(n, from + 32);
      List<int[]> outs = generator.generate(test.sources().subList(from, to), greedy);
      for (int i = from; i < to; i++) {
        VersePairs.Pair p = test.pairs().get(i);
        String hyp = tokenizer.decode(outs.get(i - from)).replace('\t', ' ').replace('\n', ' ');
        refs.add(p.target());
        copies.add(p.source());
        hyps.add(hyp);
        tsv.append(p.book()).append('\t').append(p.chapter()).append('\t').append(p.verse()).append('\t')
            .append(p.source()).append('\t').append(p.target()).append('\t').append(hyp).append('\n');
      }
    }
    AtomicFiles.writeString(out.resolve("predictions.tsv"), tsv.toString());
    return new Scores[] {score(hyps, refs), score(copies, refs)};
  }

  /**
   * Scores a finished run again without training: the base of config with the run's OUT/adapter (lora)
   * or its OUT/checkpoint (full); writes OUT/predictions.tsv and OUT/test_scores.json and returns
   * {model, copy baseline}.
   */
  public static Scores[] retest(Seq2seqConfig config) throws IOException {
    Device device = Device.parse(config.device());
    Path out = Path.of(config.out());
    VersePairs.Split split = VersePairs.byBooks(VersePairs.join(Path.of(config.sourceTsv()), Path.of(config.targetTsv())),
        new HashSet<>(config.valBooks()), new HashSet<>(config.testBooks()));
    boolean lora = config.method().equals("lora");
    Path weights = lora ? Path.of(config.base()) : out;
    Tokenizer tokenizer = Seq2seqCheckpoint.loadTokenizer(weights);
    try (T5 t5 = Seq2seqCheckpoint.loadModel(weights, device);
         Module adapted = lora ? T5Lora.load(t5, out.resolve("adapter")) : null) {
      Seq2seqText text = new Seq2seqText(tokenizer, t5.config().eosId(), Math.min(config.maxChars(), t5.config().nPositions() - 1));
      Scores[] scores = test(t5, tokenizer, text.encode(split.test()), config.testLimit(), out);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("method", config.method());
      m.put("model", scores[0].toMap());
      m.put("copy_baseline", scores[1].toMap());
      m.put("bleu_signature", Bleu.CORPUS_DEFAULT.signature("1"));
      AtomicFiles.writeString(out.resolve("test_scores.json"), Json.writePretty(m));
      return scores;
    }
  }

  /** Corpus BLEU and mean ROUGE F of hypotheses against one reference each. */
  public static Scores score(List<String> hypotheses, List<String> references) {
    BleuScore bleu = Bleu.CORPUS_DEFAULT.corpusScore(hypotheses, List.of(references));
    List<List<String>> targets = new ArrayList<>();
    for (String r : references) targets.add(List.of(r));
    RougeScores rouge = Rouge.DEFAULT.corpusScore(targets, hypotheses);
    return new Scores(bleu.score(), 100 * rouge.rouge1().fmeasure(), 100 * rouge.rouge2().fmeasure(),
        100 * rouge.rougeL().fmeasure());
  }

  private static Path save(Module trained, T5 t5, Tokenizer tokenizer, Path out) throws IOException {
    if (trained instanceof T5Lora lora) {
      lora.save(out.resolve("adapter"));
      return out.resolve("adapter");
    }
    return Seq2seqCheckpoint.save(out, t5, tokenizer, null);
  }

  private static void plot(Path metricsFile, Path png, Seq2seqConfig config) {
    try {
      MetricsLog.Curves curves = MetricsLog.read(metricsFile);
      LossPlot.write(png, curves.train(), curves.val(), "seq2seq " + config.method() + " fine-tuning: target loss");
    } catch (IOException | RuntimeException | LinkageError e) {
      log.warn("could not draw {}: {}", png, e.toString());
    }
  }
}
