package ai.anvil.cli;

import ai.anvil.dist.Distributed;
import ai.anvil.dist.ProcessGroup;
import ai.anvil.io.Json;
import ai.anvil.train.Pretraining;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.checkpoint.Checkpoint;
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
 * Pre-trains a GPT (causal LM), a BERT (masked LM) or a T5-style encoder-decoder (span corruption), or
 * continues a pre-trained model with --init (ai.anvil.train.Pretraining). Every flag but {@code --config} is a {@link TrainConfig}
 * key ({@code --batch-size} is {@code batch_size}); settings come from, lowest first: the defaults (the
 * cpu-small recipe on the embedded KJV), the checkpoint's train_config.json when resuming, the
 * {@code --config} file, and the flags given on the command line.
 */
@Command(name = "pretrain", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Pre-train a language model: --objective clm (GPT, default), mlm (BERT masked LM) or span "
        + "(T5-style span corruption); --init DIR continues a pre-trained model on new text. With no flags: "
        + "a char-level GPT on the embedded King James Bible, 4 layers x 128 wide, 2000 steps (a few minutes on "
        + "2 cores), then a sample.",
        "Writes OUT/checkpoint, OUT/metrics.jsonl and OUT/loss.png; prints one JSON line last."})
final class PretrainCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--config", paramLabel = "FILE", description = "JSON file of settings (keys as the flags, snake_case).")
  Path configFile;

  @Option(names = "--corpus", paramLabel = "FILE", description = "Text to train on: a file, or a fetched name (default: the embedded KJV).")
  String corpus;

  @Option(names = "--tokenizer", paramLabel = "char|gpt2|FILE", description = "char (default), gpt2 (fetched), or a tokenizer.json.")
  String tokenizer;

  @Option(names = "--n-layer", paramLabel = "N", description = "Transformer blocks (default 4).")
  Integer nLayer;

  @Option(names = "--n-head", paramLabel = "N", description = "Attention heads (default 4).")
  Integer nHead;

  @Option(names = "--n-embd", paramLabel = "N", description = "Model width (default 128).")
  Integer nEmbd;

  @Option(names = "--block-size", paramLabel = "N", description = "Context length (default 64).")
  Integer blockSize;

  @Option(names = "--bias", paramLabel = "true|false", arity = "1", description = "Biases in Linear and LayerNorm (default true).")
  Boolean bias;

  @Option(names = "--dropout", paramLabel = "P", description = "Dropout probability (default 0).")
  Double dropout;

  @Option(names = "--batch-size", paramLabel = "N", description = "Rows per micro-batch (default 12).")
  Integer batchSize;

  @Option(names = "--grad-accum", paramLabel = "N", description = "Micro-batches per step (default 1).")
  Integer gradAccum;

  @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default 1e-3).")
  Double lr;

  @Option(names = "--min-lr", paramLabel = "LR", description = "Cosine floor (default lr/10).")
  Double minLr;

  @Option(names = "--warmup-steps", paramLabel = "N", description = "Linear warmup steps (default 100).")
  Integer warmupSteps;

  @Option(names = "--max-steps", paramLabel = "N", description = "Optimizer steps (default 2000).")
  Integer maxSteps;

  @Option(names = "--beta1", paramLabel = "B", description = "AdamW beta1 (default 0.9).")
  Double beta1;

  @Option(names = "--beta2", paramLabel = "B", description = "AdamW beta2 (default 0.99).")
  Double beta2;

  @Option(names = "--eps", paramLabel = "E", description = "AdamW epsilon (default 1e-8).")
  Double eps;

  @Option(names = "--grad-clip", paramLabel = "NORM", description = "Global gradient-norm clip, 0 off (default 1.0).")
  Double gradClip;

  @Option(names = "--weight-decay", paramLabel = "WD", description = "AdamW weight decay on 2-D weights (default 0.1).")
  Double weightDecay;

  @Option(names = "--eval-interval", paramLabel = "N", description = "Steps between evaluations and checkpoints (default 250).")
  Integer evalInterval;

  @Option(names = "--eval-iters", paramLabel = "N", description = "Fixed val batches per evaluation (default 50).")
  Integer evalIters;

  @Option(names = "--patience", paramLabel = "N", description = "Evaluations without improvement before stopping, 0 never (default 0).")
  Integer patience;

  @Option(names = "--seed", paramLabel = "N", description = "Seed of init, data order and dropout (default 1337).")
  Long seed;

  @Option(names = "--device", paramLabel = "cpu|cuda|auto", description = "Where to train (default auto).")
  String device;

  @Option(names = "--threads", paramLabel = "N", description = "CPU threads, 0 for the default (default 0).")
  Integer threads;

  @Option(names = "--out", paramLabel = "DIR", description = "Run folder (default runs/pretrain).")
  String out;

  @Option(names = "--resume", paramLabel = "DIR", description = "Continue from a checkpoint (or a run folder holding one).")
  String resume;

  @Option(names = "--sample-tokens", paramLabel = "N",
      description = "Tokens to sample at the end, 0 none (default 400); mlm: any N > 0 shows a fill-mask sample.")
  Integer sampleTokens;

  @Option(names = "--objective", paramLabel = "clm|mlm|span",
      description = "Causal LM (GPT, default), masked LM (BERT encoder) or span corruption (T5-style encoder-decoder).")
  String objective;

  // longest name first: it is the config key (mask_probability); --mask-prob is the short spelling
  @Option(names = {"--mask-probability", "--mask-prob"}, paramLabel = "P",
      description = "mlm: share of tokens chosen for prediction (default 0.15; 80%% [MASK], 10%% random, 10%% kept).")
  Double maskProbability;

  @Option(names = "--noise-density", paramLabel = "P", description = "span: share of tokens corrupted (default 0.15).")
  Double noiseDensity;

  @Option(names = "--mean-span-length", paramLabel = "L", description = "span: mean corrupted span length (default 3).")
  Double meanSpanLength;

  @Option(names = "--init", paramLabel = "DIR",
      description = "Start from these weights (Anvil checkpoint, or Hugging Face GPT-2/BERT safetensors + config.json): "
          + "domain-adaptive pre-training. Fresh optimizer and schedule.")
  String init;

  @Option(names = "--precision", paramLabel = "auto|fp32|bf16",
      description = "auto (default: bf16 on CUDA, fp32 on the CPU), fp32, or bf16 mixed precision (CUDA only).")
  String precision;

  @Option(names = "--cuda-graph", paramLabel = "auto|on|off",
      description = "Capture the CUDA training step in a CUDA graph after its first update and replay it: auto (default: "
          + "when the step allows it: no dropout, plain inputs and targets, one process, one batch shape), on (or fail "
          + "saying why), off.")
  String cudaGraph;

  @Option(names = "--log-interval", paramLabel = "N",
      description = "Steps between training-loss reports, each the mean since the last (default 1). On CUDA only a "
          + "report reads the loss from the device: a larger interval lets the device run ahead.")
  Integer logInterval;

  @Option(names = "--recompute", paramLabel = "true|false", arity = "1",
      description = "Recompute each block's activations in the backward instead of keeping them (GPT; default false).")
  Boolean recompute;

  @CommandLine.Mixin DistributedOptions distributed = new DistributedOptions();

  @Override
  public Integer call() throws IOException {
    TrainConfig config = resolveConfig();
    ProgressBar progress = new ProgressBar(System.err, System.console() != null);
    Pretraining.Outcome outcome;
    try (ProcessGroup group = distributed.join(System.getenv())) {
      if (group != null && group.rank() != 0) {
        Pretraining.run(config, progress, new Distributed(group));
        return 0; // rank 0 reports
      }
      outcome = Pretraining.run(config, progress, group == null ? null : new Distributed(group));
    }
    progress.endLine();
    System.err.println("loss curves: " + outcome.plot() + "; metrics: " + outcome.metrics());
    if (outcome.sample() != null) {
      System.out.println("---- sample ----");
      System.out.println(outcome.sample());
      System.out.println("----------------");
    }
    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("objective", config.objective());
    summary.putAll(outcome.summary());
    System.out.println(Json.write(summary));
    return 0;
  }

  /** Defaults, then the resumed checkpoint's settings, then --config, then the flags given. */
  TrainConfig resolveConfig() throws IOException {
    Map<String, Object> flags = new LinkedHashMap<>();
    CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
    for (OptionSpec o : spec.options()) {
      String name = o.longestName();
      if (!parsed.hasMatchedOption(name) || name.equals("--config") || o.usageHelp() || o.versionHelp()) continue;
      if (DistributedOptions.NAMES.contains(name)) continue;
      flags.put(name.substring(2).replace('-', '_'), o.getValue());
    }
    TrainConfig config = TrainConfig.defaults();
    // A resumed run continues from its checkpoint, not from the weights it was once initialized with.
    if (resume != null) config = Checkpoint.loadTrainConfig(Checkpoint.resolve(Path.of(resume))).with("init", null);
    if (configFile != null) config = config.with(TrainConfig.read(configFile));
    return config.with(flags);
  }
}
