package ai.anvil.train.mlm;

import ai.anvil.autograd.Tape;
import ai.anvil.data.Corpora;
import ai.anvil.data.fetch.Fetcher;
import ai.anvil.data.masking.MaskedLm;
import ai.anvil.data.masking.MlmVocabulary;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.io.Safetensors;
import ai.anvil.models.AutoModel;
import ai.anvil.models.heads.HeadCheckpoint;
import ai.anvil.models.heads.LmHead;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.train.Batch;
import ai.anvil.train.HeadObjectives;
import ai.anvil.train.Objective;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.checkpoint.Checkpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The masked-LM loss of a saved BERT ({@code eval} of an mlm run): the mean cross-entropy over the chosen
 * (masked) tokens of a text's rows, masked as in training (the run's mask probability, 80/10/10) with a
 * fixed seed, so two checkpoints are compared on the same masks. Rows are taken in order, batch_size at a
 * time, padded to the longest of each batch.
 */
public final class MlmEvaluation {
  /** The mean loss over masked tokens, their count, and the rows scored. */
  public record Result(double loss, long maskedTokens, int rows) {}

  private MlmEvaluation() {}

  /**
   * @param checkpoint a checkpoint folder (or the run folder holding one), or any BERT MLM folder with a
   *     tokenizer.json
   * @param text the text to score (one row per line); null for the validation split (last tenth of the
   *     rows) of the run's own corpus
   * @param maxRows at most this many rows (0: all)
   */
  public static Result evaluate(Path checkpoint, String text, int maxRows, long seed, Device device) throws IOException {
    if (maxRows < 0) throw new IllegalArgumentException("maxRows must be >= 0 (0: all), got " + maxRows);
    Path dir = Checkpoint.resolveModel(checkpoint);
    Path configFile = dir.resolve(Checkpoint.TRAIN_CONFIG);
    TrainConfig config = Files.isRegularFile(configFile) ? TrainConfig.load(configFile) : TrainConfig.defaults().with("objective", "mlm");
    Tokenizer tokenizer = Checkpoint.loadTokenizer(dir);
    MlmVocabulary vocab = MlmVocabulary.of(tokenizer);
    try (Safetensors.Reader r = Safetensors.Reader.open(dir.resolve(AutoModel.WEIGHTS))) {
      if (r.entries().keySet().stream().noneMatch(n -> n.startsWith("cls.predictions."))) {
        throw new IOException(dir + " has no masked-LM head (cls.predictions.*): an encoder alone cannot be scored; "
            + "pre-train it with pretrain --objective mlm --init " + dir + " first");
      }
    }
    try (LmHead head = HeadCheckpoint.loadLmHead(dir, device)) {
      int block = Math.min(config.objective().equals("mlm") ? config.blockSize() : head.body().maxLength(), head.body().maxLength());
      List<int[]> rows;
      if (text != null) {
        rows = MlmRows.rows(text, tokenizer, vocab, block);
      } else {
        String corpus = config.corpus() == null ? Corpora.embeddedKjv() : Corpora.load(config.corpus(), Fetcher.defaultCacheDir());
        rows = MlmRows.of(corpus, tokenizer, vocab, block).val();
      }
      if (maxRows > 0 && rows.size() > maxRows) rows = rows.subList(0, maxRows);
      if (rows.isEmpty()) throw new IllegalArgumentException("nothing to score: the text has no non-blank lines");
      MaskedLm masking = new MaskedLm(vocab, config.objective().equals("mlm") ? config.maskProbability() : 0.15);
      Objective objective = HeadObjectives.of(head);
      head.train(false);
      double sum = 0;
      long masked = 0;
      int batch = config.batchSize();
      try (Tape.NoGrad ignored = Tape.noGrad()) {
        for (int from = 0, k = 0; from < rows.size(); from += batch, k++) {
          int[][] part = rows.subList(from, Math.min(rows.size(), from + batch)).toArray(new int[0][]);
          Batch b = MaskedBatches.masked(part, masking, MaskedLm.randomFor(seed, k));
          long n = b.countTargets(objective.ignoreIndex());
          if (n == 0) continue;
          try (Scope s = Scope.open()) {
            sum += objective.loss(b, device, 1.0).item();       // the sum over this batch's masked tokens
          }
          masked += n;
        }
      }
      if (masked == 0) throw new IllegalArgumentException("no token was chosen for masking in " + rows.size() + " rows");
      return new Result(sum / masked, masked, rows.size());
    }
  }
}
