package ai.anvil.train.finetune;

import java.net.URISyntaxException;
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
