package ai.anvil.spark;

import ai.anvil.io.Json;
import ai.anvil.train.TrainConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * {@code spark-submit} entry point: {@code --class ai.anvil.spark.SparkPretrain anvil-spark.jar --world N
 * [--dist-timeout SECONDS] [--config FILE] [--<setting> VALUE]...}, where each setting is a flag of
 * {@code anvil pretrain} ({@code --batch-size 12}: batch_size, per rank). Prints rank 0's summary as one
 * JSON line, as {@code anvil pretrain} does.
 */
public final class SparkPretrain {
  private SparkPretrain() {}

  /** What the command line asks for. */
  record Args(int world, Duration timeout, TrainConfig config) {}

  public static void main(String[] argv) throws IOException {
    Args args = parse(argv);
    SparkConf conf = new SparkConf().setAppName("anvil-pretrain");
    try (JavaSparkContext sc = new JavaSparkContext(conf)) {
      System.out.println(Json.write(SparkPretraining.run(sc, args.config(), args.world(), args.timeout())));
    }
    // Spark 3.5 keeps a non-daemon timer thread ("Barrier task timer for barrier() calls.") alive in any
    // JVM that ran barrier tasks, which in local mode is the driver: without an exit it never ends.
    System.exit(0);
  }

  static Args parse(String[] argv) throws IOException {
    int world = 0;
    long timeout = 300;
    Path configFile = null;
    Map<String, Object> settings = new LinkedHashMap<>();
    for (int i = 0; i < argv.length; i++) {
      String flag = argv[i];
      if (!flag.startsWith("--") || i + 1 >= argv.length) {
        throw new IllegalArgumentException("expected --flag VALUE pairs, got '" + flag + "'" + (i + 1 >= argv.length ? " without a value" : ""));
      }
      String value = argv[++i];
      switch (flag) {
        case "--world" -> world = parseInt(flag, value);
        case "--dist-timeout" -> timeout = parseInt(flag, value);
        case "--config" -> configFile = Path.of(value);
        default -> settings.put(flag.substring(2).replace('-', '_'), value);
      }
    }
    if (world < 1) throw new IllegalArgumentException("--world N (ranks, one barrier task each) is required and must be >= 1");
    if (timeout < 1) throw new IllegalArgumentException("--dist-timeout must be >= 1 second, got " + timeout);
    TrainConfig config = TrainConfig.defaults();
    if (configFile != null) config = config.with(TrainConfig.read(configFile));
    return new Args(world, Duration.ofSeconds(timeout), config.with(settings));
  }

  private static int parseInt(String flag, String value) {
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(flag + " must be an integer, got '" + value + "'", e);
    }
  }
}
