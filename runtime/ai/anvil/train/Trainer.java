package ai.anvil.train;

import ai.anvil.autograd.Autocast;
import ai.anvil.autograd.Precision;
import ai.anvil.autograd.Tape;
import ai.anvil.backend.Backend;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.nn.Module;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.TrainListener.EvalReport;
import ai.anvil.train.TrainListener.StepReport;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The training loop: AdamW with a warmup-cosine schedule, global-norm gradient clipping, gradient
 * accumulation, periodic evaluation on a fixed set of val batches, early stopping, checkpoints.
 *
 * <p>One step: zero the gradients; draw gradAccum micro-batches; count the non-ignored targets of the
 * whole window (the normalizer, so the k micro-batch losses sum to the window's mean and the summed
 * gradients equal those of one batch k times larger); forward and backward each micro-batch in a scope
 * of its own; if the loss or the gradient norm is not finite, skip the update and log it; else clip
 * (scale = clip / (norm + 1e-6) when norm exceeds clip, as torch.nn.utils.clip_grad_norm_) and update.
 * Every temporary of a step lives in that step's {@link Scope}, so memory stays flat across steps.
 *
 * <p>Precision ({@link TrainConfig#precision()}): in bf16 (the default on CUDA) each micro-batch's forward
 * and backward, and each evaluation, run inside an {@link Autocast}: bf16 linears and attention on bf16
 * copies of the weights, everything the optimizer, the checkpoints and the norms see in fp32. fp32 (the
 * CPU's only mode) runs every op in fp32.
 *
 * <p>Where the step runs: on the CPU, and on CUDA in a data-parallel job, as above (the loss and the norm
 * read on the host every step). On CUDA in one process, as a {@link CudaTrainStep}: the loss stays on the
 * device and is read only when the trainer reports it (every {@link TrainConfig#logInterval()} steps, at
 * an evaluation and at the end), the norm, clip and update run in the fused AdamW, a non-finite gradient
 * skips the update on the device (counted at the next report), and, per {@link TrainConfig#cudaGraph()},
 * the step is captured in a CUDA graph after its first update and replayed.
 *
 * <p>Reports: {@link TrainListener#onStep} comes every logInterval steps (and at evaluations and the end)
 * with the mean loss of the steps since the previous report; with an interval of 1, after every step.
 */
public final class Trainer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Trainer.class);

  /** Saves a checkpoint of the trainer's current state; returns the folder written. */
  @FunctionalInterface
  public interface Checkpointer {
    Path save(Trainer trainer) throws IOException;
  }

  /** How a {@link #fit()} ended. */
  public record Result(long steps, double finalValLoss, double bestValLoss, double tokensPerSecond,
                       double trainSeconds, long skipped, boolean stoppedEarly, Path checkpoint) {}

  private final Module model;
  private final Objective objective;
  private final TrainConfig config;
  private final BatchSource train;
  private final List<Batch> evalBatches;
  private final RandomState random;
  private final AdamW optimizer;
  private final LrSchedule schedule;
  private final Device device;
  private final Precision precision;
  private final String cudaGraph;
  private TrainListener listener = new TrainListener() {};
  private Checkpointer checkpointer;
  private GradientSync sync = GradientSync.LOCAL;
  private TrainState state;
  private Path lastCheckpoint;
  private long lastCheckpointStep = -1;
  // This session's throughput: tokens and seconds since construction or restore.
  private long sessionTokens;
  private double sessionSeconds;
  // The CUDA step (made at the first step on CUDA with one process) and whether it replays a graph.
  private CudaTrainStep cudaStep;
  private boolean replay;
  private boolean shapeNoticeLogged;
  // Steps since the last report: their count, the host loss sum (host path), the last lr and norm.
  private long pendingSteps;
  private double pendingLoss;
  private double lastLr;
  private double lastNorm = Double.NaN;

  /**
   * @param val the source of the evaluation batches: the first evalIters it yields are drawn now and
   *     reused by every evaluation
   */
  public Trainer(Module model, Objective objective, TrainConfig config, BatchSource train, BatchSource val,
                 RandomState random) {
    Device on = model.parameters().isEmpty() ? Device.CPU : model.parameters().get(0).value().device();
    this.precision = config.precisionOn(on);  // before anything is allocated: bf16 on the CPU is refused here
    log.info("training in {} on {} (precision setting {})", precision.label(), on, config.precision());
    this.cudaGraph = config.cudaGraph();
    if (cudaGraph.equals("on") && !on.isCuda()) {
      throw new IllegalArgumentException("cuda_graph on captures a CUDA step, but the model is on " + on
          + "; use cuda_graph auto or off");
    }
    this.model = model;
    this.objective = objective;
    this.config = config;
    this.train = train;
    this.random = random == null ? RandomState.NONE : random;
    this.schedule = config.schedule();
    this.optimizer = new AdamW(model.namedParameters(), config.beta1(), config.beta2(), config.eps(), config.weightDecay());
    this.device = on;
    List<Batch> fixed = new ArrayList<>();
    for (int i = 0; i < config.evalIters(); i++) fixed.add(val.next());
    this.evalBatches = List.copyOf(fixed);
    this.state = TrainState.initial(train.cursor(), this.random.randomState());
  }

  public Trainer listener(TrainListener listener) {
    this.listener = listener == null ? new TrainListener() {} : listener;
    return this;
  }

  /** Called after every evaluation and at the end of {@link #fit()}; null saves nothing. */
  public Trainer checkpointer(Checkpointer checkpointer) {
    this.checkpointer = checkpointer;
    return this;
  }

  /**
   * Data-parallel training: the normalizer, loss and gradients of each step are combined across ranks
   * (ai.anvil.dist.DataParallel sets this); null is a single process.
   */
  public Trainer gradientSync(GradientSync sync) {
    this.sync = sync == null ? GradientSync.LOCAL : sync;
    return this;
  }

  public Module model() {
    return model;
  }

  public AdamW optimizer() {
    return optimizer;
  }

  public TrainConfig config() {
    return config;
  }

  /** The precision steps and evaluations run in (the config's, with auto resolved for the device). */
  public Precision precision() {
    return precision;
  }

  /** Whether the steps run as a captured CUDA graph now (after the first update on CUDA, per cuda_graph). */
  public boolean replaysGraph() {
    return cudaStep != null && cudaStep.captured() && replay;
  }

  /** The state to save now (cursor and RNG as of this moment). */
  public TrainState state() {
    return new TrainState(state.step(), state.bestValLoss(), state.lastValLoss(), state.evalsWithoutImprovement(),
        state.trainSeconds(), state.tokens(), state.skipped(), train.cursor(), random.randomState());
  }

  /** Continues from a saved state; the optimizer moments are restored separately (checkpoint loader). */
  public void restore(TrainState saved) {
    train.restore(saved.dataCursor());
    random.restoreRandomState(saved.rng());
    optimizer.setSteps(saved.step() - saved.skipped());
    this.state = saved;
    sessionTokens = 0;
    sessionSeconds = 0;
    pendingSteps = 0;
    pendingLoss = 0;
    if (cudaStep != null) {
      cudaStep.takeLoss();
      cudaStep.takeSkipped();
      cudaStep.refreshCopies();  // the weights were just replaced
    }
  }

  /** Runs steps until max steps or an early stop; evaluates and checkpoints along the way. */
  public Result fit() {
    long maxSteps = config.maxSteps();
    listener.onStart(state.step(), maxSteps, model.parameterCount(true), config.tokensPerStep());
    boolean early = false;
    while (state.step() < maxSteps) {
      advance();
      long done = state.step();
      boolean evaluating = done % config.evalInterval() == 0 || done == maxSteps;
      if (evaluating || done % config.logInterval() == 0) report();
      if (evaluating) {
        evaluate();
        if (done < maxSteps) saveCheckpoint();
        if (config.patience() > 0 && state.evalsWithoutImprovement() >= config.patience()) {
          early = true;
          log.info("early stop at step {}: val loss has not improved on {} for {} evaluations", done,
              state.bestValLoss(), state.evalsWithoutImprovement());
          listener.onEarlyStop(done, state.bestValLoss());
          break;
        }
      }
    }
    report();
    if (Double.isNaN(state.lastValLoss())) evaluate();
    saveCheckpoint();
    return new Result(state.step(), state.lastValLoss(), state.bestValLoss(), tokensPerSecond(), state.trainSeconds(),
        state.skipped(), early, lastCheckpoint);
  }

  /**
   * One optimizer step, reported at once: returns its mean training loss (NaN or infinite when skipped).
   * On CUDA this reads the loss from the device (a synchronization); {@link #fit()} reads it only every
   * logInterval steps.
   */
  public double step() {
    double loss = advance();
    double reported = report();
    return cudaStep == null ? loss : reported;
  }

  /**
   * One optimizer step, not reported: on the host path returns its loss (NaN or infinite when skipped),
   * on the CUDA step NaN (the loss stays on the device until {@link #report()}).
   */
  private double advance() {
    long index = state.step();
    long start = System.nanoTime();
    double lr = schedule.at(index);
    List<Batch> micro = new ArrayList<>(config.gradAccum());
    long normalizer = 0;
    for (int i = 0; i < config.gradAccum(); i++) {
      Batch b = train.next();
      micro.add(b);
      normalizer += b.countTargets(objective.ignoreIndex());
    }
    normalizer = sync.globalTargets(normalizer);
    if (normalizer > 0 && onCudaStep()) {
      runCudaStep(micro, normalizer, lr);
      finishStep(index, start, lr, null);
      return Double.NaN;
    }
    double loss = 0;
    double norm = Double.NaN;
    String skip = null;
    try (Scope ignored = Scope.open()) {
      model.train(true);
      model.zeroGrad();
      if (normalizer == 0) {
        skip = "every target of the window is ignored";
      } else {
        // One mixed-precision region for the whole window: the weights' bf16 copies are made once per step
        // (they hold until the optimizer changes the weights, after the region closes).
        try (Autocast ac = Autocast.open(precision, device)) {
          for (int i = 0; i < micro.size(); i++) {
            // The last micro-batch's backward finalizes the gradients: a data-parallel sync may start
            // reducing each as soon as the backward is done with it.
            loss += forwardBackward(micro.get(i), normalizer, i == micro.size() - 1 ? sync.backwardHook() : null);
          }
        }
        loss = sync.globalLoss(loss);
        if (!Double.isFinite(loss)) {
          skip = "loss is " + loss;
        } else {
          sync.reduceGradients(optimizer.gradients());
          norm = Backend.of(device).gradNorm(optimizer.gradients());
          if (!Double.isFinite(norm)) skip = "gradient norm is " + norm;
        }
      }
      if (skip == null) {
        double scale = config.gradClip() > 0 && norm > config.gradClip() ? config.gradClip() / (norm + 1e-6) : 1.0;
        optimizer.step(lr, scale);
      }
      Backend.of(device).synchronize();
    }
    finishStep(index, start, lr, skip);
    if (skip != null) {
      log.warn("step {} skipped: {} (lr {})", index + 1, skip, lr);
      listener.onSkip(index + 1, skip);
      return Double.isFinite(loss) ? Double.NaN : loss;
    }
    pendingLoss += loss;
    lastNorm = norm;
    return loss;
  }

  /**
   * Counts a step that ran (or was skipped, with its reason) into the state. A CUDA step's time here is the
   * host's time to queue it; the wait for the device is added when a report reads the loss.
   */
  private void finishStep(long index, long startNanos, double lr, String skip) {
    double seconds = (System.nanoTime() - startNanos) / 1e9;
    long tokens = config.tokensPerStep() * sync.worldSize();
    sessionTokens += tokens;
    sessionSeconds += seconds;
    state = new TrainState(index + 1, state.bestValLoss(), state.lastValLoss(), state.evalsWithoutImprovement(),
        state.trainSeconds() + seconds, state.tokens() + tokens, state.skipped() + (skip == null ? 0 : 1),
        state.dataCursor(), state.rng());
    if (skip == null) {
      pendingSteps++;
      lastLr = lr;
    }
  }

  /**
   * Reports the steps since the last report, if any: their mean loss (on CUDA read from the device, with
   * the updates it skipped and the wait for the queued work counted as training time) through
   * {@link TrainListener#onStep}. Returns that mean (NaN when nothing was pending).
   */
  private double report() {
    if (pendingSteps == 0) return Double.NaN;
    double sum = pendingLoss;
    long steps = pendingSteps;
    double norm = lastNorm;
    if (cudaStep != null) {
      long start = System.nanoTime();
      sum = cudaStep.takeLoss();  // waits for the queued steps
      long skipped = cudaStep.takeSkipped();
      norm = cudaStep.gradNorm();
      double waited = (System.nanoTime() - start) / 1e9;
      sessionSeconds += waited;
      state = new TrainState(state.step(), state.bestValLoss(), state.lastValLoss(), state.evalsWithoutImprovement(),
          state.trainSeconds() + waited, state.tokens(), state.skipped() + skipped, state.dataCursor(), state.rng());
      if (skipped > 0) {
        // Their bias-correction step did not advance on the device; nor does it here from now on.
        optimizer.setSteps(optimizer.steps() - skipped);
        String why = skipped + " of the " + steps + " steps up to here had a non-finite gradient norm; their updates were skipped";
        log.warn("step {}: {}", state.step(), why);
        listener.onSkip(state.step(), why);
      }
    }
    pendingSteps = 0;
    pendingLoss = 0;
    double mean = sum / steps;
    listener.onStep(new StepReport(state.step(), config.maxSteps(), mean, lastLr, norm, state.tokens(), state.trainSeconds(),
        tokensPerSecond()));
    return mean;
  }

  /** Whether this step runs as a {@link CudaTrainStep} (made here at the first such step). */
  private boolean onCudaStep() {
    if (cudaStep != null) return true;
    if (!device.isCuda()) return false;
    if (sync != GradientSync.LOCAL) {
      if (cudaGraph.equals("on")) {
        throw new IllegalStateException("cuda_graph on: a data-parallel step combines the ranks' losses and gradients "
            + "on the host between the backward and the update, so it cannot be captured; use cuda_graph auto or off");
      }
      return false;
    }
    String obstacle = graphObstacle();
    if (obstacle != null && cudaGraph.equals("on")) {
      throw new IllegalStateException("cuda_graph on: the step cannot be captured: " + obstacle + "; use cuda_graph auto or off");
    }
    replay = obstacle == null && !cudaGraph.equals("off");
    log.info("CUDA step: fused AdamW, loss on the device (read every {} steps), {}", config.logInterval(),
        replay ? "captured in a CUDA graph after the first update" : "not captured (" + (obstacle != null ? obstacle
            : "cuda_graph off") + ")");
    model.train(true);
    cudaStep = new CudaTrainStep(model, objective, optimizer, config.gradClip(), precision, config.gradAccum());
    return true;
  }

  /** Why the step could never be captured, known before it runs; null when nothing stands in the way. */
  private String graphObstacle() {
    double dropout = config.dropout();
    if (model instanceof Gpt gpt) dropout = Math.max(dropout, gpt.config().dropout());
    if (dropout > 0) {
      return "dropout " + dropout + " draws its masks from host seeds, so every replay would repeat the captured masks";
    }
    if (!CudaTrainStep.readsOnlyInputsAndTargets(objective)) {
      return "the objective reads more of a batch than its inputs and targets (it uploads them itself)";
    }
    return null;
  }

  private void runCudaStep(List<Batch> micro, long normalizer, double lr) {
    model.train(true);
    cudaStep.load(micro, normalizer);
    boolean now = replay && cudaStep.warm();
    if (now) {
      String obstacle = cudaStep.graphObstacle();
      if (obstacle != null) {
        if (cudaGraph.equals("on")) {
          throw new IllegalStateException("cuda_graph on needs every window in the captured shape: step "
              + (state.step() + 1) + " has " + obstacle + "; use cuda_graph auto or off");
        }
        if (!shapeNoticeLogged) {
          log.info("step {} runs uncaptured: {} (logged once)", state.step() + 1, obstacle);
          shapeNoticeLogged = true;
        }
        now = false;
      }
    }
    if (now && !cudaStep.captured()) {
      try {
        cudaStep.run(lr, true);
        return;
      } catch (IllegalStateException e) {
        if (cudaGraph.equals("on")) throw new IllegalStateException("cuda_graph on: " + e.getMessage(), e);
        log.warn("{}; training on uncaptured", e.getMessage());
        replay = false;
        now = false;
      }
    }
    cudaStep.run(lr, now);
  }

  private double forwardBackward(Batch b, long normalizer, Tape.LeafHook hook) {
    try (Scope ignored = Scope.open(); Tape tape = Tape.record()) {
      Tensor loss = objective.loss(b, device, normalizer);
      double value = loss.item();
      // A non-finite forward loss makes the gradients meaningless: skip the backward too, unless a hook
      // must see every gradient so that this rank joins the same collectives as the others (the step is
      // then skipped on every rank, since the global loss is not finite either).
      if (Double.isFinite(value) || hook != null) tape.backward(loss, hook);
      return value;
    }
  }

  /** Mean loss over the fixed val batches; updates the best loss and the patience count. */
  public EvalReport evaluate() {
    long start = System.nanoTime();
    double valLoss = meanLoss(evalBatches);
    double best = state.bestValLoss();
    int without = state.evalsWithoutImprovement();
    if (Double.isNaN(best) || valLoss < best) {
      best = valLoss;
      without = 0;
    } else {
      without++;
    }
    state = new TrainState(state.step(), best, valLoss, without, state.trainSeconds(), state.tokens(), state.skipped(),
        state.dataCursor(), state.rng());
    EvalReport report = new EvalReport(state.step(), valLoss, Math.exp(valLoss), best, (System.nanoTime() - start) / 1e9);
    listener.onEval(report);
    return report;
  }

  /** The mean over batches of each batch's mean token loss, with no gradients and dropout off. */
  public double meanLoss(List<Batch> batches) {
    if (batches.isEmpty()) throw new IllegalArgumentException("meanLoss: no batches");
    double sum = 0;
    int counted = 0;
    model.train(false);
    try (Tape.NoGrad ng = Tape.noGrad();
         Autocast ac = Autocast.open(precision, device, cudaStep != null ? cudaStep.weightCopies() : Map.of())) {
      for (Batch b : batches) {
        long n = b.countTargets(objective.ignoreIndex());
        if (n == 0) continue;
        try (Scope ignored = Scope.open()) {
          sum += objective.loss(b, device, n).item();
          counted++;
        }
      }
    } finally {
      model.train(true);
    }
    if (counted == 0) throw new IllegalArgumentException("meanLoss: every target of every batch is ignored");
    return sum / counted;
  }

  /** The fixed evaluation batches. */
  public List<Batch> evalBatches() {
    return evalBatches;
  }

  /** Tokens per second of training (evaluation and checkpoints left out) in this session. */
  public double tokensPerSecond() {
    return sessionSeconds > 0 ? sessionTokens / sessionSeconds : 0.0;
  }

  private void saveCheckpoint() {
    if (checkpointer == null || lastCheckpointStep == state.step()) return;
    try {
      lastCheckpoint = checkpointer.save(this);
      lastCheckpointStep = state.step();
      listener.onCheckpoint(state.step(), lastCheckpoint);
    } catch (IOException e) {
      throw new UncheckedIOException("checkpoint at step " + state.step() + " failed; the previous one is intact", e);
    }
  }

  /** Frees the CUDA step and the optimizer state (the model belongs to the caller). */
  @Override
  public void close() {
    if (cudaStep != null) cudaStep.close();
    optimizer.close();
  }
}
