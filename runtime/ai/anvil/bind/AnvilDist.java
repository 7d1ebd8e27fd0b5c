package ai.anvil.bind;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI binding of the Gloo half of {@code native/include/anvil/anvil_dist.h} (libanvil_dist, built only
 * where Gloo was installed; it needs libanvil_cpu for the error slot and the host's libgloo.so.0).
 * Loading may therefore fail: only {@code ai.anvil.dist.GlooGroup} touches this class, inside a probe
 * that turns the failure into a message. Nothing here validates anything; GlooGroup checks first.
 */
@Platform(include = "anvil/anvil_dist.h", link = {"anvil_cpu", "anvil_dist"})
public final class AnvilDist {
  static {
    Loader.load();
  }

  private AnvilDist() {}

  public static native long anvil_dist_gloo_version();

  public static native int anvil_dist_gloo_create(String storeHost, long storePort, String prefix, long rank, long world,
                                                  String hostname, long timeoutMs, @Cast("int64_t*") long[] group);

  public static native int anvil_dist_gloo_destroy(long group);

  public static native int anvil_dist_gloo_allreduce(long group, @Cast("const int64_t*") long[] ptrs,
                                                     @Cast("const int64_t*") long[] counts, long n, long dtype,
                                                     long bucketElems, long timeoutMs);

  public static native int anvil_dist_gloo_broadcast(long group, long data, long bytes, long root, long timeoutMs);

  public static native int anvil_dist_gloo_barrier(long group, long timeoutMs);
}
