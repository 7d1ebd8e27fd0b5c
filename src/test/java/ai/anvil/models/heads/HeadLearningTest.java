package ai.anvil.models.heads;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.tokenizer.Tokenizers;
import ai.anvil.data.tokenizer.WordPieceTokenizer;
import ai.anvil.io.Json;
import ai.anvil.models.bert.Bert;
import ai.anvil.models.bert.BertConfig;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.autograd.Tape;
import ai.anvil.testkit.OneCpuThread;
import ai.anvil.train.Batch;
import ai.anvil.train.BatchSource;
import ai.anvil.train.HeadObjectives;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A sequence classifier on a tiny BERT, trained from scratch by the Trainer (HeadObjectives, padded
 * batches with key masks), learns a small real task: telling Amazon product reviews from Yelp restaurant
 * reviews (the sentiment fixture's topic, 1,546 training sentences, 200 held out). Tokens are BERT's
 * WordPiece ids renumbered densely over the training sentences, so the embedding table stays small.
 */
@ExtendWith(OneCpuThread.class)
class HeadLearningTest {
  static final Path DATA = Path.of("src/test/resources/data/sentiment");
  record Example(int[] ids, int label) {}

  @Test
  void tinyBertClassifierLearnsReviewTopics() throws IOException {
    WordPieceTokenizer wp = (WordPieceTokenizer) Tokenizers.load(Path.of("src/test/resources/tokenizers/bert-uncased/tokenizer.json"));
    Map<Integer, Integer> dense = new HashMap<>();
    dense.put(-1, 0);                                   // 0: padding, 1: unknown (a word unseen in training)
    dense.put(-2, 1);
    List<Example> train = read(DATA.resolve("train.jsonl"), wp, dense, true);
    List<Example> val = read(DATA.resolve("val.jsonl"), wp, dense, false);
    BertConfig c = BertConfig.of(dense.size(), 32, 1, 2, 64).withMaxPositions(48).withDropout(0, 0);
    TrainConfig config = TrainConfig.defaults().with("batch_size", 32, "max_steps", 150, "warmup_steps", 10, "lr", 3e-3,
        "eval_interval", 150, "eval_iters", 2, "device", "cpu");
    try (SequenceClassifier head = new SequenceClassifier(new Bert(c, false, 1, Device.CPU), List.of("product", "restaurant"),
        Pool.MEAN, 0.0, 2)) {
      double before = accuracy(head, val);
      try (Trainer trainer = new Trainer(head, HeadObjectives.of(head), config, new Rows(train, 32, 5), new Rows(val, 32, 6),
          null)) {
        Trainer.Result r = trainer.fit();
        assertTrue(r.finalValLoss() < 0.45, "val loss " + r.finalValLoss() + " (chance ln 2 = 0.69)");
      }
      double after = accuracy(head, val);
      assertTrue(after >= 0.85, "held-out topic accuracy " + after + " (before training " + before + ")");
    }
  }

  /** JSON lines -> examples; training text adds its WordPiece ids to the dense numbering. */
  static List<Example> read(Path file, WordPieceTokenizer wp, Map<Integer, Integer> dense, boolean grow) throws IOException {
    List<Example> out = new ArrayList<>();
    for (String line : Files.readAllLines(file)) {
      if (line.isBlank()) continue;
      Map<String, Object> m = Json.parseObject(line);
      int[] ids = wp.encode((String) m.get("text"), false);
      int n = Math.min(ids.length, 48);
      int[] row = new int[n];
      for (int i = 0; i < n; i++) {
        Integer d = dense.get(ids[i]);
        if (d == null && grow) {
          d = dense.size();
          dense.put(ids[i], d);
        }
        row[i] = d == null ? 1 : d;
      }
      out.add(new Example(row, m.get("topic").equals("product") ? 0 : 1));
    }
    return out;
  }

  static double accuracy(SequenceClassifier head, List<Example> examples) {
    head.train(false);
    int right = 0;
    try (Tape.NoGrad ng = Tape.noGrad()) {
      for (int from = 0; from < examples.size(); from += 50) {
        try (Scope s = Scope.open()) {
          Batch b = Rows.batch(examples.subList(from, Math.min(examples.size(), from + 50)));
          int[] predicted = head.predict(Tensor.ofInts(b.inputs(), b.rows(), b.cols()), Tensor.ofInts(b.keyMask(), b.rows(), b.cols()));
          for (int r = 0; r < b.rows(); r++) if (predicted[r] == b.targets()[r * b.cols()]) right++;
        }
      }
    }
    head.train(true);
    return (double) right / examples.size();
  }

  /** Random rows (seeded, resumable), padded to the longest, the label in target column 0. */
  static final class Rows implements BatchSource {
    private final List<Example> examples;
    private final int size;
    private final long seed;
    private long position;

    Rows(List<Example> examples, int size, long seed) {
      this.examples = examples;
      this.size = size;
      this.seed = seed;
    }

    @Override
    public Batch next() {
      SplittableRandom r = new SplittableRandom(seed * 1_000_003 + position++);
      List<Example> pick = new ArrayList<>();
      for (int i = 0; i < size; i++) pick.add(examples.get(r.nextInt(examples.size())));
      return batch(pick);
    }

    static Batch batch(List<Example> pick) {
      int cols = 1;
      for (Example e : pick) cols = Math.max(cols, e.ids().length);
      int[] ids = new int[pick.size() * cols], mask = new int[ids.length], targets = new int[ids.length];
      Arrays.fill(targets, TaskHead.IGNORE_INDEX);
      for (int r = 0; r < pick.size(); r++) {
        int[] row = pick.get(r).ids();
        System.arraycopy(row, 0, ids, r * cols, row.length);
        Arrays.fill(mask, r * cols, r * cols + row.length, 1);
        targets[r * cols] = pick.get(r).label();
      }
      return new Batch(pick.size(), cols, ids, targets, mask, null);
    }

    @Override
    public long[] cursor() {
      return new long[] {position};
    }

    @Override
    public void restore(long[] cursor) {
      position = cursor[0];
    }
  }
}
