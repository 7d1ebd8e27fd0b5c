package ai.anvil.models;

import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;

/**
 * The self-attention keys and values of every layer for the positions decoded so far, so a new token
 * attends to the past without recomputing it; the one cache of GPT, Llama and the T5 decoder. Per layer,
 * K and V are (B, capacity, width) tensors: width is C for multi-head attention, kvHeads x headDim for
 * grouped-query attention (Llama keeps only the key/value heads: its memory saving), and keys are stored
 * as the attention reads them (Llama's already rotated). Owned by this cache (not by any Scope) and freed
 * by {@link #close()}. All B rows advance together: position p of every row holds token p of that row.
 *
 * <p>A cache belongs to one decoding sequence (one thread at a time); the model it came from is only
 * read, so many caches may decode concurrently against one model.
 */
public final class KvCache implements DecodeCache {
  private final int layers;
  private final int batch;
  private final int capacity;
  private final int width;
  private final Tensor[] keys;
  private final Tensor[] values;
  private final Tensor[] keyRows;
  private final Tensor[] valueRows;
  private int length;
  private boolean closed;

  /** layers x 2 zeroed (batch, capacity, width) tensors of dtype on device. */
  public KvCache(int layers, int batch, int capacity, int width, DType dtype, Device device) {
    if (batch < 1 || capacity < 1) {
      throw new IllegalArgumentException("KvCache: batch and capacity must be >= 1, got " + batch + ", " + capacity);
    }
    this.layers = layers;
    this.batch = batch;
    this.capacity = capacity;
    this.width = width;
    this.keys = new Tensor[layers];
    this.values = new Tensor[layers];
    this.keyRows = new Tensor[layers];
    this.valueRows = new Tensor[layers];
    try {
      for (int l = 0; l < layers; l++) {
        keys[l] = Tensor.zeros(dtype, device, batch, capacity, width).detachFromScope();
        values[l] = Tensor.zeros(dtype, device, batch, capacity, width).detachFromScope();
        keyRows[l] = keys[l].reshape((long) batch * capacity, width).detachFromScope();
        valueRows[l] = values[l].reshape((long) batch * capacity, width).detachFromScope();
      }
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  public int layers() {
    return layers;
  }

  @Override
  public int batch() {
    return batch;
  }

  @Override
  public int capacity() {
    return capacity;
  }

  @Override
  public int length() {
    return length;
  }

  @Override
  public void reset() {
    length = 0;
  }

  /** Keeps the first n positions and forgets the rest (rewinding a speculative or rejected suffix). */
  @Override
  public void truncate(int n) {
    if (n < 0 || n > length) throw new IllegalArgumentException("KvCache.truncate(" + n + ") with length " + length);
    length = n;
  }

  @Override
  public long bytes() {
    long n = 0;
    for (Tensor k : keys) if (k != null) n += 2 * k.bytes();
    return n;
  }

  /** Layer l's K (B, capacity, width); rows past length() are stale. */
  public Tensor keys(int layer) {
    checkOpen();
    return keys[layer];
  }

  /** Layer l's V (B, capacity, width). */
  public Tensor values(int layer) {
    checkOpen();
    return values[layer];
  }

  /** Layer l's K as (B * capacity, width) rows: row b * capacity + p is position p of batch row b. */
  public Tensor keyRows(int layer) {
    checkOpen();
    return keyRows[layer];
  }

  /** Layer l's V as (B * capacity, width) rows. */
  public Tensor valueRows(int layer) {
    checkOpen();
    return valueRows[layer];
  }

  /** The width of one position's key (and value) row. */
  public int width() {
    return width;
  }

  /** Marks n more positions as filled (after every layer has written them). */
  public void advance(int n) {
    if (n < 0 || length + n > capacity) {
      throw new IllegalStateException("KvCache: advancing " + n + " from " + length + " exceeds capacity " + capacity);
    }
    length += n;
  }

  /** Throws once closed. */
  public void checkOpen() {
    if (closed) throw new IllegalStateException("KvCache is closed");
  }

  @Override
  public boolean isClosed() {
    return closed;
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    for (Tensor[] ts : new Tensor[][] {keyRows, valueRows, keys, values}) {
      for (Tensor t : ts) if (t != null) t.close();
    }
  }
}
