package ai.anvil.peft.lora;

import ai.anvil.autograd.Dropout;
import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.Backend;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.nn.LinearDelta;
import ai.anvil.nn.Module;
import ai.anvil.tensor.Tensor;
import java.util.concurrent.atomic.AtomicLong;

/**
 * LoRA on one Linear layer (Hu et al. 2021): y = W x + b + s * B A dropout(x), with A (r, in) and B
 * (out, r) trainable, W frozen, s = alpha / r (or alpha / sqrt(r), rsLoRA). Installed as the layer's
 * {@link LinearDelta}, so the model's code is unchanged. Parameters {@code lora_A.weight} and
 * {@code lora_B.weight} as in PEFT; A starts as PEFT's kaiming-uniform (bound 1/sqrt(in)) and B at zero,
 * so a new adapter changes nothing.
 *
 * <p>{@link #merge()} folds s B A into W (then the term is off), {@link #unmerge()} takes it out again;
 * both in fp32 with one GEMM, so merged and unmerged forwards agree to fp32 rounding.
 */
public final class LoraLayer extends Module implements LinearDelta {
  private final Linear target;
  private final Linear a;
  private final Linear b;
  private final double scaling;
  private final double dropout;
  private final long seed;
  private final AtomicLong draws = new AtomicLong();
  private volatile boolean merged;

  /** A new term on target (B = 0); the caller installs it with {@code target.setDelta(layer)} (LoraModel does for GPT). */
  public LoraLayer(Linear target, int r, double scaling, double dropout, Init init, long seed) {
    this.target = target;
    this.scaling = scaling;
    this.dropout = dropout;
    this.seed = seed;
    long in = target.in(), out = target.out();
    this.a = child("lora_A", new Linear(in, r, false, 0.0, init, target.weight().device()));
    this.b = child("lora_B", new Linear(r, out, false, 0.0, init, target.weight().device()));
    try (Tensor bound = init.uniform(target.weight().device(), 1.0 / Math.sqrt(in), r, in)) {
      Backend.of(bound.device()).copy(bound, a.weight());
    }
    Backend.of(b.weight().device()).fill(b.weight(), 0.0);
  }

  /** A (r, in). */
  public Tensor loraA() {
    return a.weight();
  }

  /** B (out, r). */
  public Tensor loraB() {
    return b.weight();
  }

  public double scaling() {
    return scaling;
  }

  public Linear target() {
    return target;
  }

  public boolean merged() {
    return merged;
  }

  /** s * B[from:to] A dropout(x): x (..., in) -> (..., to - from); null while merged. */
  @Override
  public Tensor term(Tensor x, long from, long to) {
    if (merged) return null;
    Tensor in = x;
    if (dropout > 0 && isTraining() && Tape.active() != null) {
      in = Dropout.apply(x, dropout, mix(seed, draws.getAndIncrement()));
    }
    Tensor u = Ops.scale(Ops.linear(in, a.weight(), null), scaling);                     // (..., r)
    if (from == 0 && to == target.out()) return Ops.linear(u, b.weight(), null);
    // A row block of B is a view with no gradient of its own: cached decoding only.
    if (Tape.active() != null) throw new IllegalStateException("LoRA: output blocks are for inference, not training");
    try (Tensor rows = b.weight().slice(from, to)) {
      rows.detachFromScope();
      return Ops.linear(u, rows, null);
    }
  }

  /** W += s B A: the layer computes the adapted function alone. No-op when merged. */
  public synchronized void merge() {
    if (merged) return;
    fold(scaling);
    merged = true;
  }

  /** W -= s B A: back to the base weight (to fp32 rounding). No-op when not merged. */
  public synchronized void unmerge() {
    if (!merged) return;
    fold(-scaling);
    merged = false;
  }

  private void fold(double factor) {
    // W (out, in) += factor * B (out, r) @ A (r, in)
    Backend.of(target.weight().device()).matmul(b.weight(), a.weight(), null, target.weight(), false, false, factor, true);
  }

  private static long mix(long seed, long n) {
    long z = seed + (n + 1) * 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
