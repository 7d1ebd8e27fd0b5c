package ai.anvil.dist;

import ai.anvil.autograd.Tape;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Reduces gradients while the backward still runs (as PyTorch DDP's buckets do): the tape reports each
 * parameter whose gradient is final ({@link Tape.LeafHook}); those gradients fill a bucket in that order,
 * and each full bucket is summed over the ranks on a worker thread while the backward goes on. Every rank
 * runs the same graph, so the buckets, and hence the collectives, come in the same order everywhere.
 *
 * <p>One step: {@link #done} during the last backward, then {@link #finish()} (flushes the partial
 * bucket, waits for all, returns what was reduced). The group is used from the worker thread only between
 * the first {@code done} and {@code finish}; the training thread calls no collective in between.
 */
final class BucketReducer implements Tape.LeafHook, AutoCloseable {
  private final ProcessGroup group;
  private final long bucketElements;
  private final ExecutorService worker;
  private final List<Tensor> pending = new ArrayList<>();
  private final Set<Tensor> reduced = Collections.newSetFromMap(new IdentityHashMap<>());
  private final List<Future<?>> inFlight = new ArrayList<>();
  private long pendingElements;

  BucketReducer(ProcessGroup group, long bucketElements) {
    if (bucketElements < 1) throw new IllegalArgumentException("bucket must hold at least 1 element, got " + bucketElements);
    this.group = group;
    this.bucketElements = bucketElements;
    // One thread keeps the buckets in order; it ends when idle, so a finished run leaves no thread behind.
    this.worker = new ThreadPoolExecutor(0, 1, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
      Thread t = new Thread(r, "anvil-grad-reduce-rank" + group.rank());
      t.setDaemon(true);
      return t;
    });
  }

  @Override
  public void done(Tensor leaf) {
    Tensor grad = leaf.grad();
    if (grad == null || reduced.contains(grad)) return;
    reduced.add(grad);
    pending.add(grad);
    pendingElements += grad.numel();
    if (pendingElements >= bucketElements) flush();
  }

  private void flush() {
    if (pending.isEmpty()) return;
    List<Tensor> bucket = List.copyOf(pending);
    pending.clear();
    pendingElements = 0;
    inFlight.add(worker.submit(() -> group.allReduceSum(bucket)));
  }

  /** Reduces the last partial bucket, waits for every bucket, and returns the gradients reduced this step. */
  Set<Tensor> finish() {
    flush();
    try {
      for (Future<?> f : inFlight) f.get();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) throw r;
      throw new CollectiveException("gradient bucket reduction failed on rank " + group.rank(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CollectiveException("interrupted while reducing gradient buckets on rank " + group.rank(), e);
    } finally {
      inFlight.clear();
    }
    Set<Tensor> out = Collections.newSetFromMap(new IdentityHashMap<>());
    out.addAll(reduced);
    reduced.clear();
    return out;
  }

  @Override
  public void close() {
    worker.shutdownNow();
  }
}
