package ai.anvil.infer;

import ai.anvil.backend.Backend;
import ai.anvil.backend.cuda.CudaBackend;
import ai.anvil.backend.cuda.CudaGraph;
import ai.anvil.models.KvCache;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One-token decode steps of a GPT over one cache (a fixed batch and capacity), replayed from a CUDA graph
 * on CUDA: the first step runs eagerly (the warm-up, which also makes whatever is made lazily), the
 * second is captured ({@link CudaGraph}) and every step from then on replays it: one launch per token
 * instead of ~15 per layer, and no host work per kernel. {@link Gpt#step} reads every per-token input
 * from device memory (the ids, the cache lengths as positions, cache rows and attention lengths), so
 * the one graph serves every position. Elsewhere (the CPU, graphs turned off, a capture CUDA refuses)
 * every step runs eagerly through the same code.
 *
 * <p>Use: write the next ids into {@link #ids()} (a DeviceSampler's output, or host ids the caller has
 * checked), call {@link #step()}, read {@link #logits()}. The cache may be reset or refilled between steps
 * by the model's eager calls (a prefill); the graph reads its lengths on the device. One thread at a time;
 * close it before its cache.
 */
public final class DecodeGraph implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DecodeGraph.class);

  private final Gpt model;
  private final KvCache cache;
  private final CudaBackend cuda;  // null: eager only
  private final Tensor ids;
  private final Tensor logits;
  private CudaGraph graph;
  private boolean warm;
  private boolean graphOff;
  private boolean closed;

  /** Steps of model over cache, with a CUDA graph when useGraph and the model is on CUDA. */
  public DecodeGraph(Gpt model, KvCache cache, boolean useGraph) {
    if (model == null || cache == null) throw new IllegalArgumentException("DecodeGraph: model and cache are required");
    cache.checkOpen();
    if (model.extension() != null) throw new IllegalArgumentException("DecodeGraph: not with an extension installed");
    this.model = model;
    this.cache = cache;
    Backend be = Backend.of(model.device());
    this.cuda = useGraph && be instanceof CudaBackend c ? c : null;
    Tensor i = Tensor.zeros(DType.I32, model.device(), cache.batch(), 1).detachFromScope();
    try {
      this.logits = Tensor.empty(cache.dtype(), model.device(), cache.batch(), model.paddedVocab()).detachFromScope();
    } catch (RuntimeException e) {
      i.close();
      throw e;
    }
    this.ids = i;
  }

  /** I32 (B, 1) on the model's device: the token each row takes at the next step (vocabulary ids only). */
  public Tensor ids() {
    checkOpen();
    return ids;
  }

  /** (B, paddedVocab) of the cache's dtype: the logits of the last step. */
  public Tensor logits() {
    checkOpen();
    return logits;
  }

  /** Whether steps replay a captured graph now. */
  public boolean captured() {
    return graph != null;
  }

  /** Runs ids at each row's next position (queued, asynchronous): logits written, every row advanced by one. */
  public void step() {
    checkOpen();
    if (cache.length() + 1 > cache.capacity()) {
      throw new IllegalStateException("DecodeGraph: the cache is full (" + cache.capacity() + " positions)");
    }
    cache.deviceLengths();  // brings the device lengths up to date after a host change (a reset, a prefill)
    if (cuda != null && graph == null && warm && !graphOff) capture();
    if (graph != null) {
      graph.launch();
    } else {
      model.step(ids, cache, logits);
      warm = true;
    }
    cache.advancedOnDevice(1);
  }

  private void capture() {
    try {
      graph = CudaGraph.capture(cuda, () -> model.step(ids, cache, logits));
    } catch (RuntimeException e) {
      LOG.info("decode step not captured, running it eagerly: {}", e.getMessage());
      graphOff = true;  // the eager path from now on
    }
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("DecodeGraph is closed");
    cache.checkOpen();
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    if (graph != null) graph.close();
    ids.close();
    logits.close();
  }
}
