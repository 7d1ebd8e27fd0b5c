package ai.anvil.train;

import ai.anvil.autograd.Autocast;
import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Precision;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.Backend;
import ai.anvil.backend.cuda.CudaBackend;
import ai.anvil.backend.cuda.CudaGraph;
import ai.anvil.backend.cuda.CudaMarks;
import ai.anvil.backend.cuda.FusedAdamW;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The training step on a CUDA device (issue 7), as the {@link Trainer} runs it there: for each micro-batch
 * of a window, forward and backward with the loss and its gradient kept on the device and the loss added
 * into a device accumulator; then the fused AdamW ({@link FusedAdamW}: one tensor table, the global-norm
 * clip and a guard against non-finite gradients computed on the device, the bf16 weight copies written in
 * the same pass, frozen parameters skipped) with lr and the step number from the device schedule
 * ({@code anvil_cuda_adamw_schedule}); then zeroed gradients. Nothing in a step reads the host: the loss
 * crosses only when {@link #takeLoss()} is called. After the first update (the warm-up, which makes the
 * gradients and the optimizer's table), a window of the shape held in the step's fixed input buffers can
 * be captured in a {@link CudaGraph} once and replayed as one launch per update.
 *
 * <p>The normalizer (the window's scored-token count, DESIGN.md "Numbers"): for an objective that reads
 * only inputs and targets ({@link #readsOnlyInputsAndTargets}) each micro-batch's loss is
 * {@code loss(inputs, targets, 1)} (its token sum) times 1/normalizer read from device memory, so one
 * captured step serves windows with any number of ignored targets. Other objectives (key masks, decoder
 * inputs) are given the normalizer as a number and always run uncaptured.
 *
 * <p>Memory: the step keeps the fixed input buffers (micro x rows x cols ids and targets), two scalars and,
 * in bf16, a bf16 copy of every parameter (2 bytes each); a captured graph keeps its own activation
 * memory, reserved once. The moments belong to the caller's {@link AdamW}, whose step count this step
 * advances, so checkpoints see the updates.
 *
 * <p>Use: {@link #load} a window, then {@link #run}; {@link #takeLoss()} and {@link #takeSkipped()} when
 * reporting. Not thread-safe.
 */
public final class CudaTrainStep implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(CudaTrainStep.class);

  private final CudaBackend gpu;
  private final Device device;
  private final Module model;
  private final Objective objective;
  private final AdamW moments;
  private final double clip;
  private final Precision precision;
  private final int micro;
  private final boolean tensorForm;
  private final Map<Tensor, Tensor> copies = new IdentityHashMap<>();
  private final Tensor lossSum, inverse;
  private Tensor ids, targets;  // (micro, rows, cols) I32: the window a captured step reads
  private List<Batch> window;
  private double normalizer;
  private boolean inFixedBuffers;
  private FusedAdamW optimizer;
  private CudaGraph graph;
  private long skippedSeen;
  private CudaMarks events;  // when timing phases: start, first forward done, backward done, update done
  private boolean closed;

  /**
   * @param moments the optimizer state (its hyper-parameters, moments and step count are used)
   * @param clip global-norm clip; 0 clips nothing (the norm is still computed, for reports and the guard)
   * @param micro micro-batches per window (gradient accumulation)
   */
  public CudaTrainStep(Module model, Objective objective, AdamW moments, double clip, Precision precision, int micro) {
    if (micro < 1) throw new IllegalArgumentException("CudaTrainStep: micro-batches must be >= 1, got " + micro);
    if (!(clip >= 0) || !Double.isFinite(clip)) throw new IllegalArgumentException("CudaTrainStep: clip must be finite and >= 0, got " + clip);
    if (model.parameters().isEmpty()) throw new IllegalArgumentException("CudaTrainStep: the model has no parameters");
    Device on = model.parameters().get(0).value().device();
    if (!(Backend.of(on) instanceof CudaBackend cuda)) {
      throw new IllegalArgumentException("CudaTrainStep: the model is on " + on + ", not a CUDA device");
    }
    this.gpu = cuda;
    this.device = on;
    this.model = model;
    this.objective = objective;
    this.moments = moments;
    this.clip = clip;
    this.precision = precision.checkDevice(on);
    this.micro = micro;
    this.tensorForm = readsOnlyInputsAndTargets(objective);
    this.lossSum = Tensor.zeros(DType.F32, on, 1).detachFromScope();
    this.inverse = Tensor.full(1.0, DType.F32, on, 1).detachFromScope();
    if (precision == Precision.BF16) {
      copies.putAll(Autocast.bf16Copies(model.parameters().stream().map(Parameter::value).toList()));
    }
  }

  /**
   * Whether the objective's loss of a batch is its loss of the batch's inputs and targets (it does not
   * override {@link Objective#loss(Batch, Device, double)}): then the step may call the tensor form with
   * its own device buffers and a device normalizer, and capture it.
   */
  public static boolean readsOnlyInputsAndTargets(Objective objective) {
    try {
      return objective.getClass().getMethod("loss", Batch.class, Device.class, double.class).getDeclaringClass()
          == Objective.class;
    } catch (NoSuchMethodException e) {
      return false;
    }
  }

  /**
   * The next window: micro batches and its normalizer (> 0). A window of plain batches (inputs and
   * targets only) of one shape is copied into the fixed buffers (made at the first such window) when it
   * has their shape; 1/normalizer goes to device memory. Host-to-device copies only, queued on the stream.
   */
  public void load(List<Batch> window, double normalizer) {
    checkOpen();
    if (window.size() != micro) {
      throw new IllegalArgumentException("CudaTrainStep: a window of " + window.size() + " batches, expected " + micro);
    }
    if (!(normalizer > 0) || !Double.isFinite(normalizer)) {
      throw new IllegalArgumentException("CudaTrainStep: the normalizer must be > 0, got " + normalizer);
    }
    this.window = List.copyOf(window);
    this.normalizer = normalizer;
    this.inFixedBuffers = false;
    if (!tensorForm) return;
    inverse.copyFrom(new float[] {(float) (1.0 / normalizer)});
    Batch first = window.get(0);
    for (Batch b : window) {
      if (!plain(b) || b.rows() != first.rows() || b.cols() != first.cols()) return;
    }
    if (ids == null) {
      ids = Tensor.empty(DType.I32, device, micro, first.rows(), first.cols()).detachFromScope();
      targets = Tensor.empty(DType.I32, device, micro, first.rows(), first.cols()).detachFromScope();
    }
    if (ids.dim(1) != first.rows() || ids.dim(2) != first.cols()) return;
    int n = first.rows() * first.cols();
    ByteBuffer in = ByteBuffer.allocateDirect(4 * micro * n).order(ByteOrder.nativeOrder());
    ByteBuffer out = ByteBuffer.allocateDirect(4 * micro * n).order(ByteOrder.nativeOrder());
    for (int k = 0; k < micro; k++) {
      in.asIntBuffer().put(k * n, window.get(k).inputs());
      out.asIntBuffer().put(k * n, window.get(k).targets());
    }
    ids.copyFrom(in);
    targets.copyFrom(out);
    inFixedBuffers = true;
  }

  private static boolean plain(Batch b) {
    return b.keyMask() == null && b.decoderInputs() == null && b.targetCols() == b.cols();
  }

  /**
   * Whether the loaded window can run as the captured graph: it sits in the fixed buffers. When not, a
   * reason for the caller's message; null when it can.
   */
  public String graphObstacle() {
    checkOpen();
    if (window == null) return "no window loaded";
    if (!tensorForm) return "the objective reads more of a batch than its inputs and targets";
    if (inFixedBuffers) return null;
    Batch b = window.get(0);
    if (!plain(b)) return "the batches carry a key mask or decoder inputs";
    if (ids != null) {
      return "a window of " + b.rows() + " x " + b.cols() + " batches (or mixed shapes), not the captured " + ids.dim(1)
          + " x " + ids.dim(2);
    }
    return "the window's batches differ in shape";
  }

  /** The first update has run: the optimizer exists, the step can be captured. */
  public boolean warm() {
    return optimizer != null;
  }

  /** Whether a captured graph exists. */
  public boolean captured() {
    return graph != null;
  }

  /**
   * One update over the loaded window with rate lr, queued: the first update runs eagerly and makes the
   * optimizer; afterwards, with {@code replay}, the captured graph (captured now if not yet), else the same
   * work eagerly. The step number is the moments' count + 1, which this advances.
   *
   * @throws IllegalStateException when replay is asked for a window not in the fixed buffers, or when the
   *     capture fails (the message says why; nothing of the step has run, and the graph stays unmade)
   */
  public void run(double lr, boolean replay) {
    checkOpen();
    if (window == null) throw new IllegalStateException("CudaTrainStep: load a window first");
    long step = moments.steps() + 1;
    if (optimizer == null) {
      mark(0);
      model.zeroGrad();
      forwardBackward();
      optimizer = makeOptimizer();
      optimizer.schedule(lr, step);
      update();
    } else if (replay) {
      String obstacle = graphObstacle();
      if (obstacle != null) throw new IllegalStateException("CudaTrainStep: cannot replay the captured step: " + obstacle);
      if (graph == null) graph = capture();
      optimizer.schedule(lr, step);
      graph.launch();
    } else {
      optimizer.schedule(lr, step);
      mark(0);
      forwardBackward();
      update();
    }
    moments.setSteps(step);
  }

  private CudaGraph capture() {
    CudaMarks timing = events;
    events = null;  // no event records inside a graph
    try {
      return CudaGraph.capture(gpu, () -> {
        forwardBackward();
        update();
      });
    } catch (RuntimeException e) {
      throw new IllegalStateException("the training step could not be captured in a CUDA graph: " + e.getMessage(), e);
    } finally {
      events = timing;
    }
  }

  private void forwardBackward() {
    for (int k = 0; k < micro; k++) {
      Batch b = window.get(k);
      try (Scope s = Scope.open(); Autocast ac = Autocast.open(precision, device, copies); Tape tape = Tape.record()) {
        Tensor loss;
        if (tensorForm && plain(b)) {
          Tensor x, y;
          if (inFixedBuffers) {
            x = ids.slice(k, k + 1).reshape(b.rows(), b.cols());
            y = targets.slice(k, k + 1).reshape(b.rows(), b.cols());
          } else {
            x = Tensor.ofInts(b.inputs(), device, b.rows(), b.cols());
            y = Tensor.ofInts(b.targets(), device, b.rows(), b.cols());
          }
          // the token sum times 1/normalizer from device memory: the normalizer is no kernel argument
          loss = Ops.mul(objective.loss(x, y, 1.0), inverse);
        } else {
          loss = objective.loss(b, device, normalizer);
        }
        if (k == 0) mark(1);
        tape.backward(loss);
        gpu.axpy(1.0, loss, lossSum);
      }
    }
    mark(2);
  }

  private void update() {
    optimizer.step();
    model.zeroGrad();
    mark(3);
  }

  private FusedAdamW makeOptimizer() {
    List<FusedAdamW.Entry> entries = new ArrayList<>();
    Map<String, Parameter> trainable = moments.parameters();
    List<String> unused = new ArrayList<>();
    for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
      String name = e.getKey();
      Parameter p = e.getValue();
      if (!trainable.containsKey(name)) {
        if (p.value().dtype() == DType.F32) {
          entries.add(new FusedAdamW.Entry(name, p.value(), null, null, null, null, p.decay(), true));
        }
      } else if (p.grad() == null) {
        unused.add(name);  // no gradient in the first step: left alone, as AdamW leaves it
      } else {
        entries.add(new FusedAdamW.Entry(name, p.value(), p.grad(), moments.firstMoment(name), moments.secondMoment(name),
            copies.get(p.value()), p.decay(), false));
      }
    }
    if (!unused.isEmpty()) log.warn("parameters without a gradient in the first step are not updated: {}", unused);
    // clip 0 still computes the norm (a clip that never bites): reports show it and a non-finite one skips
    return new FusedAdamW(gpu, entries, moments.beta1(), moments.beta2(), moments.eps(), moments.weightDecay(),
        clip > 0 ? clip : Double.MAX_VALUE, 1.0);
  }

  /** The sum of the window losses of the updates since the last call (synchronizes); resets it to 0. */
  public double takeLoss() {
    checkOpen();
    double sum = lossSum.toFloatArray()[0];
    gpu.fill(lossSum, 0.0);
    return sum;
  }

  /** Updates skipped on the device for a non-finite gradient norm since the last call (synchronizes). */
  public long takeSkipped() {
    checkOpen();
    if (optimizer == null) return 0;
    long all = optimizer.skipped();
    long fresh = all - skippedSeen;
    skippedSeen = all;
    return fresh;
  }

  /** The global gradient norm of the last update (NaN before the first; synchronizes). */
  public double gradNorm() {
    checkOpen();
    return optimizer == null ? Double.NaN : optimizer.norm();
  }

  /** The bf16 weight copies the fused AdamW keeps current (empty in fp32): for evaluation's Autocast. */
  public Map<Tensor, Tensor> weightCopies() {
    return Collections.unmodifiableMap(copies);
  }

  /** Rewrites the bf16 copies from the fp32 weights, after the weights changed elsewhere (a restore). */
  public void refreshCopies() {
    checkOpen();
    for (Map.Entry<Tensor, Tensor> e : copies.entrySet()) gpu.cast(e.getKey(), e.getValue(), false);
  }

  /**
   * Times the phases of eager updates from now on with CUDA events: the first micro-batch's forward to
   * its loss, the rest to the end of the backward, the update. Replays are not timed.
   */
  public void timePhases() {
    checkOpen();
    if (events == null) events = new CudaMarks(gpu, 4);
  }

  /** Milliseconds of {forward (first micro-batch), rest of forward and backward, update} of the last eager update. */
  public double[] phaseMillis() {
    if (events == null) throw new IllegalStateException("CudaTrainStep: timePhases() first");
    return events.millisBetween();
  }

  private void mark(int i) {
    if (events != null) events.mark(i);
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("CudaTrainStep is closed");
  }

  /** Frees the graph, the optimizer's table and this step's buffers; the moments stay the caller's. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    if (graph != null) graph.close();
    if (optimizer != null) optimizer.close();
    for (Tensor t : new Tensor[] {lossSum, inverse, ids, targets}) if (t != null) t.close();
    for (Tensor c : copies.values()) c.close();
    copies.clear();
    if (events != null) events.close();
  }
}
