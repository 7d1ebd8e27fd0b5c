package ai.anvil.train.seq2seq;

import ai.anvil.data.TokenDataset;
import ai.anvil.data.masking.SpanCorruption;
import ai.anvil.data.tokenizer.Tokenizer;
import ai.anvil.infer.SamplingConfig;
import ai.anvil.infer.Seq2seqGenerator;
import ai.anvil.models.t5.T5;
import java.util.Arrays;
import java.util.SplittableRandom;

/** The end-of-run sample of a span run: one corrupted validation window and the model's greedy fill-in. */
final class SpanSample {
  private SpanSample() {}

  /** "input: ... | predicted: ... | truth: ...", sentinels by name. */
  static String fillIn(T5 model, Tokenizer tokenizer, SpanCorruption spans, TokenDataset.Span val, int rawLength,
                       int maxTokens, long seed) {
    SplittableRandom rng = new SplittableRandom(seed);
    int[] window = new int[rawLength];
    val.read(rng.nextLong(val.size() - rawLength + 1), window, 0, rawLength);
    SpanCorruption.Example ex = spans.corrupt(window, rng);
    model.train(false);
    int[] predicted = new Seq2seqGenerator(model).generate(ex.inputs(), SamplingConfig.greedy(maxTokens));
    int[] truth = Arrays.copyOf(ex.targets(), ex.targets().length - 1);   // without eos, like the prediction
    return "input: " + spans.render(ex.inputs(), tokenizer) + " | predicted: " + spans.render(predicted, tokenizer)
        + " | truth: " + spans.render(truth, tokenizer);
  }
}
