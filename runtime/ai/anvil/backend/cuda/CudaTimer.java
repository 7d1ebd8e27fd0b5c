package ai.anvil.backend.cuda;

import ai.anvil.bind.AnvilCuda;

/**
 * Times the work queued on one device's stream between {@link #start()} and {@link #stopMillis()}, with
 * a pair of CUDA events (the GPU's own clock, not the host's). For benchmarks; not thread-safe.
 */
public final class CudaTimer implements AutoCloseable {
  private final CudaBackend backend;
  private final long start;
  private final long end;
  private boolean closed;

  public CudaTimer(CudaBackend backend) {
    this.backend = backend;
    backend.bind();
    long[] e = new long[1];
    CudaBackend.check("eventCreate", AnvilCuda.anvil_cuda_event_create(e));
    this.start = e[0];
    CudaBackend.check("eventCreate", AnvilCuda.anvil_cuda_event_create(e));
    this.end = e[0];
  }

  /** Marks the start on the stream (queued, returns at once). */
  public void start() {
    backend.bind();
    CudaBackend.check("eventRecord", AnvilCuda.anvil_cuda_event_record(start, backend.stream()));
  }

  /** Marks the end, waits for it, and returns the milliseconds the stream spent in between. */
  public double stopMillis() {
    backend.bind();
    CudaBackend.check("eventRecord", AnvilCuda.anvil_cuda_event_record(end, backend.stream()));
    double[] ms = new double[1];
    CudaBackend.check("eventElapsed", AnvilCuda.anvil_cuda_event_elapsed(start, end, ms));
    return ms[0];
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    backend.bind();
    CudaBackend.check("eventDestroy", AnvilCuda.anvil_cuda_event_destroy(start));
    CudaBackend.check("eventDestroy", AnvilCuda.anvil_cuda_event_destroy(end));
  }
}
