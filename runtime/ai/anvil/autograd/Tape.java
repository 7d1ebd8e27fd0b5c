package ai.anvil.autograd;

import ai.anvil.backend.Backend;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The tape: while one is recording on this thread, every op of {@link Ops} whose inputs need a gradient
 * appends a node (its inputs, its output and a backward rule that calls the backend's bwd kernel).
 * {@link #backward(Tensor)} walks the nodes in reverse.
 *
 * <pre>{@code
 * try (Scope step = Scope.open(); Tape tape = Tape.record()) {
 *   Tensor loss = model.loss(batch);
 *   tape.backward(loss);          // leaf gradients accumulate into param.grad()
 * }
 * }</pre>
 *
 * Gradients of leaves (tensors with requiresGrad, i.e. parameters) accumulate (+=) into
 * {@code leaf.grad()}, made zero-filled on first use and owned by the leaf's owner from then on (a
 * Module closes them; a free-standing leaf's caller must). Gradients of intermediate tensors are
 * temporaries owned by the Scope open during backward. {@link #noGrad()} pauses recording.
 */
public final class Tape implements AutoCloseable {
  private static final ThreadLocal<Tape> ACTIVE = new ThreadLocal<>();
  private static final ThreadLocal<Integer> NO_GRAD = ThreadLocal.withInitial(() -> 0);

  private final Tape previous;
  private final List<Node> nodes = new ArrayList<>();
  private final Map<Tensor, Boolean> tracked = new IdentityHashMap<>();
  private boolean closed;

  /** One recorded op: backward receives the output's gradient and the gradient slots of the inputs. */
  @FunctionalInterface
  public interface Rule {
    void backward(Tensor gradOutput, Grads grads);
  }

  private record Node(Tensor[] inputs, Tensor output, Rule rule) {}

  /**
   * Hears, during {@link #backward(Tensor, LeafHook)}, of each leaf (a tensor that requires grad) as soon
   * as no node left to run feeds its gradient: its grad() is final for this backward. Data-parallel
   * training starts reducing those gradients while the backward goes on.
   */
  @FunctionalInterface
  public interface LeafHook {
    void done(Tensor leaf);
  }

  private Tape(Tape previous) {
    this.previous = previous;
  }

  /** Starts recording on this thread (nested tapes shadow the outer one until closed). */
  public static Tape record() {
    Tape tape = new Tape(ACTIVE.get());
    ACTIVE.set(tape);
    return tape;
  }

  /** The recording tape of this thread, or null (also null inside {@link #noGrad()}). */
  public static Tape active() {
    return NO_GRAD.get() > 0 ? null : ACTIVE.get();
  }

  /** Pauses recording on this thread until the returned handle closes. */
  public static NoGrad noGrad() {
    NO_GRAD.set(NO_GRAD.get() + 1);
    return new NoGrad();
  }

  /** Handle of {@link #noGrad()}. */
  public static final class NoGrad implements AutoCloseable {
    private boolean closed;

    private NoGrad() {}

    @Override
    public void close() {
      if (!closed) {
        closed = true;
        NO_GRAD.set(NO_GRAD.get() - 1);
      }
    }
  }

  /**
   * Lifts every {@link #noGrad()} of this thread until the handle closes, so that a {@link Checkpoint}
   * can record its segment again while a backward pass (which runs under noGrad) is under way.
   */
  static Resume resume() {
    Resume r = new Resume(NO_GRAD.get());
    NO_GRAD.set(0);
    return r;
  }

  /** Handle of {@link #resume()}: restores the noGrad depth it found. */
  static final class Resume implements AutoCloseable {
    private final int depth;

    private Resume(int depth) {
      this.depth = depth;
    }

    @Override
    public void close() {
      NO_GRAD.set(depth);
    }
  }

  /**
   * Makes t a source of this tape: ops on t record, and backward hands t's whole gradient to sink (once,
   * after every consumer of t has contributed) instead of accumulating it anywhere.
   */
  void source(Tensor t, Rule sink) {
    nodes.add(new Node(new Tensor[0], t, sink));
    tracked.put(t, Boolean.TRUE);
  }

  /** True when t is a leaf that requires grad or an output this tape recorded. */
  public boolean needsGrad(Tensor t) {
    return t != null && (t.requiresGrad() || tracked.containsKey(t));
  }

  /** Whether an op on these inputs would be recorded now: a tape records and an input needs grad. */
  static boolean records(Tensor... inputs) {
    Tape tape = active();
    if (tape == null) return false;
    for (Tensor in : inputs) if (tape.needsGrad(in)) return true;
    return false;
  }

  /** Records an op when {@link #records} says so; returns whether it was recorded. */
  static boolean maybeRecord(Tensor output, Rule rule, Tensor... inputs) {
    if (!records(inputs)) return false;
    Tape tape = active();
    tape.nodes.add(new Node(inputs, output, rule));
    tape.tracked.put(output, Boolean.TRUE);
    return true;
  }

  /** Number of recorded nodes. */
  public int size() {
    return nodes.size();
  }

  /** Backward from a one-element loss with d(loss)/d(loss) = 1. */
  public void backward(Tensor loss) {
    backward(loss, (LeafHook) null);
  }

  /** As {@link #backward(Tensor)}, telling hook (when not null) of each leaf whose gradient is final. */
  public void backward(Tensor loss, LeafHook hook) {
    if (loss.numel() != 1) throw new IllegalArgumentException("backward: loss must have one element, got " + loss.shape());
    try (NoGrad ignored = noGrad()) {
      Tensor seed = Tensor.full(1.0, loss.dtype(), loss.device(), loss.dims());
      backward(loss, seed, hook);
    }
  }

  /** Backward from output with a given output gradient (same shape). */
  public void backward(Tensor output, Tensor gradOutput) {
    backward(output, gradOutput, null);
  }

  private void backward(Tensor output, Tensor gradOutput, LeafHook hook) {
    if (closed) throw new IllegalStateException("backward on a closed tape");
    if (!tracked.containsKey(output)) {
      throw new IllegalArgumentException("backward: " + output + " was not produced by an op on this tape");
    }
    if (!gradOutput.shape().equals(output.shape())) {
      throw new IllegalArgumentException("backward: gradient " + gradOutput.shape() + " for output " + output.shape());
    }
    try (NoGrad ignored = noGrad()) {
      Grads grads = new Grads(this);
      grads.seed(output, gradOutput);
      Map<Integer, List<Tensor>> leavesDone = hook == null ? Map.of() : leavesByFirstUse();
      for (int i = nodes.size() - 1; i >= 0; i--) {
        Node node = nodes.get(i);
        Tensor g = grads.take(node.output());
        if (g != null) node.rule().backward(g, grads);
        for (Tensor leaf : leavesDone.getOrDefault(i, List.of())) hook.done(leaf);
      }
      grads.release();
    }
  }

  /**
   * Leaves by the index of the first node that reads them (backward has fed them fully once past it), in
   * input order within a node: the same graph gives the same order in every process, which data-parallel
   * ranks rely on to form the same buckets.
   */
  private Map<Integer, List<Tensor>> leavesByFirstUse() {
    Map<Tensor, Boolean> seen = new IdentityHashMap<>();
    Map<Integer, List<Tensor>> byNode = new java.util.HashMap<>();
    for (int i = 0; i < nodes.size(); i++) {
      for (Tensor in : nodes.get(i).inputs()) {
        if (in != null && in.requiresGrad() && seen.put(in, Boolean.TRUE) == null) {
          byNode.computeIfAbsent(i, k -> new ArrayList<>()).add(in);
        }
      }
    }
    return byNode;
  }

  /** Gradient slots handed to backward rules. */
  public static final class Grads {
    private final Tape tape;
    private final Map<Tensor, Tensor> grads = new IdentityHashMap<>();
    private final List<Tensor> temporaries = new ArrayList<>();
    // Gradient buffers this backward made (slot) or handed on (pass): only these may change hands, never
    // a tensor the caller gave (the seed) or a view of one.
    private final Map<Tensor, Boolean> owned = new IdentityHashMap<>();

    private Grads(Tape tape) {
      this.tape = tape;
    }

    void seed(Tensor output, Tensor grad) {
      grads.put(output, grad);
    }

    Tensor take(Tensor output) {
      return grads.remove(output);
    }

    void release() {
      grads.clear();
      owned.clear();
    }

    /** Whether x needs a gradient at all (rules skip the work for inputs that do not). */
    public boolean wants(Tensor x) {
      return tape.needsGrad(x);
    }

    /**
     * The buffer to receive x's gradient, and whether the kernel must add into it. Leaves always
     * accumulate into leaf.grad(); an intermediate is written on its first contribution and added to
     * after that. Returns null when x needs no gradient.
     */
    public Slot slot(Tensor x) {
      if (!wants(x)) return null;
      if (x.requiresGrad()) {
        Tensor g = x.grad();
        if (g == null) {
          g = Tensor.zeros(DType.F32, x.device(), x.dims()).detachFromScope();
          x.setGrad(g);
        }
        return new Slot(g, true);
      }
      Tensor g = grads.get(x);
      if (g != null) return new Slot(g, true);
      g = Tensor.empty(gradType(x), x.device(), x.dims());
      grads.put(x, g);
      owned.put(g, Boolean.TRUE);
      return new Slot(g, false);
    }

    /**
     * Adds g, the gradient a rule received for its output, into x's gradient, for a rule whose input
     * gradient equals its output gradient (an add, an identity): when this is x's first contribution, x
     * is not a leaf and g is a buffer this backward made with x's shape and gradient dtype, g itself
     * becomes x's gradient (later contributions add into it) and nothing is copied; otherwise g is
     * copied or added into x's slot. The rule must not read g after passing it, so a rule that also
     * writes other inputs' gradients from g does those first.
     */
    public void pass(Tensor x, Tensor g) {
      if (!wants(x)) return;
      if (!x.requiresGrad() && !grads.containsKey(x) && owned.containsKey(g) && g.dtype() == gradType(x)
          && g.shape().equals(x.shape())) {
        grads.put(x, g);
        return;
      }
      Slot s = slot(x);
      Backend backend = Backend.of(x.device());
      if (g.dtype() != s.buffer().dtype()) backend.cast(g, s.buffer(), s.accumulate());
      else if (s.accumulate()) backend.axpy(1.0, g, s.buffer());
      else backend.copy(g, s.buffer());
    }

    /**
     * For kernels that can only write (=): runs kernel into x's buffer directly when this is x's first
     * contribution, else into a temporary that is then added.
     */
    public void write(Tensor x, java.util.function.Consumer<Tensor> kernel) {
      Slot s = slot(x);
      if (s == null) return;
      if (!s.accumulate()) {
        kernel.accept(s.buffer());
        return;
      }
      Tensor tmp = Tensor.empty(s.buffer().dtype(), x.device(), x.dims());
      kernel.accept(tmp);
      Backend.of(x.device()).axpy(1.0, tmp, s.buffer());
      tmp.close();
    }

    private static DType gradType(Tensor x) {
      return x.dtype() == DType.I32 ? DType.F32 : x.dtype();
    }
  }

  /** A gradient buffer and whether to accumulate into it. */
  public record Slot(Tensor buffer, boolean accumulate) {}

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    nodes.clear();
    tracked.clear();
    if (ACTIVE.get() == this) {
      if (previous == null) ACTIVE.remove();
      else ACTIVE.set(previous);
    }
  }
}
