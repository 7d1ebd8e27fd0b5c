package ai.anvil.models.t5;

import ai.anvil.models.KvCache;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/**
 * The decoder state of one batch of sources being translated: per decoder layer, the self-attention keys
 * and values of the target positions decoded so far (a {@link KvCache} of (B, capacity, C)), which grow
 * by one row per step, and
 * the cross-attention keys and values of the encoder output (B, S, C), computed once by
 * {@link T5#newCache}; plus the source key-padding mask (B, S). Owned by this cache (not by any Scope)
 * and freed by {@link #close()}; one decoding sequence at a time.
 */
public final class T5DecodeCache implements AutoCloseable {
  private final KvCache self;
  private final Tensor[] crossKeys;
  private final Tensor[] crossValues;
  private final Tensor keyMask;

  T5DecodeCache(int layers, int batch, int capacity, int width, DType dtype, Device device, Tensor sourceMask) {
    this.self = new KvCache(layers, batch, capacity, width, dtype, device);
    this.crossKeys = new Tensor[layers];
    this.crossValues = new Tensor[layers];
    Tensor mask = null;
    try {
      if (sourceMask != null) mask = Tensor.ofInts(sourceMask.toIntArray(), device, sourceMask.dims()).detachFromScope();
    } catch (RuntimeException e) {
      close();
      throw e;
    }
    this.keyMask = mask;
  }

  /** Takes ownership of layer l's cross-attention keys and values (B, S, C). */
  void setCross(int layer, Tensor k, Tensor v) {
    crossKeys[layer] = k.detachFromScope();
    crossValues[layer] = v.detachFromScope();
  }

  public int layers() {
    return self.layers();
  }

  public int batch() {
    return self.batch();
  }

  public int capacity() {
    return self.capacity();
  }

  /** Target positions decoded so far: the next token goes to position length(). */
  public int length() {
    return self.length();
  }

  /** Forgets the decoded positions; the source (cross keys and values) stays. */
  public void reset() {
    self.reset();
  }

  /** Native bytes held. */
  public long bytes() {
    long n = self.bytes();
    for (Tensor[] ts : new Tensor[][] {crossKeys, crossValues}) for (Tensor t : ts) if (t != null) n += t.bytes();
    return n;
  }

  int width() {
    return self.width();
  }

  Tensor keyRows(int layer) {
    return self.keyRows(layer);
  }

  Tensor valueRows(int layer) {
    return self.valueRows(layer);
  }

  Tensor crossKeys(int layer) {
    checkOpen();
    return crossKeys[layer];
  }

  Tensor crossValues(int layer) {
    checkOpen();
    return crossValues[layer];
  }

  /** The source key-padding mask (B, S), or null when every source token is real. */
  Tensor keyMask() {
    return keyMask;
  }

  void advance(int n) {
    self.advance(n);
  }

  void checkOpen() {
    if (self.isClosed()) throw new IllegalStateException("T5DecodeCache is closed");
  }

  public boolean isClosed() {
    return self.isClosed();
  }

  @Override
  public void close() {
    if (self.isClosed()) return;
    self.close();
    for (Tensor[] ts : new Tensor[][] {crossKeys, crossValues}) {
      for (Tensor t : ts) if (t != null) t.close();
    }
    if (keyMask != null) keyMask.close();
  }
}
