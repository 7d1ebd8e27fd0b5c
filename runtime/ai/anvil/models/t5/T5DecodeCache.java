package ai.anvil.models.t5;

import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/**
 * The decoder state of one batch of sources being translated: per decoder layer, the self-attention keys
 * and values of the target positions decoded so far (B, capacity, C), which grow by one row per step, and
 * the cross-attention keys and values of the encoder output (B, S, C), computed once by
 * {@link T5#newCache}; plus the source key-padding mask (B, S). Owned by this cache (not by any Scope)
 * and freed by {@link #close()}; one decoding sequence at a time.
 */
public final class T5DecodeCache implements AutoCloseable {
  private final int layers;
  private final int batch;
  private final int capacity;
  private final int width;
  private final Tensor[] keys;
  private final Tensor[] values;
  private final Tensor[] keyRows;
  private final Tensor[] valueRows;
  private final Tensor[] crossKeys;
  private final Tensor[] crossValues;
  private final Tensor keyMask;
  private int length;
  private boolean closed;

  T5DecodeCache(int layers, int batch, int capacity, int width, DType dtype, Device device, Tensor sourceMask) {
    this.layers = layers;
    this.batch = batch;
    this.capacity = capacity;
    this.width = width;
    this.keys = new Tensor[layers];
    this.values = new Tensor[layers];
    this.keyRows = new Tensor[layers];
    this.valueRows = new Tensor[layers];
    this.crossKeys = new Tensor[layers];
    this.crossValues = new Tensor[layers];
    Tensor mask = null;
    try {
      for (int l = 0; l < layers; l++) {
        keys[l] = Tensor.zeros(dtype, device, batch, capacity, width).detachFromScope();
        values[l] = Tensor.zeros(dtype, device, batch, capacity, width).detachFromScope();
        keyRows[l] = keys[l].reshape((long) batch * capacity, width).detachFromScope();
        valueRows[l] = values[l].reshape((long) batch * capacity, width).detachFromScope();
      }
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
    return layers;
  }

  public int batch() {
    return batch;
  }

  public int capacity() {
    return capacity;
  }

  /** Target positions decoded so far: the next token goes to position length(). */
  public int length() {
    return length;
  }

  /** Forgets the decoded positions; the source (cross keys and values) stays. */
  public void reset() {
    length = 0;
  }

  /** Native bytes held. */
  public long bytes() {
    long n = 0;
    for (Tensor[] ts : new Tensor[][] {keys, values, crossKeys, crossValues}) for (Tensor t : ts) if (t != null) n += t.bytes();
    return n;
  }

  int width() {
    return width;
  }

  Tensor keyRows(int layer) {
    checkOpen();
    return keyRows[layer];
  }

  Tensor valueRows(int layer) {
    checkOpen();
    return valueRows[layer];
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
    if (n < 0 || length + n > capacity) {
      throw new IllegalStateException("T5DecodeCache: advancing " + n + " from " + length + " exceeds capacity " + capacity);
    }
    length += n;
  }

  void checkOpen() {
    if (closed) throw new IllegalStateException("T5DecodeCache is closed");
  }

  public boolean isClosed() {
    return closed;
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    for (Tensor[] ts : new Tensor[][] {keyRows, valueRows, keys, values, crossKeys, crossValues}) {
      for (Tensor t : ts) if (t != null) t.close();
    }
    if (keyMask != null) keyMask.close();
  }
}
