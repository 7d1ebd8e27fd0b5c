package ai.anvil.cli;

import ai.anvil.data.fetch.Fetcher;
import ai.anvil.io.Json;
import ai.anvil.train.seq2seq.Seq2seqConfig;
import ai.anvil.train.seq2seq.Seq2seqFinetuning;
import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Seq2seq fine-tuning of a span-pretrained T5 on parallel verses ({@link Seq2seqFinetuning}); by default KJV
 * to WEB from the fetch cache ({@code anvil fetch kjv web} first), Ruth, Jonah, Mark and Philippians tested.
 */
@Command(name = "seq2seq", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Fine-tune a T5 checkpoint (pretrain --objective span) to translate verses, full or LoRA; "
        + "score the held-out books with BLEU and ROUGE beside the copy-the-input baseline.",
        "Writes OUT/metrics.jsonl, OUT/loss.png, OUT/predictions.tsv, OUT/summary.json and OUT/checkpoint or OUT/adapter; "
            + "prints one JSON line last."})
final class Seq2seqCommand implements Callable<Integer> {
  @Option(names = "--base", required = true, paramLabel = "DIR", description = "T5 checkpoint or span run folder.")
  String base;

  @Option(names = "--method", paramLabel = "full|lora", description = "What trains (default ${DEFAULT-VALUE}).", defaultValue = "lora")
  String method;

  @Option(names = "--source", paramLabel = "TSV", description = "Source verses (default: the fetch cache's kjv.tsv).")
  String source;

  @Option(names = "--target", paramLabel = "TSV", description = "Target verses (default: the fetch cache's web.tsv).")
  String target;

  @Option(names = "--test-books", paramLabel = "A,B", description = "Held-out test books (default Ruth,Jonah,Mark,Philippians).")
  String testBooks;

  @Option(names = "--val-books", paramLabel = "A,B", description = "Validation books (default Esther,Colossians).")
  String valBooks;

  @Option(names = "--max-chars", paramLabel = "N", description = "Leave out pairs longer than this (default 96).")
  Integer maxChars;

  @Option(names = "--lora-r", paramLabel = "R", description = "LoRA rank (default 8).")
  Integer loraR;

  @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA alpha (default 16).")
  Double loraAlpha;

  @Option(names = "--lora-targets", paramLabel = "NAMES", description = "Comma list of layer suffixes or all-linear (default q,v).")
  String loraTargets;

  @Option(names = "--batch-size", paramLabel = "N", description = "Pairs per step (default 16).")
  Integer batchSize;

  @Option(names = "--max-steps", paramLabel = "N", description = "Optimizer steps (default 300).")
  Integer maxSteps;

  @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default 1e-3).")
  Double lr;

  @Option(names = "--warmup-steps", paramLabel = "N", description = "Linear warmup (default 30).")
  Integer warmupSteps;

  @Option(names = "--eval-interval", paramLabel = "N", description = "Steps between validations (default 100).")
  Integer evalInterval;

  @Option(names = "--eval-iters", paramLabel = "N", description = "Validation batches (default 10).")
  Integer evalIters;

  @Option(names = "--test-limit", paramLabel = "N", description = "Test pairs decoded and scored, 0 for all (default 200).")
  Integer testLimit;

  @Option(names = "--seed", paramLabel = "N", description = "Seed (default 1337).")
  Long seed;

  @Option(names = "--device", paramLabel = "cpu|cuda|auto", description = "Device (default auto).")
  String device;

  @Option(names = "--threads", paramLabel = "N", description = "CPU threads, 0 for the default (default 0).")
  Integer threads;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Run folder.")
  String out;

  @Option(names = "--retest", description = "Do not train: decode and score the test pairs again with OUT's saved "
      + "checkpoint (full) or adapter (lora) on --base; writes OUT/predictions.tsv and OUT/test_scores.json.")
  boolean retest;

  @Override
  public Integer call() throws IOException {
    Seq2seqConfig d = Seq2seqConfig.kjvToWeb(Fetcher.defaultCacheDir().toString(), base, method, out);
    Seq2seqConfig config = new Seq2seqConfig(or(source, d.sourceTsv()), or(target, d.targetTsv()), base, method,
        or(loraR, d.loraRank()), or(loraAlpha, d.loraAlpha()), loraTargets == null ? d.loraTargets() : list(loraTargets),
        valBooks == null ? d.valBooks() : list(valBooks), testBooks == null ? d.testBooks() : list(testBooks),
        or(maxChars, d.maxChars()), or(batchSize, d.batchSize()), or(maxSteps, d.maxSteps()), or(lr, d.lr()),
        or(warmupSteps, d.warmupSteps()), or(evalInterval, d.evalInterval()), or(evalIters, d.evalIters()),
        or(testLimit, d.testLimit()), or(seed, d.seed()), or(device, d.device()), or(threads, d.threads()), out);
    if (retest) {
      Seq2seqFinetuning.Scores[] scores = Seq2seqFinetuning.retest(config);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("method", config.method());
      m.put("model", scores[0].toMap());
      m.put("copy_baseline", scores[1].toMap());
      System.out.println(Json.write(m));
      return 0;
    }
    ProgressBar progress = new ProgressBar(System.err, System.console() != null);
    Seq2seqFinetuning.Outcome outcome = Seq2seqFinetuning.run(config, progress);
    progress.endLine();
    System.err.printf("%s: trainable params: %,d of %,d; test BLEU %.2f (copy %.2f), ROUGE-L %.2f (copy %.2f)%n",
        config.method(), outcome.trainableParameters(), outcome.totalParameters(), outcome.model().bleu(),
        outcome.copy().bleu(), outcome.model().rougeL(), outcome.copy().rougeL());
    System.out.println(Json.write(outcome.summary()));
    return 0;
  }

  private static <T> T or(T value, T fallback) {
    return value != null ? value : fallback;
  }

  private static List<String> list(String commaList) {
    return Arrays.stream(commaList.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }
}
