package ai.anvil.spark;

import ai.anvil.dist.Distributed;
import ai.anvil.dist.GlooGroup;
import ai.anvil.dist.NcclGroup;
import ai.anvil.dist.ProcessGroup;
import ai.anvil.dist.Rendezvous;
import ai.anvil.dist.StoreServer;
import ai.anvil.io.Json;
import ai.anvil.train.Pretraining;
import ai.anvil.train.TrainConfig;
import ai.anvil.train.TrainListener;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.resource.ResourceInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Function1;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag$;

/**
 * Data-parallel pre-training as one Spark barrier stage: world tasks start together (Spark's barrier
 * execution mode, as XGBoost4J-Spark and TorchDistributor use it), rank = partition id. Rank 0 starts
 * the rendezvous store on its executor and {@code BarrierTaskContext.allGather} hands its address to
 * every task; then each task joins the Gloo group (CPU) or NCCL communicator (a GPU from
 * {@code TaskContext.resources()}, when the cluster schedules them) and runs {@link Pretraining} with the
 * same TrainConfig a single process would use. Rank 0 writes the run folder, so {@code out} should be
 * on storage the driver can read (a shared mount) to find the checkpoint afterwards.
 *
 * <p>If any task fails (a rank dies, a collective times out), Spark fails the whole barrier stage and
 * may retry it as a whole; set {@code resume} to the run folder to continue from its last checkpoint.
 */
public final class SparkPretraining {
  private static final Logger log = LoggerFactory.getLogger(SparkPretraining.class);

  private SparkPretraining() {}

  /**
   * Runs config on world barrier tasks and returns rank 0's summary (the JSON object {@code anvil
   * pretrain} prints). world must not exceed the task slots the cluster can give at once.
   *
   * @param timeout rendezvous and collective timeout (a silent rank fails the stage after it)
   */
  public static Map<String, Object> run(JavaSparkContext sc, TrainConfig config, int world, Duration timeout) {
    if (world < 1) throw new IllegalArgumentException("world must be >= 1, got " + world);
    if (timeout == null || timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("timeout must be positive");
    String json = config.toJson();
    long timeoutMs = timeout.toMillis();
    List<Integer> ranks = new ArrayList<>(IntStream.range(0, world).boxed().toList());
    RDD<Integer> slots = sc.parallelize(ranks, world).rdd();
    Function1<Iterator<Integer>, Iterator<String>> task = (Function1<Iterator<Integer>, Iterator<String>> & Serializable)
        ignored -> CollectionConverters.asScala(List.of(runRank(json, timeoutMs)).iterator());
    String[] results = (String[]) slots.barrier().mapPartitions(task, false, ClassTag$.MODULE$.apply(String.class)).collect();
    for (String r : results) {
      if (!r.isEmpty()) return Json.parseObject(r);
    }
    throw new IllegalStateException("no rank reported a result (rank 0 returns the summary)");
  }

  /** The body of one barrier task; returns rank 0's summary as JSON, "" on the other ranks. */
  static String runRank(String configJson, long timeoutMs) {
    BarrierTaskContext ctx = BarrierTaskContext.get();
    int rank = ctx.partitionId();
    int world = ctx.getTaskInfos().length;
    // Each task is reached at its executor's host, as Spark itself reaches it.
    String host = hostOf(ctx.getTaskInfos()[rank].address());
    TrainConfig config = TrainConfig.defaults().with(Json.parseObject(configJson));
    ResourceInformation gpu = ctx.resources().get("gpu").getOrElse(() -> null);
    if (gpu != null && gpu.addresses().length > 0) config = config.with("device", "cuda:" + gpu.addresses()[0]);
    boolean cuda = config.device().startsWith("cuda");
    Duration timeout = Duration.ofMillis(timeoutMs);

    StoreServer store = null;
    try {
      String mine = "";
      if (rank == 0 && !cuda) {
        store = new StoreServer(null, 0);
        mine = host + ":" + store.port();
      } else if (rank == 0) {
        mine = NcclGroup.newUniqueId();
      }
      String[] all = ctx.allGather(mine);
      try (ProcessGroup group = cuda ? NcclGroup.join(all[0], rank, world, config.device())
          : GlooGroup.join(rendezvous(all[0], rank, world, host, timeout))) {
        log.info("rank {} of {} on {} ({})", rank, world, host, config.device());
        Pretraining.Outcome outcome = Pretraining.run(config, new TrainListener() {}, new Distributed(group));
        ctx.barrier();
        return rank == 0 ? Json.write(outcome.summary()) : "";
      }
    } catch (IOException e) {
      throw new UncheckedIOException("rank " + rank + " of " + world + ": " + e.getMessage(), e);
    } finally {
      if (store != null) store.close();
    }
  }

  private static Rendezvous rendezvous(String storeAddress, int rank, int world, String host, Duration timeout) {
    int colon = storeAddress.lastIndexOf(':');
    if (colon < 0) throw new IllegalStateException("rank 0 sent no store address, got '" + storeAddress + "'");
    return new Rendezvous(rank, world, storeAddress.substring(0, colon), Integer.parseInt(storeAddress.substring(colon + 1)),
        host, timeout, false);
  }

  /** "host:port" (or "[v6]:port") -> host. */
  static String hostOf(String address) {
    int colon = address.lastIndexOf(':');
    String host = colon < 0 ? address : address.substring(0, colon);
    return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
  }
}
