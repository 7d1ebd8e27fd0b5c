package ai.anvil.backend.cuda;

import ai.anvil.bind.AnvilCuda;

/**
 * n CUDA events marked in order on one device's stream, and the milliseconds between consecutive marks
 * (the GPU's own clock): where a step's time goes, phase by phase. Marks are not allowed inside a graph
 * capture. For profiling; not thread-safe.
 */
public final class CudaMarks implements AutoCloseable {
  private final CudaBackend backend;
  private final long[] events;
  private boolean closed;

  public CudaMarks(CudaBackend backend, int n) {
    if (n < 2) throw new IllegalArgumentException("CudaMarks: at least 2 marks, got " + n);
    this.backend = backend;
    this.events = new long[n];
    backend.bind();
    long[] e = new long[1];
    for (int i = 0; i < n; i++) {
      int rc = AnvilCuda.anvil_cuda_event_create(e);
      if (rc != 0) {
        for (int j = 0; j < i; j++) AnvilCuda.anvil_cuda_event_destroy(events[j]);
        CudaBackend.check("eventCreate", rc);
      }
      events[i] = e[0];
    }
  }

  /** Records mark i on the stream (queued, returns at once). */
  public void mark(int i) {
    if (closed) throw new IllegalStateException("CudaMarks: closed");
    if (i < 0 || i >= events.length) throw new IllegalArgumentException("CudaMarks: mark " + i + " of " + events.length);
    backend.bind();
    CudaBackend.check("eventRecord", AnvilCuda.anvil_cuda_event_record(events[i], backend.stream()));
  }

  /** Milliseconds from mark i to mark i + 1, for each i (n - 1 values); waits for the last mark. */
  public double[] millisBetween() {
    if (closed) throw new IllegalStateException("CudaMarks: closed");
    backend.bind();
    double[] ms = new double[events.length - 1];
    double[] one = new double[1];
    for (int i = 0; i < ms.length; i++) {
      CudaBackend.check("eventElapsed", AnvilCuda.anvil_cuda_event_elapsed(events[i], events[i + 1], one));
      ms[i] = one[0];
    }
    return ms;
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    backend.bind();
    for (long e : events) AnvilCuda.anvil_cuda_event_destroy(e);
  }
}
