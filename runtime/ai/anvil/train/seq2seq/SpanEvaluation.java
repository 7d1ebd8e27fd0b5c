package ai.anvil.train.seq2seq;

import ai.anvil.autograd.Tape;
import ai.anvil.data.Corpora;
import ai.anvil.data.TokenDataset;
import ai.anvil.data.fetch.Fetcher;
import ai.anvil.data.masking.SpanCorruption;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.models.t5.T5;
import ai.anvil.models.t5.T5Config;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.train.Batch;
import ai.anvil.train.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The span-corruption loss of a saved T5 ({@code eval} of a span run): the mean cross-entropy over target
 * tokens of seeded span-corrupted windows of the corpus's validation split (its last 10%), with the noise
 * density, mean span length, row length and batch size of the run's train_config.json.
 */
public final class SpanEvaluation {
  /** The mean target-token loss over batches, and the target tokens it averaged over. */
  public record Result(double loss, long targetTokens, int batches, int rows, int inputCols, int targetCols) {}

  private SpanEvaluation() {}

  /**
   * @param run a span run folder or its checkpoint folder (with train_config.json)
   * @param corpus the corpus to evaluate on; null for the run's own
   */
  public static Result evaluate(Path run, String corpus, int batches, long seed, Device device) throws IOException {
    if (batches < 1) throw new IllegalArgumentException("span evaluation needs at least one batch, got " + batches);
    Path dir = Seq2seqCheckpoint.resolve(run);
    Path configFile = dir.resolve("train_config.json");
    if (!Files.isRegularFile(configFile)) {
      throw new IOException(dir + " has no train_config.json: it is not the checkpoint of a span run");
    }
    TrainConfig config = TrainConfig.load(configFile);
    Tokenizer tokenizer = Seq2seqCheckpoint.loadTokenizer(dir);
    String source = corpus != null ? corpus : config.corpus();
    String text = source == null ? Corpora.embeddedKjv() : Corpora.load(source, Fetcher.defaultCacheDir());
    Path shard = Files.createTempFile("anvil-span-eval", ".shard");
    try (T5 model = Seq2seqCheckpoint.loadModel(dir, device);
         TokenDataset data = TokenDataset.build(text, tokenizer, shard)) {
      T5Config c = model.config();
      SpanCorruption spans = new SpanCorruption(tokenizer.vocabSize(), config.noiseDensity(), config.meanSpanLength(),
          c.vocabSize() - tokenizer.vocabSize() - 2);
      if (spans.padId() != c.padId() || spans.eosId() != c.eosId()) {
        throw new IOException(dir + ": the model's pad/eos ids (" + c.padId() + ", " + c.eosId()
            + ") do not follow its tokenizer of " + tokenizer.vocabSize() + " ids");
      }
      int raw = spans.rawLengthFor(config.blockSize(), config.blockSize());
      SpanBatches windows = new SpanBatches(data.val(), spans, config.batchSize(), raw, seed);
      Seq2seqObjective objective = new Seq2seqObjective(model);
      model.train(false);
      double sum = 0;
      long tokens = 0;
      try (Tape.NoGrad ignored = Tape.noGrad()) {
        for (int i = 0; i < batches; i++) {
          Batch b = windows.next();
          long n = b.countTargets(objective.ignoreIndex());
          try (Scope scope = Scope.open()) {
            sum += objective.loss(b, device, 1.0).item();
          }
          tokens += n;
        }
      }
      return new Result(sum / tokens, tokens, batches, config.batchSize(), windows.inputCols(), windows.targetCols());
    } finally {
      Files.deleteIfExists(shard);
    }
  }
}
