package ai.anvil.train;

import ai.anvil.data.Corpora;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.tensor.Device;
import java.util.Arrays;

/** Small GPT runs on the embedded KJV for trainer, checkpoint and resume tests. */
final class GptRuns {
  private GptRuns() {}

  static final class Kjv {
    static final String TEXT = Corpora.embeddedKjv();
    static final CharTokenizer TOKENIZER = CharTokenizer.fromText(TEXT);
    static final int[] IDS = TOKENIZER.encode(TEXT);
    /** First 90% train, last 10% val, as the issue defines the split. */
    static final int[] TRAIN = Arrays.copyOfRange(IDS, 0, IDS.length * 9 / 10);
    static final int[] VAL = Arrays.copyOfRange(IDS, IDS.length * 9 / 10, IDS.length);
  }

  static Gpt model(TrainConfig c) {
    GptConfig g = GptConfig.of(c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(), Kjv.TOKENIZER.vocabSize())
        .withDropout(c.dropout()).withBias(c.bias());
    return new Gpt(g, c.seed(), Device.CPU);
  }

  static RandomState random(Gpt gpt) {
    return new RandomState() {
      @Override
      public long[] randomState() {
        return gpt.randomState();
      }

      @Override
      public void restoreRandomState(long[] state) {
        gpt.restoreRandomState(state);
      }
    };
  }

  static Trainer trainer(Gpt gpt, TrainConfig c) {
    return new Trainer(gpt, gpt::loss, c, new TestSources.Windows(Kjv.TRAIN, c.batchSize(), c.blockSize(), c.seed()),
        new TestSources.Windows(Kjv.VAL, c.batchSize(), c.blockSize(), c.seed() + 1), random(gpt));
  }
}
