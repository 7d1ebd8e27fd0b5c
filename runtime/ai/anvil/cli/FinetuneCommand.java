package ai.anvil.cli;

import ai.anvil.io.Json;
import ai.anvil.train.finetune.FinetuneConfig;
import ai.anvil.train.finetune.Finetuning;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

/**
 * Fine-tunes a GPT checkpoint (ai.anvil.train.finetune.Finetuning). Every flag but {@code --config} is a
 * {@link FinetuneConfig} key ({@code --lora-r} is {@code lora_r}); the {@code --config} file's keys come
 * first, the flags given win over them.
 */
@Command(name = "finetune", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Fine-tune a GPT checkpoint: full, LoRA, Houlsby adapters, prompt or prefix tuning, on a text file "
        + "(style adaptation) or labelled JSON lines (classification by generation); or a BERT folder (import-minilm) "
        + "or a GPT with --head true, with a classification head: full, LoRA, adapters, prompt tuning, prefix tuning "
        + "or the head alone.",
        "Writes OUT/adapter (the best weights; a PEFT folder for lora/prompt/prefix), OUT/metrics.jsonl and OUT/loss.png; "
            + "prints the trainable share first and one JSON line last."})
final class FinetuneCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--config", paramLabel = "FILE", description = "JSON file of settings (keys as the flags, snake_case).")
  Path configFile;

  @Option(names = "--base", paramLabel = "DIR", description = "Checkpoint (or run folder) to start from.")
  String base;

  @Option(names = "--method", paramLabel = "full|lora|adapter|prompt|prefix|head", description = "What trains (default lora); "
      + "head: the classification head alone on the frozen body (with --head or a BERT base).")
  String method;

  @Option(names = "--task", paramLabel = "text|classify", description = "text: a text file; classify: JSON lines {text, label} (default classify).")
  String task;

  @Option(names = "--data", paramLabel = "FILE", description = "Training data.")
  String data;

  @Option(names = "--val-data", paramLabel = "FILE", description = "Validation examples (classify; default: 10%% of --data).")
  String valData;

  @Option(names = "--test-data", paramLabel = "FILE", description = "Held-out test examples (classify): accuracy, F1 and the majority baseline of the best weights.")
  String testData;

  @Option(names = "--forgetting-text", paramLabel = "FILE", description = "Held-out pre-training text (GPT bases): its perplexity before and after.")
  String forgettingText;

  @Option(names = "--label-key", paramLabel = "KEY", description = "Field of each example holding its label (default label).")
  String labelKey;

  @Option(names = "--separator", paramLabel = "TEXT", description = "Between text and label (default \" : \").")
  String separator;

  @Option(names = "--head", paramLabel = "true|false", arity = "1", description = "Classify with a sequence-classification head "
      + "(mean pooling) instead of generating the label; every method, and head for the head alone (default false; always on "
      + "BERT bases).")
  Boolean head;

  @Option(names = "--train-head", paramLabel = "true|false", arity = "1", description = "With a head: whether the head trains "
      + "(default true); false leaves it at its random start, so only the method learns.")
  Boolean trainHead;

  @Option(names = "--lora-r", paramLabel = "R", description = "LoRA rank (default 8).")
  Integer loraR;

  @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA alpha; scale alpha/r (default 16).")
  Double loraAlpha;

  @Option(names = "--lora-dropout", paramLabel = "P", description = "Dropout on LoRA inputs (default 0.05).")
  Double loraDropout;

  @Option(names = "--lora-targets", paramLabel = "NAMES", description = "Comma list of layer names (suffixes), a regex, or all-linear (default c_attn).")
  String loraTargets;

  @Option(names = "--use-rslora", paramLabel = "true|false", arity = "1", description = "Scale alpha/sqrt(r) (default false).")
  Boolean useRslora;

  @Option(names = "--adapter-size", paramLabel = "N", description = "Houlsby bottleneck width (default 16).")
  Integer adapterSize;

  @Option(names = "--virtual-tokens", paramLabel = "N", description = "Prompt or prefix length (default 16).")
  Integer virtualTokens;

  @Option(names = "--block-size", paramLabel = "N", description = "Context length, 0 for the base's (default 0).")
  Integer blockSize;

  @Option(names = "--batch-size", paramLabel = "N", description = "Rows per micro-batch (default 16).")
  Integer batchSize;

  @Option(names = "--grad-accum", paramLabel = "N", description = "Micro-batches per step (default 1).")
  Integer gradAccum;

  @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default: full 3e-4, lora/adapter/head 2e-3, prompt/prefix 2e-2).")
  Double lr;

  @Option(names = "--min-lr", paramLabel = "LR", description = "Cosine floor (default lr/10).")
  Double minLr;

  @Option(names = "--warmup-steps", paramLabel = "N", description = "Linear warmup steps (default 20).")
  Integer warmupSteps;

  @Option(names = "--max-steps", paramLabel = "N", description = "Optimizer steps (default 300).")
  Integer maxSteps;

  @Option(names = "--weight-decay", paramLabel = "WD", description = "AdamW weight decay on 2-D weights (default 0).")
  Double weightDecay;

  @Option(names = "--grad-clip", paramLabel = "NORM", description = "Global gradient-norm clip, 0 off (default 1.0).")
  Double gradClip;

  @Option(names = "--eval-interval", paramLabel = "N", description = "Steps between validations (default 25).")
  Integer evalInterval;

  @Option(names = "--eval-iters", paramLabel = "N", description = "Val batches per validation, 0 for all val examples / 20 (default 0).")
  Integer evalIters;

  @Option(names = "--patience", paramLabel = "N", description = "Validations without a new best before stopping, 0 never (default 0).")
  Integer patience;

  @Option(names = "--seed", paramLabel = "N", description = "Seed of init, data order and dropout (default 1337).")
  Long seed;

  @Option(names = "--device", paramLabel = "cpu|cuda|auto", description = "Where to train (default auto).")
  String device;

  @Option(names = "--threads", paramLabel = "N", description = "CPU threads, 0 for the default (default 0).")
  Integer threads;

  @Option(names = "--out", paramLabel = "DIR", description = "Run folder (default runs/finetune).")
  String out;

  @Override
  public Integer call() throws IOException {
    FinetuneConfig config = resolveConfig();
    ProgressBar progress = new ProgressBar(System.err, System.console() != null);
    Finetuning.Outcome outcome = Finetuning.run(config, new Finetuning.Listener() {
      @Override
      public void onMethod(String m, long trainable, long total) {
        System.out.printf("%s: trainable params: %,d || all params: %,d || trainable%%: %.4f%n", m, trainable, total,
            100.0 * trainable / total);
        System.out.flush();
      }

      @Override
      public void onStart(long startStep, long maxSteps, long parameters, long tokensPerStep) {
        progress.onStart(startStep, maxSteps, parameters, tokensPerStep);
      }

      @Override
      public void onStep(StepReport report) {
        progress.onStep(report);
      }

      @Override
      public void onSkip(long step, String reason) {
        progress.onSkip(step, reason);
      }

      @Override
      public void onEval(EvalReport report) {
        progress.onEval(report);
      }

      @Override
      public void onEarlyStop(long step, double bestValLoss) {
        progress.onEarlyStop(step, bestValLoss);
      }
    });
    progress.endLine();
    System.err.println("best weights: " + outcome.adapter() + "; loss curves: " + outcome.plot() + "; metrics: " + outcome.metrics());
    System.out.println(Json.write(outcome.summary()));
    return 0;
  }

  /** --config's keys, then the flags given; base, data and method are required one way or the other. */
  FinetuneConfig resolveConfig() throws IOException {
    Map<String, Object> settings = new LinkedHashMap<>();
    if (configFile != null) settings.putAll(FinetuneConfig.read(configFile));
    CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
    for (OptionSpec o : spec.options()) {
      String name = o.longestName();
      if (!parsed.hasMatchedOption(name) || name.equals("--config") || o.usageHelp() || o.versionHelp()) continue;
      settings.put(name.substring(2).replace('-', '_'), o.getValue());
    }
    Object b = settings.get("base"), d = settings.get("data");
    if (b == null || d == null) throw new IllegalArgumentException("--base and --data are required (flags or --config keys)");
    FinetuneConfig config = FinetuneConfig.defaults(String.valueOf(b), String.valueOf(settings.getOrDefault("method", "lora")),
        String.valueOf(settings.getOrDefault("task", "classify")), String.valueOf(d));
    return config.with(settings);
  }
}
