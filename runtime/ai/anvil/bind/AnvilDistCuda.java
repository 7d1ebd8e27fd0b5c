package ai.anvil.bind;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI binding of the NCCL half of {@code native/include/anvil/anvil_dist.h}, which lives in libanvil_cuda
 * (kernels/dist/nccl.cu) and dlopens libnccl.so.2 on first use. Only {@code ai.anvil.dist.NcclGroup}
 * touches this class; it validates every argument first.
 */
@Platform(include = "anvil/anvil_dist.h", link = {"anvil_cpu", "anvil_cuda"})
public final class AnvilDistCuda {
  static {
    Loader.load();
  }

  private AnvilDistCuda() {}

  public static native int anvil_cuda_nccl_load(@Cast("int64_t*") long[] version);

  public static native int anvil_cuda_nccl_unique_id(@Cast("char*") byte[] id128);

  public static native int anvil_cuda_nccl_init(@Cast("const char*") byte[] id128, long world, long rank,
                                                @Cast("int64_t*") long[] comm);

  public static native int anvil_cuda_nccl_destroy(long comm);

  public static native int anvil_cuda_nccl_allreduce(long comm, long data, long count, long dtype, long stream);

  public static native int anvil_cuda_nccl_broadcast(long comm, long data, long bytes, long root, long stream);
}
