package ai.anvil.train;

import ai.anvil.data.BatchSampler;
import ai.anvil.data.Corpora;
import ai.anvil.data.TokenDataset;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Small GPT runs on the embedded KJV, char-level, through the same data path as {@link Pretraining}
 * (TokenDataset 90/10 split, BatchSampler with seed for train and seed + 1 for val).
 */
final class GptRuns {
  private GptRuns() {}

  static final class Kjv {
    static final String TEXT = Corpora.embeddedKjv();
    static final CharTokenizer TOKENIZER = CharTokenizer.fromText(TEXT);
    static final TokenDataset DATA = build();

    private static TokenDataset build() {
      try {
        Path shard = Files.createTempFile("kjv-char", ".shard");
        shard.toFile().deleteOnExit();
        return TokenDataset.build(TEXT, TOKENIZER, shard);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  static Gpt model(TrainConfig c) {
    GptConfig g = GptConfig.of(c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(), Kjv.TOKENIZER.vocabSize())
        .withDropout(c.dropout()).withBias(c.bias());
    return new Gpt(g, c.seed(), Device.CPU);
  }

  static Trainer trainer(Gpt gpt, TrainConfig c) {
    return new Trainer(gpt, gpt::loss, c,
        new SamplerSource(new BatchSampler(Kjv.DATA.train(), c.batchSize(), c.blockSize(), c.seed())),
        new SamplerSource(new BatchSampler(Kjv.DATA.val(), c.batchSize(), c.blockSize(), c.seed() + 1)),
        Pretraining.randomState(gpt));
  }
}
