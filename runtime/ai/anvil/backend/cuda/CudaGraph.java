package ai.anvil.backend.cuda;

import ai.anvil.bind.AnvilCuda;

/**
 * A CUDA graph of the work one piece of code queues on a device's stream (kernels/graph.cu): captured
 * once, replayed by {@link #launch()} as one launch, without the per-kernel host cost of the Java layers.
 * Meant for fixed-shape steps (a training step, a decode step).
 *
 * <p>The captured code must keep the rules of {@code anvil.h}: nothing synchronizes during the capture
 * (no {@code item()}, no copy to or from the host: put inputs in device tensors made before, and read
 * outputs after a launch); tensors made before the capture are not closed during it, and tensors made
 * during it are closed during it (their memory becomes the graph's own, reused by every replay, so a
 * replay allocates nothing). Run the step once uncaptured first, so that lazily made buffers (gradients,
 * optimizer state) exist before the capture. Kernel arguments are frozen: what changes between replays
 * (the batch, lr) must be written into device memory the graph reads (see {@link FusedAdamW#schedule}).
 */
public final class CudaGraph implements AutoCloseable {
  private static final ThreadLocal<Boolean> CAPTURING = ThreadLocal.withInitial(() -> false);

  private final CudaBackend backend;
  private long handle;

  /**
   * Whether this thread is inside {@link #capture}'s body. A cache that hands out device memory made
   * before the capture (position ids, say) must then keep that memory while the graph may replay: the
   * graph reads it by address.
   */
  public static boolean capturing() {
    return CAPTURING.get();
  }

  private CudaGraph(CudaBackend backend, long handle) {
    this.backend = backend;
    this.handle = handle;
  }

  /**
   * Captures what {@code body} queues on the backend's stream from this thread. When body throws or the
   * capture breaks, the capture is ended, nothing is kept, and the exception says why.
   */
  public static CudaGraph capture(CudaBackend backend, Runnable body) {
    backend.bind();
    long stream = backend.stream();
    CudaBackend.check("graph capture begin", AnvilCuda.anvil_cuda_graph_begin(stream));
    long[] graph = new long[1];
    try {
      CAPTURING.set(true);
      body.run();
    } catch (RuntimeException | Error e) {
      int rc = AnvilCuda.anvil_cuda_graph_end(stream, graph);
      if (rc == 0) AnvilCuda.anvil_cuda_graph_destroy(graph[0]);
      throw e;
    } finally {
      CAPTURING.set(false);
    }
    CudaBackend.check("graph capture end", AnvilCuda.anvil_cuda_graph_end(stream, graph));
    return new CudaGraph(backend, graph[0]);
  }

  /** Queues one replay on the stream (asynchronous, like every op). */
  public void launch() {
    if (handle == 0) throw new IllegalStateException("CudaGraph is closed");
    backend.bind();
    CudaBackend.check("graph launch", AnvilCuda.anvil_cuda_graph_launch(handle, backend.stream()));
  }

  @Override
  public void close() {
    if (handle == 0) return;
    backend.synchronize();  // a replay in flight must finish before its graph goes
    long h = handle;
    handle = 0;
    CudaBackend.check("graph destroy", AnvilCuda.anvil_cuda_graph_destroy(h));
  }
}
