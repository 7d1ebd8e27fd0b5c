package ai.anvil.cli;

import ai.anvil.infer.LanguageModel;
import ai.anvil.infer.Score;
import ai.anvil.io.Json;
import ai.anvil.models.AutoModel;
import ai.anvil.train.checkpoint.Checkpoint;
import ai.anvil.train.mlm.MlmEvaluation;
import ai.anvil.train.seq2seq.Seq2seqCheckpoint;
import ai.anvil.train.seq2seq.SpanEvaluation;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The loss of a checkpoint under its pre-training objective, as one JSON line: next-token loss and
 * perplexity of a text (clm), mean loss over masked tokens (mlm), or mean loss over target tokens of
 * span-corrupted windows (span). The objective follows from the checkpoint's model (GPT-2/Llama: clm,
 * BERT: mlm, T5: span) unless --objective names it.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = {"Score a checkpoint with its objective; prints one JSON line.",
        "clm: {\"objective\", \"tokens\", \"loss\", \"perplexity\"} of --text.",
        "mlm: {\"objective\", \"masked_tokens\", \"rows\", \"loss\", \"perplexity\"} over the masked tokens of --text "
            + "(one row per line; default: the run's validation rows), masked with --seed.",
        "span: {\"objective\", \"target_tokens\", \"loss\", \"perplexity\"} over --batches span-corrupted windows of the "
            + "validation split of --text (default: the run's corpus)."})
final class EvalCommand implements Callable<Integer> {
  @Option(names = "--checkpoint", required = true, paramLabel = "DIR",
      description = "Checkpoint folder (or the run folder holding one).")
  Path checkpoint;

  @Option(names = "--text", paramLabel = "FILE", description = "UTF-8 text to score (required for clm).")
  Path text;

  @Option(names = "--objective", paramLabel = "clm|mlm|span", description = "Default: from the checkpoint's model type.")
  String objective;

  @Option(names = "--seed", paramLabel = "N", defaultValue = "1234", description = "Seed of the masks / corrupted spans (default 1234).")
  long seed;

  @Option(names = "--batches", paramLabel = "N", defaultValue = "50", description = "span: corrupted batches to average (default 50).")
  int batches;

  @Option(names = "--max-rows", paramLabel = "N", defaultValue = "0", description = "mlm: score at most N rows, 0 all (default 0).")
  int maxRows;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws IOException {
    device.apply();
    String kind = objective != null ? objective : objectiveOf(checkpoint);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("objective", kind);
    switch (kind) {
      case "clm" -> clm(out);
      case "mlm" -> {
        MlmEvaluation.Result r = MlmEvaluation.evaluate(checkpoint, text == null ? null : read(text), maxRows, seed, device.device());
        out.put("masked_tokens", r.maskedTokens());
        out.put("rows", r.rows());
        out.put("loss", r.loss());
        out.put("perplexity", Math.exp(r.loss()));
      }
      case "span" -> {
        SpanEvaluation.Result r = SpanEvaluation.evaluate(checkpoint, text == null ? null : text.toString(), batches, seed,
            device.device());
        out.put("target_tokens", r.targetTokens());
        out.put("loss", r.loss());
        out.put("perplexity", Math.exp(r.loss()));
      }
      default -> throw new IllegalArgumentException("--objective must be clm, mlm or span, got " + kind);
    }
    System.out.println(Json.write(out));
    return 0;
  }

  private void clm(Map<String, Object> out) throws IOException {
    if (text == null) throw new IllegalArgumentException("eval of a causal LM needs --text FILE");
    Path dir = Checkpoint.resolveModel(checkpoint);
    String content = read(text);
    try (LanguageModel lm = LanguageModel.load(dir, device.device())) {
      Score s = lm.scorer().score(lm.tokenizer().encode(content));
      if (s.tokens() == 0) throw new IllegalArgumentException(text + ": fewer than two tokens, nothing to score");
      out.put("tokens", s.tokens());
      out.put("loss", s.meanLoss());
      out.put("perplexity", s.perplexity());
    }
  }

  /** clm for GPT-2 and Llama, mlm for BERT, span for T5: what each was pre-trained with. */
  static String objectiveOf(Path checkpoint) throws IOException {
    Path dir;
    try {
      dir = Checkpoint.resolveModel(checkpoint);
    } catch (IOException e) {
      try {
        dir = Seq2seqCheckpoint.resolve(checkpoint);
      } catch (IOException notT5) {
        throw e;
      }
    }
    String type = AutoModel.modelType(dir);
    return switch (type) {
      case "bert" -> "mlm";
      case "t5", "anvil-t5" -> "span";
      default -> "clm";
    };
  }

  private static String read(Path file) throws IOException {
    return Files.readString(file, StandardCharsets.UTF_8);
  }
}
