package ai.anvil.autograd;

import ai.anvil.autograd.Tape.Slot;
import ai.anvil.backend.Backend;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.function.UnaryOperator;

/**
 * Activation recompute (gradient checkpointing) of one segment y = f(x): forward runs f under a throwaway
 * tape and frees everything f made but y; backward runs f again from x under a nested tape, backpropagates the
 * incoming gradient through that recording, and hands x its gradient. Parameters used by f accumulate their
 * gradients (+=) exactly as without recompute. Memory per segment drops from every intermediate of f to
 * its input and output, for one more forward of f during backward (a block: about a third more compute).
 *
 * <p>f must compute the same y from the same x twice: deterministic kernels, and the same dropout masks
 * (a caller with dropout replays its random state; see {@code Gpt}). f must return a tensor it made (not
 * x or a view of a tensor made outside it).
 *
 * <pre>{@code
 * x = Checkpoint.apply(x, in -> block.forward(in), block.parameterTensors());
 * }</pre>
 */
public final class Checkpoint {
  private Checkpoint() {}

  /**
   * y = f(x), recorded as one node whenever a tape records (without one, a plain call).
   *
   * @param uses the leaves f is known to read (its parameters), listed as the node's inputs
   */
  public static Tensor apply(Tensor x, UnaryOperator<Tensor> f, Tensor... uses) {
    Tape tape = Tape.active();
    if (tape == null) return f.apply(x);
    Tensor[] inputs = new Tensor[uses.length + 1];
    inputs[0] = x;
    System.arraycopy(uses, 0, inputs, 1, uses.length);
    Tensor y;
    // A throwaway tape rather than noGrad: f sees a recording tape on both runs (modules that act only
    // while training, such as dropout, behave alike); its nodes are dropped when it closes.
    try (Scope segment = Scope.open(); Tape scratch = Tape.record()) {
      y = segment.keep(f.apply(x));
    }
    Tape.Rule rule = (dy, grads) -> backward(x, f, dy, grads);
    // Recorded even when neither x nor uses needs a gradient: f may read leaves no one can list (a LoRA
    // delta installed into a frozen Linear from outside the model), and only the recompute finds them.
    if (!Tape.maybeRecord(y, rule, inputs)) tape.source(y, rule);
    return y;
  }

  private static void backward(Tensor x, UnaryOperator<Tensor> f, Tensor dy, Tape.Grads grads) {
    // The slot first, in the scope of the outer backward: it must outlive the recompute scope below.
    Slot dx = grads.slot(x);
    try (Tape.Resume ignored = Tape.resume(); Scope recompute = Scope.open(); Tape inner = Tape.record()) {
      Backend be = Backend.of(x.device());
      boolean[] reached = {false};
      Tensor xi = x.reshape(x.dims());
      inner.source(xi, (g, unused) -> {
        reached[0] = true;
        if (dx == null) return;
        if (dx.accumulate()) be.axpy(1.0, g, dx.buffer());
        else be.copy(g, dx.buffer());
      });
      Tensor yi = f.apply(xi);
      if (!yi.shape().equals(dy.shape())) {
        throw new IllegalStateException("Checkpoint: the recomputed output " + yi.shape() + " differs from " + dy.shape());
      }
      if (inner.needsGrad(yi)) inner.backward(yi, dy);
      // y did not depend on x: a fresh (written, not accumulated) slot must still hold a gradient
      if (!reached[0] && dx != null && !dx.accumulate()) be.fill(dx.buffer(), 0.0);
    }
  }
}
