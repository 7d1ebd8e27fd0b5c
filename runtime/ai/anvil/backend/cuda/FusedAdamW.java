package ai.anvil.backend.cuda;

import ai.anvil.bind.AnvilCuda;
import ai.anvil.bind.Params;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.bytedeco.javacpp.LongPointer;

/**
 * The fused AdamW of the GPU training step (kernels/adamw.cu, {@code anvil_cuda_adamw_multi_fwd}): the
 * table of every tensor (fp32 param, grad, m, v; an optional bf16 copy of the param) is copied to the
 * device once, at construction, and {@link #step()} reads nothing from the host: the global gradient norm,
 * the clip scale, lr and the bias-correction step all live in device memory. So a step can be captured in
 * a {@link CudaGraph}: call {@link #schedule} (lr and step number, queued on the stream) before each replay.
 *
 * <p>Per step: with clip &gt; 0 a norm pass (4 bytes per element) and the update (30 bytes per element with
 * a copy, 28 without); 3 launches in all whatever the tensor count. Frozen entries are skipped. With clip
 * &gt; 0 a step whose gradient norm is not finite (NaN or infinite) changes nothing and is counted on the
 * device ({@link #skipped()}); pass a clip that never bites (e.g. {@link Double#MAX_VALUE}) to keep that
 * guard without clipping. The norm and the count cross to the host only when asked (they synchronize).
 *
 * <p>The tensors must outlive this object and keep their addresses; the grads must exist when it is made
 * (after a first backward). Not thread-safe; one per optimizer.
 */
public final class FusedAdamW implements AutoCloseable {
  /** One tensor: copy (BF16, same size) may be null; frozen entries are neither read nor written. */
  public record Entry(String name, Tensor param, Tensor grad, Tensor m, Tensor v, Tensor copy, boolean decay,
                      boolean frozen) {}

  private static final int STATE_BYTES = 128;

  private final CudaBackend backend;
  private final long table;
  private final long state;
  private final long workspace;
  private final long count;
  private final long blocks;
  private final double beta1, beta2, eps, weightDecay, clip, gradScale;
  private boolean scheduled;
  private boolean closed;

  /**
   * @param clip global-norm clipping threshold (0: no norm pass, no clipping)
   * @param gradScale multiplies every gradient before the norm and the update (1 when the loss is already
   *     normalized over the accumulation window)
   */
  public FusedAdamW(CudaBackend backend, List<Entry> entries, double beta1, double beta2, double eps,
                    double weightDecay, double clip, double gradScale) {
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || !(weightDecay >= 0)) {
      throw new IllegalArgumentException("FusedAdamW: betas in [0, 1), eps > 0, weight decay >= 0 required, got "
          + beta1 + ", " + beta2 + ", " + eps + ", " + weightDecay);
    }
    if (!(clip >= 0) || !Double.isFinite(clip) || !Double.isFinite(gradScale)) {
      throw new IllegalArgumentException("FusedAdamW: clip must be finite and >= 0 and gradScale finite, got " + clip
          + ", " + gradScale);
    }
    this.backend = backend;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.clip = clip;
    this.gradScale = gradScale;
    this.count = entries.size();
    for (Entry e : entries) validate(e);
    long[] blockCount = new long[1];
    long tableAddress = 0, stateAddress = 0, workspaceAddress = 0;
    try (LongPointer host = new LongPointer(Math.max(1, 8 * count))) {
      for (int i = 0; i < count; i++) {
        Entry e = entries.get(i);
        long base = 8L * i;
        host.put(base, e.frozen() ? 0 : e.param().address());
        host.put(base + 1, e.frozen() ? 0 : e.grad().address());
        host.put(base + 2, e.frozen() ? 0 : e.m().address());
        host.put(base + 3, e.frozen() ? 0 : e.v().address());
        host.put(base + 4, e.frozen() || e.copy() == null ? 0 : e.copy().address());
        host.put(base + 5, e.param().numel());
        host.put(base + 6, (e.decay() ? 1 : 0) | (e.frozen() ? 2 : 0));
        host.put(base + 7, 0);
      }
      tableAddress = backend.allocate(Math.max(64, 64 * count));
      stateAddress = backend.allocate(STATE_BYTES);
      // Stream-ordered allocations are usable elsewhere only after the stream reaches them, and the
      // table upload is a plain (legacy-stream) copy: wait for the stream first.
      backend.synchronize();
      CudaBackend.check("FusedAdamW table",
          AnvilCuda.anvil_cuda_adamw_table(host.address(), count, tableAddress, blockCount));
      if (clip > 0 && blockCount[0] > 0) workspaceAddress = backend.allocate(8 * blockCount[0]);
      // lr 0 and step 0 (a step before schedule() changes nothing and is reported by the next sync)
      ByteBuffer zeros = ByteBuffer.allocateDirect(STATE_BYTES).order(ByteOrder.nativeOrder());
      CudaBackend.check("FusedAdamW state", AnvilCuda.anvil_cuda_memcpy(stateAddress,
          new org.bytedeco.javacpp.Pointer(zeros).address(), STATE_BYTES, 0, backend.stream()));
    } catch (RuntimeException e) {
      if (tableAddress != 0) backend.free(tableAddress);
      if (stateAddress != 0) backend.free(stateAddress);
      if (workspaceAddress != 0) backend.free(workspaceAddress);
      throw e;
    }
    this.table = tableAddress;
    this.state = stateAddress;
    this.workspace = workspaceAddress;
    this.blocks = blockCount[0];
  }

  private void validate(Entry e) {
    String what = "FusedAdamW: " + e.name();
    if (e.param() == null) throw new IllegalArgumentException(what + ": no param");
    check(what, "param", e.param(), DType.F32, e.param().numel());
    if (e.frozen()) return;
    if (e.grad() == null) throw new IllegalArgumentException(what + ": no gradient yet (make the optimizer after a backward)");
    check(what, "grad", e.grad(), DType.F32, e.param().numel());
    check(what, "m", e.m(), DType.F32, e.param().numel());
    check(what, "v", e.v(), DType.F32, e.param().numel());
    if (e.copy() != null) check(what, "copy", e.copy(), DType.BF16, e.param().numel());
  }

  private void check(String what, String field, Tensor t, DType dtype, long numel) {
    if (t == null) throw new IllegalArgumentException(what + ": " + field + " is missing");
    if (t.isClosed()) throw new IllegalStateException(what + ": " + field + " is closed");
    if (!t.device().equals(backend.device())) {
      throw new IllegalArgumentException(what + ": " + field + " is on " + t.device() + ", not " + backend.device());
    }
    if (t.dtype() != dtype) throw new IllegalArgumentException(what + ": " + field + " is " + t.dtype() + ", not " + dtype);
    if (t.numel() != numel) {
      throw new IllegalArgumentException(what + ": " + field + " " + t.shape() + " has " + t.numel() + " elements, not " + numel);
    }
  }

  /** Thread blocks of each launch (chunks of 4096 elements of the trainable entries). */
  public long blocks() {
    return blocks;
  }

  /** lr and the 1-based step of the next update, queued on the stream (outside a graph capture). */
  public void schedule(double lr, long step) {
    checkOpen();
    if (!(lr >= 0) || !Double.isFinite(lr)) throw new IllegalArgumentException("FusedAdamW: lr must be finite and >= 0, got " + lr);
    if (step < 1) throw new IllegalArgumentException("FusedAdamW: step is 1-based, got " + step);
    backend.bind();
    CudaBackend.check("FusedAdamW schedule", AnvilCuda.anvil_cuda_adamw_schedule(state, lr, step, backend.stream()));
    scheduled = true;
  }

  /** One update of every entry with the last scheduled lr and step; queued, capturable. */
  public void step() {
    checkOpen();
    if (!scheduled) throw new IllegalStateException("FusedAdamW: schedule(lr, step) before the first step");
    long p = Params.begin().put(table).put(count).put(blocks).put(state).put(workspace)
        .putDouble(beta1).putDouble(beta2).putDouble(eps).putDouble(weightDecay).putDouble(clip).putDouble(gradScale)
        .address(Params.ADAMW_MULTI);
    backend.bind();
    CudaBackend.check("FusedAdamW step", AnvilCuda.anvil_cuda_adamw_multi_fwd(p, backend.stream()));
  }

  /** The global L2 norm of gradScale * grads at the last step (-1 when clip is 0); synchronizes. */
  public double norm() {
    return stateDouble(16);
  }

  /** The clip scale the last step applied (1 when it did not clip); synchronizes. */
  public double clipScale() {
    return stateDouble(24);
  }

  /** Steps skipped so far because the gradient norm was not finite (always 0 when clip is 0); synchronizes. */
  public long skipped() {
    return (long) stateDouble(72);  // adamw.cu: MultiState.nonfinite
  }

  private double stateDouble(long offset) {
    checkOpen();
    ByteBuffer out = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
    backend.bind();
    CudaBackend.check("FusedAdamW read", AnvilCuda.anvil_cuda_memcpy(new org.bytedeco.javacpp.Pointer(out).address(),
        state + offset, 8, 1, backend.stream()));
    return out.getDouble(0);
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("FusedAdamW is closed");
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    backend.free(table);
    backend.free(state);
    if (workspace != 0) backend.free(workspace);
  }
}
