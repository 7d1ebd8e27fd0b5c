package ai.anvil.models;

import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The self-attention keys and values of every layer for the positions decoded so far, so a new token
 * attends to the past without recomputing it; the one cache of GPT, Llama and the T5 decoder. Per layer,
 * K and V are (B, capacity, width) tensors: width is C for multi-head attention, kvHeads x headDim for
 * grouped-query attention (Llama keeps only the key/value heads: its memory saving), and keys are stored
 * as the attention reads them (Llama's already rotated). Owned by this cache (not by any Scope) and freed
 * by {@link #close()}. Position p of row b holds token p of that row.
 *
 * <p>Lengths: each row has its own filled length, kept twice: on the host (for checks, never read back)
 * and as an I32 (B) tensor on the cache's device that the decode kernels read ({@link #deviceLengths()}),
 * so a captured decode step serves every position. Rows advance together ({@link #advance}); rows of
 * different lengths come from a right-padded batch of prompts ({@link #setLengths}). A model may attach
 * bf16 copies of its weights made once for this cache ({@link #setWeightCopies}); they are freed with it.
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
  private final DType dtype;
  private final int[] lengths;
  private final Tensor deviceLengths;
  private boolean deviceStale;
  private final Map<Tensor, Tensor> weightCopies = new IdentityHashMap<>();
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
    this.dtype = dtype;
    this.lengths = new int[batch];
    this.keys = new Tensor[layers];
    this.values = new Tensor[layers];
    this.keyRows = new Tensor[layers];
    this.valueRows = new Tensor[layers];
    Tensor lens = null;
    try {
      lens = Tensor.zeros(DType.I32, device, batch).detachFromScope();
      for (int l = 0; l < layers; l++) {
        keys[l] = Tensor.zeros(dtype, device, batch, capacity, width).detachFromScope();
        values[l] = Tensor.zeros(dtype, device, batch, capacity, width).detachFromScope();
        keyRows[l] = keys[l].reshape((long) batch * capacity, width).detachFromScope();
        valueRows[l] = values[l].reshape((long) batch * capacity, width).detachFromScope();
      }
    } catch (RuntimeException e) {
      if (lens != null) lens.close();
      closeTensors();
      throw e;
    }
    this.deviceLengths = lens;
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

  /** The filled length of the longest row (every row's when they advance together). */
  @Override
  public int length() {
    int n = 0;
    for (int l : lengths) n = Math.max(n, l);
    return n;
  }

  /** The filled length of row b. */
  public int length(int b) {
    return lengths[b];
  }

  /** Whether every row holds the same number of positions. */
  public boolean uniform() {
    for (int l : lengths) if (l != lengths[0]) return false;
    return true;
  }

  @Override
  public void reset() {
    Arrays.fill(lengths, 0);
    deviceStale = true;
  }

  /** Keeps the first n positions of every row and forgets the rest (rewinding a speculative or rejected suffix). */
  @Override
  public void truncate(int n) {
    int length = length();
    if (n < 0 || n > length) throw new IllegalArgumentException("KvCache.truncate(" + n + ") with length " + length);
    for (int b = 0; b < batch; b++) lengths[b] = Math.min(lengths[b], n);
    deviceStale = true;
  }

  /**
   * Sets each row's filled length (rows of a right-padded prefill of prompts of different lengths: the
   * positions past a row's length are overwritten by its next tokens and never attended).
   */
  public void setLengths(int[] rows) {
    checkOpen();
    if (rows.length != batch) throw new IllegalArgumentException("KvCache.setLengths: " + rows.length + " lengths for batch " + batch);
    for (int l : rows) {
      if (l < 0 || l > capacity) throw new IllegalArgumentException("KvCache.setLengths: length " + l + " outside [0, " + capacity + "]");
    }
    System.arraycopy(rows, 0, lengths, 0, batch);
    deviceStale = true;
  }

  /**
   * The rows' lengths as an I32 (B) tensor on the cache's device, read by the decode kernels. Brought up
   * to date from the host first when the host changed them ({@link #reset}, {@link #truncate},
   * {@link #setLengths}, {@link #advance}): a copy to the device, so not inside a graph capture.
   */
  public Tensor deviceLengths() {
    checkOpen();
    if (deviceStale) {
      ByteBuffer buf = ByteBuffer.allocateDirect(4 * batch).order(ByteOrder.nativeOrder());
      buf.asIntBuffer().put(lengths);
      Backend.of(deviceLengths.device()).copyFromHost(deviceLengths, buf);
      deviceStale = false;
    }
    return deviceLengths;
  }

  /** Whether {@link #deviceLengths()} would copy from the host (nothing may be copied during a capture). */
  public boolean deviceLengthsStale() {
    return deviceStale;
  }

  /**
   * Records that a kernel queued on the device's stream (a decode step, or its graph replayed) advanced
   * every row's device length by n: the host copy follows without touching the device.
   */
  public void advancedOnDevice(int n) {
    checkRoom(n);
    for (int b = 0; b < batch; b++) lengths[b] += n;
  }

  /** The cache's dtype (of keys and values): BF16 when decoding in mixed precision. */
  public DType dtype() {
    return dtype;
  }

  /**
   * Hands bf16 copies of a model's weights (weight -> copy) to this cache, which closes them with itself:
   * the model's decode steps use them under an Autocast instead of casting every weight every token.
   */
  public void setWeightCopies(Map<Tensor, Tensor> copies) {
    checkOpen();
    for (Tensor c : weightCopies.values()) c.close();
    weightCopies.clear();
    weightCopies.putAll(copies);
  }

  /** The weight copies given by {@link #setWeightCopies} (empty when none). */
  public Map<Tensor, Tensor> weightCopies() {
    return weightCopies;
  }

  @Override
  public long bytes() {
    long n = 0;
    for (Tensor k : keys) if (k != null) n += 2 * k.bytes();
    for (Tensor c : weightCopies.values()) n += c.bytes();
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

  /** Marks n more positions of every row as filled on the host (the device lengths follow on next use). */
  public void advance(int n) {
    checkRoom(n);
    for (int b = 0; b < batch; b++) lengths[b] += n;
    deviceStale = true;
  }

  private void checkRoom(int n) {
    int length = length();
    if (n < 0 || length + n > capacity) {
      throw new IllegalStateException("KvCache: advancing " + n + " from " + length + " exceeds capacity " + capacity);
    }
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
    closeTensors();
    if (deviceLengths != null) deviceLengths.close();
    for (Tensor c : weightCopies.values()) c.close();
    weightCopies.clear();
  }

  private void closeTensors() {
    for (Tensor[] ts : new Tensor[][] {keyRows, valueRows, keys, values}) {
      for (Tensor t : ts) if (t != null) t.close();
    }
  }
}
