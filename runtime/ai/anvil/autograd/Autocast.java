package ai.anvil.autograd;

import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A mixed-precision region of this thread (PyTorch's autocast, narrowed to what DESIGN.md's numbers
 * policy asks): while a bf16 Autocast is open for a CUDA device, {@link Ops#linear} casts its input to
 * bf16 and multiplies by a bf16 copy of its weight and bias (made once per region and kept, or given by
 * the caller: the fused AdamW writes one in its update pass), and {@link Ops#attention} casts fp32
 * inputs to bf16; both return bf16. Their parameter gradients are still fp32 and accumulate into the
 * fp32 parameters' grads (the bf16 GEMM writes its weight gradient in fp32). Everything else runs in the
 * dtype it is given, and mixed inputs promote to fp32 ({@link Ops#add}, {@link Ops#layerNorm}), so the
 * residual stream, LayerNorm statistics, softmax and the loss stay fp32.
 *
 * <pre>{@code
 * try (Scope step = Scope.open(); Autocast ac = Autocast.open(Precision.BF16, device); Tape tape = Tape.record()) {
 *   Tensor loss = model.loss(ids, targets, n);
 *   tape.backward(loss);      // inside the region: the backward reads the bf16 weight copies
 * }
 * optimizer.step(...);        // after it closes: the next region casts the updated weights again
 * }</pre>
 *
 * <p>Rules: open one region per step and run the backward inside it (the cached weight copies are freed
 * when it closes, and would be stale after an optimizer step); regions nest and close innermost first;
 * {@link Precision#FP32} opens a region that turns an outer one off. On the CPU (fp32 only) a bf16 region
 * cannot be opened. Not shared between threads.
 */
public final class Autocast implements AutoCloseable {
  private static final ThreadLocal<Autocast> ACTIVE = new ThreadLocal<>();

  private final Autocast previous;
  private final Precision precision;
  private final Device device;
  private final Map<Tensor, Tensor> given;
  private final Map<Tensor, Tensor> made = new IdentityHashMap<>();
  private final List<Tensor> order = new ArrayList<>();
  private final Thread thread = Thread.currentThread();
  private boolean closed;

  private Autocast(Precision precision, Device device, Map<Tensor, Tensor> given) {
    this.previous = ACTIVE.get();
    this.precision = precision;
    this.device = device;
    this.given = given;
  }

  /** Opens a region of precision for the ops on device (BF16 on a CPU device is refused). */
  public static Autocast open(Precision precision, Device device) {
    return open(precision, device, Map.of());
  }

  /**
   * As {@link #open(Precision, Device)}, with bf16 copies of some fp32 weights kept up to date by the
   * caller (weight -> copy, same shape, BF16, same device; e.g. the copies the fused AdamW writes): they
   * are used instead of casting those weights, and are not freed by this region.
   */
  public static Autocast open(Precision precision, Device device, Map<Tensor, Tensor> weightCopies) {
    if (precision == null || device == null) throw new IllegalArgumentException("Autocast: precision and device are required");
    precision.checkDevice(device);
    Map<Tensor, Tensor> given = new IdentityHashMap<>();
    for (Map.Entry<Tensor, Tensor> e : weightCopies.entrySet()) {
      Tensor w = e.getKey(), c = e.getValue();
      if (w == null || c == null) throw new IllegalArgumentException("Autocast: a weight copy entry is null");
      if (c.isClosed() || w.isClosed()) throw new IllegalStateException("Autocast: weight copy of " + w + " is closed");
      if (c.dtype() != DType.BF16 || !c.shape().equals(w.shape()) || !c.device().equals(w.device())
          || !w.device().equals(device)) {
        throw new IllegalArgumentException("Autocast: the copy of " + w + " must be BF16 " + w.shape() + " on " + device
            + ", got " + c);
      }
      given.put(w, c);
    }
    Autocast a = new Autocast(precision, device, given);
    ACTIVE.set(a);
    return a;
  }

  /** The bf16 region of this thread that covers device, or null (none open, an fp32 region, another device). */
  static Autocast active(Device device) {
    Autocast a = ACTIVE.get();
    return a != null && a.precision == Precision.BF16 && a.device.equals(device) ? a : null;
  }

  /** The precision in force for ops on device on this thread: BF16 inside a bf16 region for it, else FP32. */
  public static Precision current(Device device) {
    return active(device) != null ? Precision.BF16 : Precision.FP32;
  }

  public Precision precision() {
    return precision;
  }

  public Device device() {
    return device;
  }

  /**
   * bf16 copies of the fp32 tensors among weights (weight -> copy, each once however often it is listed),
   * detached from any Scope and owned by the caller, to hand to {@link #open(Precision, Device, Map)} by
   * whoever keeps them current (a training step's fused AdamW, a KV cache made once per decode). On a
   * failure the copies made so far are closed.
   */
  public static Map<Tensor, Tensor> bf16Copies(Iterable<Tensor> weights) {
    Map<Tensor, Tensor> copies = new IdentityHashMap<>();
    try {
      for (Tensor w : weights) {
        if (w.dtype() != DType.F32 || copies.containsKey(w)) continue;
        Tensor c = Tensor.empty(DType.BF16, w.device(), w.dims()).detachFromScope();
        copies.put(w, c);
        Backend.of(w.device()).cast(w, c, false);
      }
    } catch (RuntimeException e) {
      for (Tensor c : copies.values()) c.close();
      throw e;
    }
    return copies;
  }

  /**
   * w as bf16 for a product: w itself when it is already BF16 (or null), the caller's copy when one was
   * given, else a cast made on first use and kept until this region closes. Not recorded on a tape: the
   * product routes the gradient to the fp32 w itself.
   */
  Tensor lowered(Tensor w) {
    if (w == null || w.dtype() == DType.BF16) return w;
    if (closed) throw new IllegalStateException("Autocast: region is closed");
    Tensor c = given.get(w);
    if (c != null) return c;
    c = made.get(w);
    if (c == null) {
      c = Tensor.empty(DType.BF16, w.device(), w.dims()).detachFromScope();
      Backend.of(w.device()).cast(w, c, false);
      made.put(w, c);
      order.add(c);
    }
    return c;
  }

  /** Number of weight copies this region made (not the given ones). */
  public int copiesMade() {
    return order.size();
  }

  @Override
  public void close() {
    if (closed) return;
    if (Thread.currentThread() != thread) throw new IllegalStateException("an Autocast must be closed by the thread that opened it");
    if (ACTIVE.get() != this) throw new IllegalStateException("Autocast regions must close innermost first");
    closed = true;
    if (previous == null) ACTIVE.remove();
    else ACTIVE.set(previous);
    for (Tensor c : order) c.close();
    order.clear();
    made.clear();
  }
}
