package ai.anvil.peft.lora;

import ai.anvil.autograd.Ops;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.nn.Linear;
import ai.anvil.nn.LinearDelta;
import ai.anvil.peft.Layers;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Many LoRA adapters served from one copy of a base GPT. Each request picks its adapter with
 * {@link #use(String)}, or a batch gives each row its own with {@link #use(String...)}; then the base's
 * ordinary forward (logits, loss, cached decoding) runs with the chosen adapters, in one pass over the
 * batch. The choice is per thread, so concurrent requests with different adapters share the base.
 *
 * <p>How a mixed batch runs without splitting it: per adapted layer the bank keeps every adapter's A
 * in one table (N+1, R*in) and its scaled B in another (N+1, out*R), R being the largest rank (smaller
 * ranks padded with zeros, which add nothing) and row N all zeros (the base alone). A forward gathers
 * each row's A and B with the embedding op (ids = the rows' adapter indices) and applies them with two
 * batched matmuls: (B,T,in) x (B,R,in)^T -> (B,T,R), then x (B,out,R)^T -> (B,T,out).
 *
 * <p>Adding an adapter rebuilds the tables; do it between requests. The bank borrows the base and takes
 * its hooks off on {@link #close()}.
 */
public final class LoraBank implements AutoCloseable {
  private final Gpt base;
  private final Map<String, Linear> linears;
  private final Map<String, LoraWeights> adapters = new LinkedHashMap<>();
  private final Map<String, BankLayer> layers = new LinkedHashMap<>();
  private final ThreadLocal<int[]> route = new ThreadLocal<>();
  private volatile List<String> names = List.of();
  private boolean closed;

  public LoraBank(Gpt base) {
    this.base = base;
    this.linears = Layers.linears(base);
  }

  /** Loads a PEFT adapter folder under name. */
  public void add(String name, Path dir) throws IOException {
    add(name, LoraWeights.read(dir, linears));
  }

  /** Adds an adapter's values (say {@link LoraModel#weights()}) under name. */
  public synchronized void add(String name, LoraWeights weights) {
    checkOpen();
    if (name == null || name.isEmpty()) throw new IllegalArgumentException("an adapter needs a name");
    if (adapters.containsKey(name)) throw new IllegalArgumentException("adapter '" + name + "' is already loaded");
    for (String layer : weights.a().keySet()) {
      if (!linears.containsKey(layer)) throw new IllegalArgumentException("adapter '" + name + "': the model has no layer " + layer);
    }
    adapters.put(name, weights);
    names = List.copyOf(adapters.keySet());
    rebuild();
  }

  /** The loaded adapters, in index order. */
  public List<String> names() {
    return names;
  }

  /** Until the returned handle closes, every forward on this thread uses adapter name (null: the base alone). */
  public Selection use(String name) {
    return select(new int[] {index(name)});
  }

  /**
   * Until the returned handle closes, row i of every batch run on this thread uses adapter perRow[i]
   * (null: the base alone); batches must then have perRow.length rows.
   */
  public Selection use(String... perRow) {
    if (perRow.length == 0) throw new IllegalArgumentException("use: no rows");
    int[] idx = new int[perRow.length];
    for (int i = 0; i < idx.length; i++) idx[i] = index(perRow[i]);
    return select(idx);
  }

  private int index(String name) {
    if (name == null) return names.size();
    int i = names.indexOf(name);
    if (i < 0) throw new IllegalArgumentException("no adapter '" + name + "'; loaded: " + names);
    return i;
  }

  private Selection select(int[] idx) {
    checkOpen();
    int[] previous = route.get();
    route.set(idx);
    return new Selection(previous);
  }

  /** Restores the previous choice of this thread when closed. */
  public final class Selection implements AutoCloseable {
    private final int[] previous;
    private boolean closed;

    private Selection(int[] previous) {
      this.previous = previous;
    }

    @Override
    public void close() {
      if (closed) return;
      closed = true;
      if (previous == null) route.remove();
      else route.set(previous);
    }
  }

  /** Rebuilds every layer's tables from the adapters' host values (N+1 rows each). */
  private void rebuild() {
    Map<String, List<String>> users = new LinkedHashMap<>();
    for (Map.Entry<String, LoraWeights> a : adapters.entrySet()) {
      for (String layer : a.getValue().a().keySet()) users.computeIfAbsent(layer, k -> new ArrayList<>()).add(a.getKey());
    }
    for (Map.Entry<String, List<String>> e : users.entrySet()) {
      BankLayer old = layers.remove(e.getKey());
      BankLayer layer = new BankLayer(linears.get(e.getKey()), e.getKey());
      layers.put(e.getKey(), layer);
      linears.get(e.getKey()).setDelta(layer);
      if (old != null) old.close();
    }
  }

  /** The delta installed on one layer: gathers each row's A and B and applies them batched. */
  private final class BankLayer implements LinearDelta {
    private final long in, out;
    private final int rank;
    private final int rows;
    private final Device device;
    private final Tensor tableA;                                  // (N+1, R*in)
    private final float[] hostB;                                  // (N+1, out, R), scaled
    private final Map<Long, Tensor> tablesB = new HashMap<>();    // (from, to) -> (N+1, (to-from)*R)

    BankLayer(Linear target, String layer) {
      this.in = target.in();
      this.out = target.out();
      this.device = target.weight().device();
      this.rows = adapters.size() + 1;
      int r = 1;
      for (LoraWeights w : adapters.values()) if (w.a().containsKey(layer)) r = Math.max(r, w.config().r());
      this.rank = r;
      float[] a = new float[Math.toIntExact(rows * rank * in)];
      this.hostB = new float[Math.toIntExact(rows * out * rank)];
      int n = 0;
      for (LoraWeights w : adapters.values()) {
        float[] wa = w.a().get(layer), wb = w.b().get(layer);
        if (wa != null) {
          int rn = w.config().r();
          float s = (float) w.config().scaling();
          System.arraycopy(wa, 0, a, Math.toIntExact(n * rank * in), Math.toIntExact(rn * in));
          for (long o = 0; o < out; o++) {
            for (int k = 0; k < rn; k++) hostB[Math.toIntExact((n * out + o) * rank + k)] = s * wb[Math.toIntExact(o * rn + k)];
          }
        }
        n++;
      }
      this.tableA = Tensor.of(a, device, rows, rank * in).detachFromScope();
    }

    private synchronized Tensor tableB(long from, long to) {
      return tablesB.computeIfAbsent(from << 32 | to, k -> {
        long width = (to - from) * rank;
        float[] t = new float[Math.toIntExact(rows * width)];
        for (int n = 0; n < rows; n++) {
          System.arraycopy(hostB, Math.toIntExact((n * out + from) * rank), t, Math.toIntExact(n * width), Math.toIntExact(width));
        }
        return Tensor.of(t, device, rows, width).detachFromScope();
      });
    }

    @Override
    public Tensor term(Tensor x, long from, long to) {
      int[] choice = route.get();
      if (choice == null) return null;
      if (x.rank() != 3) throw new IllegalArgumentException("LoraBank: inputs must be (B, T, in), got " + x.shape());
      long b = x.dim(0);
      int[] idx = choice.length == 1 ? filled(b, choice[0]) : choice;
      if (idx.length != b) {
        throw new IllegalArgumentException("LoraBank: " + idx.length + " rows chosen for a batch of " + b);
      }
      if (Arrays.stream(idx).allMatch(i -> i == rows - 1)) return null;
      Tensor ids = Tensor.ofInts(idx, device, b);
      Tensor a = Ops.embedding(ids, tableA).reshape(b, rank, in);                       // each row's A
      Tensor u = Ops.matmul(x, a, false, true);                                          // (B, T, R)
      Tensor bs = Ops.embedding(ids, tableB(from, to)).reshape(b, to - from, rank);      // each row's s*B
      return Ops.matmul(u, bs, false, true);                                             // (B, T, to-from)
    }

    void close() {
      tableA.close();
      synchronized (this) {
        for (Tensor t : tablesB.values()) t.close();
        tablesB.clear();
      }
    }
  }

  private static int[] filled(long n, int value) {
    int[] out = new int[Math.toIntExact(n)];
    Arrays.fill(out, value);
    return out;
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("LoraBank is closed");
  }

  /** Takes the bank's terms off the base's layers and frees the tables. */
  @Override
  public synchronized void close() {
    if (closed) return;
    closed = true;
    for (Map.Entry<String, BankLayer> e : layers.entrySet()) {
      Linear l = linears.get(e.getKey());
      if (l.delta() == e.getValue()) l.setDelta(null);
      e.getValue().close();
    }
    layers.clear();
  }
}
