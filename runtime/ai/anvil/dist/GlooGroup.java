package ai.anvil.dist;

import ai.anvil.bind.AnvilCpu;
import ai.anvil.bind.AnvilDist;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import org.bytedeco.javacpp.DoublePointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link ProcessGroup} of CPU ranks on Gloo (libanvil_dist): a full mesh of TCP connections made
 * through rank 0's {@link StoreServer}, ring all-reduce, broadcast and barrier, all Gloo's own. Each
 * collective is bounded by the rendezvous timeout, so a dead or stuck rank fails the job with a
 * {@link CollectiveException} naming what happened. Not thread-safe: one training thread calls it.
 */
public final class GlooGroup implements ProcessGroup {
  private static final Logger log = LoggerFactory.getLogger(GlooGroup.class);
  /** fp32 elements per all-reduce bucket by default: 25 MB, as PyTorch DDP's bucket_cap_mb. */
  public static final long DEFAULT_BUCKET_ELEMENTS = (25L << 20) / 4;
  private static final int F32 = 0;
  private static final int F64 = 16;

  private final int rank;
  private final int world;
  private final StoreServer server;
  private long timeoutMs;
  private long bucketElements = DEFAULT_BUCKET_ELEMENTS;
  private long handle;

  private GlooGroup(int rank, int world, StoreServer server, long timeoutMs, long handle) {
    this.rank = rank;
    this.world = world;
    this.server = server;
    this.timeoutMs = timeoutMs;
    this.handle = handle;
  }

  /** Why Gloo cannot be used in this process, or null when it can. */
  public static String unavailableReason() {
    return Probe.REASON;
  }

  /** Joins the group described by r under the key prefix "anvil" (starting rank 0's store when r says so). */
  public static GlooGroup join(Rendezvous r) {
    return join(r, "anvil");
  }

  /**
   * Joins the group described by r; prefix namespaces the store keys, so one store can host several
   * groups one after another. Blocks until every rank has joined or r.timeout() passes.
   */
  public static GlooGroup join(Rendezvous r, String prefix) {
    if (Probe.REASON != null) throw new IllegalStateException("Gloo is not available: " + Probe.REASON);
    StoreServer server = null;
    if (r.serveStore()) {
      try {
        server = new StoreServer(null, r.storePort());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    long ms = r.timeout().toMillis();
    long[] out = new long[1];
    int rc = AnvilDist.anvil_dist_gloo_create(r.storeHost(), r.storePort(), prefix, r.rank(), r.worldSize(), r.localHost(),
        ms, out);
    if (rc != 0) {
      if (server != null) server.close();
      throw new CollectiveException("rank " + r.rank() + " of " + r.worldSize() + " could not join through the store at "
          + r.storeHost() + ":" + r.storePort() + ": " + AnvilCpu.anvil_last_error().getString());
    }
    log.info("rank {} of {} joined the Gloo group (store {}:{}, this rank at {})", r.rank(), r.worldSize(), r.storeHost(),
        r.storePort(), r.localHost());
    return new GlooGroup(r.rank(), r.worldSize(), server, ms, out[0]);
  }

  /** Sets the timeout of the collectives from now on (the rendezvous timeout until then). */
  public GlooGroup timeout(java.time.Duration timeout) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("timeout must be positive, got " + timeout);
    this.timeoutMs = timeout.toMillis();
    return this;
  }

  /** Sets the all-reduce bucket size in fp32 elements. */
  public GlooGroup bucketElements(long elements) {
    if (elements < 1) throw new IllegalArgumentException("bucket must hold at least 1 element, got " + elements);
    this.bucketElements = elements;
    return this;
  }

  @Override
  public int rank() {
    return rank;
  }

  @Override
  public int worldSize() {
    return world;
  }

  @Override
  public void allReduceSum(List<Tensor> tensors) {
    checkOpen("allReduceSum");
    long[] ptrs = new long[tensors.size()];
    long[] counts = new long[tensors.size()];
    for (int i = 0; i < ptrs.length; i++) {
      Tensor t = checked("allReduceSum", i, tensors.get(i));
      ptrs[i] = t.address();
      counts[i] = t.numel();
    }
    check("all-reduce", AnvilDist.anvil_dist_gloo_allreduce(handle, ptrs, counts, ptrs.length, F32, bucketElements, timeoutMs));
  }

  @Override
  public double[] allReduceSum(double[] values) {
    checkOpen("allReduceSum");
    if (values.length == 0) return new double[0];
    try (DoublePointer buf = new DoublePointer(values)) {
      check("all-reduce", AnvilDist.anvil_dist_gloo_allreduce(handle, new long[] {buf.address()},
          new long[] {values.length}, 1, F64, values.length, timeoutMs));
      double[] out = new double[values.length];
      buf.get(out);
      return out;
    }
  }

  @Override
  public void broadcast(List<Tensor> tensors, int root) {
    checkOpen("broadcast");
    if (root < 0 || root >= world) throw new IllegalArgumentException("broadcast: root " + root + " not in [0, " + world + ")");
    for (int i = 0; i < tensors.size(); i++) {
      Tensor t = checked("broadcast", i, tensors.get(i));
      check("broadcast", AnvilDist.anvil_dist_gloo_broadcast(handle, t.address(), t.bytes(), root, timeoutMs));
    }
  }

  @Override
  public void barrier() {
    checkOpen("barrier");
    check("barrier", AnvilDist.anvil_dist_gloo_barrier(handle, timeoutMs));
  }

  @Override
  public void close() {
    if (handle != 0) {
      int rc = AnvilDist.anvil_dist_gloo_destroy(handle);
      handle = 0;
      if (rc != 0) log.warn("closing the Gloo group: {}", AnvilCpu.anvil_last_error().getString());
    }
    if (server != null) server.close();
  }

  private void checkOpen(String op) {
    if (handle == 0) throw new IllegalStateException("GlooGroup." + op + ": the group is closed");
  }

  private static Tensor checked(String op, int i, Tensor t) {
    if (t == null) throw new IllegalArgumentException(op + ": tensor " + i + " is null");
    t.checkAlive(op);
    if (!t.device().isCpu()) throw new IllegalArgumentException(op + ": tensor " + i + " " + t.shape() + " is on "
        + t.device() + "; Gloo reduces CPU tensors (use NcclGroup on CUDA)");
    if (t.dtype() != DType.F32) throw new IllegalArgumentException(op + ": tensor " + i + " " + t.shape() + " is " + t.dtype()
        + ", expected F32");
    return t;
  }

  private void check(String op, int rc) {
    if (rc != 0) {
      throw new CollectiveException("Gloo " + op + " failed on rank " + rank + " of " + world + " (a rank died or did not "
          + "answer within " + timeoutMs + " ms): " + AnvilCpu.anvil_last_error().getString());
    }
  }

  /** Loads libanvil_dist once; REASON says why it could not be. */
  private static final class Probe {
    static final String REASON = probe();

    private static String probe() {
      try {
        long version = AnvilDist.anvil_dist_gloo_version();
        log.debug("libanvil_dist loaded, Gloo {}", version);
        return null;
      } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
        return "libanvil_dist did not load (" + e + "); it is built only where Gloo is installed (Debian: apt-get install "
            + "libgloo-dev, then rebuild) and needs libgloo.so.0 at run time";
      }
    }
  }
}
