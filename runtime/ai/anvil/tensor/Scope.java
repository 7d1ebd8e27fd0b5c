package ai.anvil.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Owner of the tensors made while it is the innermost open scope of this thread. Scopes nest and are
 * meant for try-with-resources:
 *
 * <pre>{@code
 * try (Scope step = Scope.open()) {
 *   Tensor loss = model.loss(batch);      // activations belong to `step`
 *   result = step.keep(loss);             // ...except this one, handed to the outer owner
 * }                                       // everything else is freed here
 * }</pre>
 *
 * A tensor made with no scope open belongs to its caller, who must close it (or hand it to a Module).
 * Scopes are per thread and must be closed in the reverse order they were opened.
 */
public final class Scope implements AutoCloseable {
  private static final ThreadLocal<Deque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

  private final List<Tensor> owned = new ArrayList<>();
  private final Thread thread = Thread.currentThread();
  private boolean closed;

  private Scope() {}

  /** Opens a scope that owns what is made on this thread until it closes. */
  public static Scope open() {
    Scope scope = new Scope();
    STACK.get().push(scope);
    return scope;
  }

  /** The innermost open scope of this thread, or null. */
  public static Scope current() {
    return STACK.get().peek();
  }

  void adopt(Tensor tensor) {
    if (closed) throw new IllegalStateException("scope is closed");
    owned.add(tensor);
  }

  void disown(Tensor tensor) {
    for (int i = owned.size() - 1; i >= 0; i--) {
      if (owned.get(i) == tensor) {
        owned.remove(i);
        return;
      }
    }
  }

  /**
   * Hands a tensor this scope owns to the next outer scope (or, when this is the outermost, to the
   * caller, who must close it). Returns the tensor.
   */
  public Tensor keep(Tensor tensor) {
    if (tensor.owner() != this) {
      throw new IllegalArgumentException("keep: " + tensor + " is not owned by this scope");
    }
    disown(tensor);
    Scope outer = null;
    boolean found = false;
    for (Scope s : STACK.get()) {
      if (found) {
        outer = s;
        break;
      }
      if (s == this) found = true;
    }
    tensor.setOwner(outer);
    if (outer != null) outer.owned.add(tensor);
    return tensor;
  }

  /** Number of tensors this scope owns now. */
  public int size() {
    return owned.size();
  }

  @Override
  public void close() {
    if (closed) return;
    if (Thread.currentThread() != thread) {
      throw new IllegalStateException("a Scope must be closed by the thread that opened it");
    }
    Deque<Scope> stack = STACK.get();
    if (stack.peek() != this) {
      throw new IllegalStateException("scopes must close innermost first");
    }
    stack.pop();
    closed = true;
    for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).closeFromOwner();
    owned.clear();
  }
}
