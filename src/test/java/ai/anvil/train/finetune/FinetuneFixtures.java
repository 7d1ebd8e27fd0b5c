package ai.anvil.train.finetune;

import ai.anvil.models.bert.Bert;
import ai.anvil.models.bert.BertCheckpoint;
import ai.anvil.models.bert.BertConfig;
import ai.anvil.tensor.Device;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The fine-tuning tests' base and data: a tiny char-level GPT pre-trained on the King James Bible
 * (src/test/resources/finetune/kjv-char-base, made as its README says) and the sentiment sentences
 * excerpt (src/test/resources/data/sentiment): modern review language the base has never seen.
 */
final class FinetuneFixtures {
  private FinetuneFixtures() {}

  static Path base() {
    return resource("/finetune/kjv-char-base");
  }

  static Path sentiment(String split) {
    return resource("/data/sentiment/" + split + ".jsonl");
  }

  /**
   * A tiny BERT base written under dir/tiny-bert (2 layers, 32 wide, 4 heads, 64 positions, no dropout,
   * seed 7, the bert-uncased vocabulary and tokenizer of the tests' resources): the encoder tests' body.
   */
  static Path tinyBert(Path dir) throws IOException {
    Path base = dir.resolve("tiny-bert");
    BertConfig config = BertConfig.of(30522, 32, 2, 4, 64).withMaxPositions(64).withDropout(0, 0);
    try (Bert bert = new Bert(config, false, 7, Device.CPU)) {
      BertCheckpoint.save(bert, base);
    }
    Files.copy(Path.of("src/test/resources/tokenizers/bert-uncased/tokenizer.json"), base.resolve("tokenizer.json"));
    return base;
  }

  /** The first 100 validation sentences of the sentiment split, written to dir/val100.jsonl. */
  static Path val100(Path dir) throws IOException {
    Path val = dir.resolve("val100.jsonl");
    Files.write(val, Files.readAllLines(sentiment("val")).subList(0, 100));
    return val;
  }

  /** The defaults for a run on the fixtures: CPU, two threads, out under dir. */
  static FinetuneConfig config(String method, String task, Path data, Path out) {
    return FinetuneConfig.defaults(base().toString(), method, task, data.toString())
        .with("device", "cpu", "threads", 2, "out", out.toString());
  }

  private static Path resource(String name) {
    try {
      return Path.of(FinetuneFixtures.class.getResource(name).toURI());
    } catch (URISyntaxException | NullPointerException e) {
      throw new IllegalStateException("test resource " + name + " missing", e);
    }
  }
}
