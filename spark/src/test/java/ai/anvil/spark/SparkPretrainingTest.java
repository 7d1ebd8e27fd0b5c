package ai.anvil.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.data.Corpora;
import ai.anvil.dist.GlooGroup;
import ai.anvil.train.Pretraining;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainListener;
import ai.anvil.train.report.MetricsLog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two ranks of a tiny GPT as a Spark barrier stage, on the CPU with Gloo, against one process with the
 * 2-rank global batch: the same per-step losses and final val loss up to fp32 reduction order.
 * local[2] runs the ranks as two task threads of this JVM; local-cluster[2,1,1024] as two executor JVMs
 * (native state per process, as on a real cluster).
 */
class SparkPretrainingTest {
  private static final int B = 4;
  private static Path corpus;
  private static List<double[]> singleLosses;
  private static double singleVal;

  @TempDir static Path tmp;

  @BeforeAll
  static void reference() throws Exception {
    Assumptions.assumeTrue(GlooGroup.unavailableReason() == null, GlooGroup.unavailableReason());
    corpus = tmp.resolve("kjv-excerpt.txt");
    Files.writeString(corpus, Corpora.embeddedKjv().substring(0, 150_000));
    Path single = tmp.resolve("single");
    singleVal = Pretraining.run(config(single, 2 * B), new TrainListener() {}).result().finalValLoss();
    singleLosses = MetricsLog.read(single.resolve("metrics.jsonl")).train();
  }

  static TrainConfig config(Path out, int batch) {
    return TrainConfig.defaults().with("corpus", corpus.toString(), "n_layer", 2, "n_head", 2, "n_embd", 32,
        "block_size", 16, "batch_size", batch, "max_steps", 6, "warmup_steps", 2, "lr", 3e-3, "eval_interval", 6,
        "eval_iters", 2, "device", "cpu", "threads", 1, "sample_tokens", 0, "out", out.toString());
  }

  private static void assertMatchesSingle(Path out, Map<String, Object> summary) throws Exception {
    List<double[]> losses = MetricsLog.read(out.resolve("metrics.jsonl")).train();
    assertEquals(singleLosses.size(), losses.size());
    for (int s = 0; s < losses.size(); s++) {
      assertEquals(singleLosses.get(s)[1], losses.get(s)[1], 5e-6, "step " + (s + 1));
    }
    assertEquals(singleVal, ((Number) summary.get("final_val_loss")).doubleValue(), 5e-6);
    assertTrue(Files.isDirectory(out.resolve("checkpoint")), "rank 0 wrote the checkpoint");
  }

  @Test
  void localTwoTaskThreads() throws Exception {
    Path out = tmp.resolve("local");
    SparkConf conf = new SparkConf().setMaster("local[2]").setAppName("anvil-local").set("spark.ui.enabled", "false");
    try (JavaSparkContext sc = new JavaSparkContext(conf)) {
      assertMatchesSingle(out, SparkPretraining.run(sc, config(out, B), 2, Duration.ofSeconds(60)));
    }
  }

  /** Slow: two executor JVMs start and load the natives (40.7 s measured with the machine at load ~40). */
  @Test
  @Tag("slow")
  void localClusterTwoExecutorJvms() throws Exception {
    Path out = tmp.resolve("cluster");
    SparkConf conf = new SparkConf().setMaster("local-cluster[2,1,1024]").setAppName("anvil-local-cluster")
        .set("spark.ui.enabled", "false")
        // The executors run this test's classpath (Anvil's jar and its natives included).
        .set("spark.executor.extraClassPath", System.getProperty("java.class.path"));
    try (JavaSparkContext sc = new JavaSparkContext(conf)) {
      assertMatchesSingle(out, SparkPretraining.run(sc, config(out, B), 2, Duration.ofSeconds(120)));
    }
  }
}
