package ai.anvil.backend.cuda;

import ai.anvil.autograd.Autocast;
import ai.anvil.autograd.Precision;
import ai.anvil.autograd.Tape;
import ai.anvil.bind.AnvilCuda;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.AdamW;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * One fixed-shape GPT training step on the GPU that never reads the host, so it can be captured in a
 * {@link CudaGraph}: for each of {@code micro} micro-batches, forward to the logits (recorded), the loss
 * and its gradient by the cross-entropy kernels with the loss's gradient read from device memory
 * (Ops.crossEntropy's backward reads it on the host), backward from the logits (parameter gradients
 * accumulate), the loss added into a device accumulator; then the fused AdamW and zeroed gradients. The
 * loss is normalized by the scored tokens of the whole window (DESIGN.md), so k micro-batches of B rows
 * make the update of one batch of kB rows. The batch lives in device tensors made once (a real loop copies the next batch into them
 * between replays). Shared by CudaTrainStepTest and Gpt2TrainBench.
 *
 * <p>Use: {@link #warmUp()} once (makes the gradients, then the optimizer over them, and applies update 1),
 * then per update either {@link #runEager()} or a replay of {@link #capture()}, each after
 * {@link #schedule()}.
 *
 * <p>Precision: in {@link Precision#BF16} each micro-batch runs inside an {@link Autocast} given a bf16
 * copy of every parameter (made once here, then rewritten by the fused AdamW in its update pass), so a
 * step casts no weight and the linears and attention run on the tensor-core kernels; the logits reach
 * the cross-entropy in bf16. FP32 is the test mode.
 */
final class GptGraphStep implements AutoCloseable {
  private final CudaBackend gpu;
  private final Gpt model;
  private final AdamW moments;
  private final Tensor ids, targets, one, lossSum;
  private final double normalizer, lr, clip;
  private final int micro;
  private final Precision precision;
  private final Map<Tensor, Tensor> copies = new IdentityHashMap<>();
  private FusedAdamW optimizer;
  private long updates;
  private long[] events;  // when timing phases: start, forward done, backward done, update done

  /** ids, targets: micro x batch x t tokens, micro-batch after micro-batch; fp32. */
  GptGraphStep(CudaBackend gpu, Gpt model, int[] ids, int[] targets, int micro, int batch, int t, double lr,
               double clip) {
    this(gpu, model, ids, targets, micro, batch, t, lr, clip, Precision.FP32);
  }

  GptGraphStep(CudaBackend gpu, Gpt model, int[] ids, int[] targets, int micro, int batch, int t, double lr,
               double clip, Precision precision) {
    if (micro < 1 || ids.length != (long) micro * batch * t || targets.length != ids.length) {
      throw new IllegalArgumentException("GptGraphStep: " + ids.length + " ids and " + targets.length + " targets for "
          + micro + " x " + batch + " x " + t);
    }
    this.micro = micro;
    this.precision = precision.checkDevice(gpu.device());
    this.gpu = gpu;
    this.model = model;
    this.lr = lr;
    this.clip = clip;
    this.moments = new AdamW(model.namedParameters(), 0.9, 0.95, 1e-8, 0.1);
    this.ids = Tensor.ofInts(ids, gpu.device(), micro, batch, t).detachFromScope();
    this.targets = Tensor.ofInts(targets, gpu.device(), micro, batch, t).detachFromScope();
    this.one = Tensor.full(1.0, DType.F32, gpu.device(), 1).detachFromScope();
    this.lossSum = Tensor.zeros(DType.F32, gpu.device(), 1).detachFromScope();
    long scored = 0;
    for (int v : targets) if (v != Gpt.IGNORE_INDEX) scored++;
    this.normalizer = scored;
    if (precision == Precision.BF16) {
      for (Parameter p : model.parameters()) {
        Tensor copy = Tensor.empty(DType.BF16, gpu.device(), p.value().dims()).detachFromScope();
        gpu.cast(p.value(), copy, false);
        copies.put(p.value(), copy);
      }
    }
  }

  Precision precision() {
    return precision;
  }

  private void forwardBackward() {
    long batch = ids.dim(1), t = ids.dim(2);
    for (int k = 0; k < micro; k++) {
      try (Scope s = Scope.open(); Autocast ac = Autocast.open(precision, gpu.device(), copies);
           Tape tape = Tape.record()) {
        Tensor x = ids.slice(k, k + 1).reshape(batch, t), y = targets.slice(k, k + 1).reshape(batch, t);
        Tensor logits = model.logits(x);
        Tensor loss = Tensor.empty(DType.F32, gpu.device(), 1);
        int vocab = model.vocabSize();
        gpu.crossEntropy(logits, y, vocab, Gpt.IGNORE_INDEX, normalizer, null, loss);
        if (k == 0) mark(1);
        Tensor dlogits = Tensor.empty(logits.dtype(), gpu.device(), logits.dims());
        gpu.crossEntropyBackwardDeviceGrad(logits, y, vocab, Gpt.IGNORE_INDEX, normalizer, one, dlogits);
        tape.backward(logits, dlogits);
        gpu.axpy(1.0, loss, lossSum);
      }
    }
    mark(2);
  }

  /**
   * Turns per-phase timing of eager steps on: CUDA events after the first micro-batch's forward (logits
   * and loss), after the last backward, and after the update. Not inside a capture.
   */
  void timePhases() {
    if (events != null) return;
    events = new long[4];
    long[] e = new long[1];
    for (int i = 0; i < 4; i++) {
      CudaBackend.check("eventCreate", AnvilCuda.anvil_cuda_event_create(e));
      events[i] = e[0];
    }
  }

  private void mark(int i) {
    if (events != null) CudaBackend.check("eventRecord", AnvilCuda.anvil_cuda_event_record(events[i], gpu.stream()));
  }

  /** Milliseconds of {forward (first micro-batch), rest to the end of backward, update} of the last timed step. */
  double[] phaseMillis() {
    if (events == null) throw new IllegalStateException("timePhases() first");
    double[] ms = new double[3];
    double[] one = new double[1];
    for (int i = 0; i < 3; i++) {
      CudaBackend.check("eventElapsed", AnvilCuda.anvil_cuda_event_elapsed(events[i], events[i + 1], one));
      ms[i] = one[0];
    }
    return ms;
  }

  /** The first update, run eagerly: afterwards every buffer a step touches exists. */
  void warmUp() {
    if (optimizer != null) throw new IllegalStateException("warmUp once");
    forwardBackward();
    List<FusedAdamW.Entry> entries = new ArrayList<>();
    for (Map.Entry<String, Parameter> e : moments.parameters().entrySet()) {
      Parameter p = e.getValue();
      if (p.grad() == null) continue;
      entries.add(new FusedAdamW.Entry(e.getKey(), p.value(), p.grad(), moments.firstMoment(e.getKey()),
          moments.secondMoment(e.getKey()), copies.get(p.value()), p.decay(), false));
    }
    optimizer = new FusedAdamW(gpu, entries, 0.9, 0.95, 1e-8, 0.1, clip, 1.0);
    schedule();
    update();
  }

  private void update() {
    optimizer.step();
    model.zeroGrad();
    mark(3);
  }

  /** lr and the number of the next update, queued (before runEager or a replay). */
  void schedule() {
    optimizer.schedule(lr, ++updates);
  }

  void runEager() {
    mark(0);
    forwardBackward();
    update();
  }

  /** The step (forward, backward, update) as a graph; nothing runs until it is launched. */
  CudaGraph capture() {
    if (optimizer == null) throw new IllegalStateException("warmUp before capture");
    long[] timing = events;
    events = null;  // no event records inside the graph
    try {
      return CudaGraph.capture(gpu, this::runEager);
    } finally {
      events = timing;
    }
  }

  /** Sum of the (window-normalized) losses of every step run so far (synchronizes). */
  double lossSum() {
    return lossSum.toFloatArray()[0];
  }

  double gradNorm() {
    return optimizer.norm();
  }

  long updates() {
    return updates;
  }

  @Override
  public void close() {
    if (optimizer != null) optimizer.close();
    moments.close();
    for (Tensor t : new Tensor[] {ids, targets, one, lossSum}) t.close();
    for (Tensor c : copies.values()) c.close();
    copies.clear();
    if (events != null) {
      for (long e : events) AnvilCuda.anvil_cuda_event_destroy(e);
      events = null;
    }
  }
}
