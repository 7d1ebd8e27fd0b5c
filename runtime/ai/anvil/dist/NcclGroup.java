package ai.anvil.dist;

import ai.anvil.backend.Backend;
import ai.anvil.bind.AnvilCpu;
import ai.anvil.bind.AnvilCuda;
import ai.anvil.bind.AnvilDistCuda;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.util.HexFormat;
import java.util.List;
import org.bytedeco.javacpp.DoublePointer;

/**
 * A {@link ProcessGroup} of GPU ranks on NCCL (libnccl.so.2, loaded at run time by libanvil_cuda): one
 * rank per GPU, the communicator made from a 128-byte unique id that rank 0 creates and the launcher's
 * rendezvous (Spark's allGather) hands to the others. Collectives run on a stream of this group's own,
 * ordered after the backend's work by a synchronize, and are waited for before returning, so callers
 * see finished results as with {@link GlooGroup}. NCCL refuses two ranks on one GPU.
 *
 * <p>Gradients are reduced one tensor per NCCL call (no packing into buckets yet), and a dead peer is
 * detected by NCCL's own watchdog/timeouts rather than a per-call timeout.
 */
public final class NcclGroup implements ProcessGroup {
  private static final int F64 = 16; // ANVIL_DIST_F64

  private final int rank;
  private final int world;
  private final Device device;
  private final Backend backend;
  private long comm;
  private final long stream;

  private NcclGroup(int rank, int world, Device device, long comm, long stream) {
    this.rank = rank;
    this.world = world;
    this.device = device;
    this.backend = Backend.of(device);
    this.comm = comm;
    this.stream = stream;
  }

  /** NCCL's version code, loading it; throws with dlopen's message when libnccl.so.2 is missing. */
  public static long version() {
    long[] v = new long[1];
    check("load", AnvilDistCuda.anvil_cuda_nccl_load(v));
    return v[0];
  }

  /** A new communicator id (rank 0 calls this and hands the hex string to the others). */
  public static String newUniqueId() {
    byte[] id = new byte[128];
    check("ncclGetUniqueId", AnvilDistCuda.anvil_cuda_nccl_unique_id(id));
    return HexFormat.of().formatHex(id);
  }

  /** Joins the communicator idHex names as rank of world, on device ("cuda:N"). Blocks until all joined. */
  public static NcclGroup join(String idHex, int rank, int world, String device) {
    if (world < 1 || rank < 0 || rank >= world) throw new IllegalArgumentException("rank " + rank + " of world " + world);
    Device d = Device.parse(device);
    if (!d.isCuda()) throw new IllegalArgumentException("NCCL needs a CUDA device, got " + device);
    byte[] id;
    try {
      id = HexFormat.of().parseHex(idHex);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("NCCL unique id is not hex: " + e.getMessage(), e);
    }
    if (id.length != 128) throw new IllegalArgumentException("NCCL unique id must be 128 bytes, got " + id.length);
    Backend.of(d); // sets up the device (pool, stream) before NCCL uses it
    check("select device", AnvilCuda.anvil_cuda_use_device(d.index()));
    long[] out = new long[1];
    check("ncclCommInitRank", AnvilDistCuda.anvil_cuda_nccl_init(id, world, rank, out));
    long[] s = new long[1];
    check("stream", AnvilCuda.anvil_cuda_stream_create(s));
    return new NcclGroup(rank, world, d, out[0], s[0]);
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
    for (int i = 0; i < tensors.size(); i++) checked("allReduceSum", i, tensors.get(i), true);
    backend.synchronize();
    for (Tensor t : tensors) {
      check("ncclAllReduce", AnvilDistCuda.anvil_cuda_nccl_allreduce(comm, t.address(), t.numel(), t.dtype().code(), stream));
    }
    check("synchronize", AnvilCuda.anvil_cuda_stream_synchronize(stream));
  }

  @Override
  public double[] allReduceSum(double[] values) {
    checkOpen("allReduceSum");
    if (values.length == 0) return new double[0];
    long bytes = 8L * values.length;
    long[] dev = new long[1];
    check("malloc", AnvilCuda.anvil_cuda_malloc(bytes, stream, dev));
    try (DoublePointer host = new DoublePointer(values)) {
      check("copy to device", AnvilCuda.anvil_cuda_memcpy(dev[0], host.address(), bytes, 0, stream));
      check("ncclAllReduce", AnvilDistCuda.anvil_cuda_nccl_allreduce(comm, dev[0], values.length, F64, stream));
      check("copy to host", AnvilCuda.anvil_cuda_memcpy(host.address(), dev[0], bytes, 1, stream));
      check("synchronize", AnvilCuda.anvil_cuda_stream_synchronize(stream));
      double[] out = new double[values.length];
      host.get(out);
      return out;
    } finally {
      AnvilCuda.anvil_cuda_free(dev[0], stream);
    }
  }

  @Override
  public void broadcast(List<Tensor> tensors, int root) {
    checkOpen("broadcast");
    if (root < 0 || root >= world) throw new IllegalArgumentException("broadcast: root " + root + " not in [0, " + world + ")");
    for (int i = 0; i < tensors.size(); i++) checked("broadcast", i, tensors.get(i), false);
    backend.synchronize();
    for (Tensor t : tensors) {
      check("ncclBroadcast", AnvilDistCuda.anvil_cuda_nccl_broadcast(comm, t.address(), t.bytes(), root, stream));
    }
    check("synchronize", AnvilCuda.anvil_cuda_stream_synchronize(stream));
  }

  @Override
  public void barrier() {
    allReduceSum(new double[] {0});
  }

  @Override
  public void close() {
    if (comm == 0) return;
    AnvilDistCuda.anvil_cuda_nccl_destroy(comm);
    AnvilCuda.anvil_cuda_stream_destroy(stream);
    comm = 0;
  }

  private void checkOpen(String op) {
    if (comm == 0) throw new IllegalStateException("NcclGroup." + op + ": the group is closed");
  }

  private Tensor checked(String op, int i, Tensor t, boolean sum) {
    if (t == null) throw new IllegalArgumentException(op + ": tensor " + i + " is null");
    t.checkAlive(op);
    if (!t.device().equals(device)) {
      throw new IllegalArgumentException(op + ": tensor " + i + " " + t.shape() + " is on " + t.device() + ", this group on " + device);
    }
    if (sum && t.dtype() != DType.F32 && t.dtype() != DType.BF16) {
      throw new IllegalArgumentException(op + ": tensor " + i + " " + t.shape() + " is " + t.dtype() + ", expected F32 or BF16");
    }
    return t;
  }

  private static void check(String op, int rc) {
    if (rc != 0) throw new CollectiveException("NCCL " + op + " failed: " + AnvilCpu.anvil_last_error().getString());
  }
}
