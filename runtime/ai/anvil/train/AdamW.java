package ai.anvil.train;

import ai.anvil.backend.AdamWStep;
import ai.anvil.backend.Backend;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW with decoupled weight decay (Loshchilov and Hutter), as torch.optim.AdamW computes it. Owns an fp32
 * first and second moment per trainable parameter, made zero at construction and freed by
 * {@link #close()}; frozen parameters get no state. Weight decay applies to parameters whose
 * {@link Parameter#decay()} is set (2-D weights by default). One {@link #step} is one
 * {@link Backend#adamw} call over every parameter that has a gradient.
 */
public final class AdamW implements AutoCloseable {
  private final Map<String, Parameter> params = new LinkedHashMap<>();
  private final Map<String, Tensor> m = new LinkedHashMap<>();
  private final Map<String, Tensor> v = new LinkedHashMap<>();
  private final double beta1, beta2, eps, weightDecay;
  private final Backend backend;
  private long steps;
  private boolean closed;

  /**
   * @param named parameters by their dotted names (Module.namedParameters()); frozen ones are skipped
   */
  public AdamW(Map<String, Parameter> named, double beta1, double beta2, double eps, double weightDecay) {
    // Validates the hyper-parameters once, up front, rather than at the first step.
    new AdamWStep(0.0, beta1, beta2, eps, weightDecay, 1, 1.0);
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    Device device = null;
    for (Map.Entry<String, Parameter> e : named.entrySet()) {
      Parameter p = e.getValue();
      if (!p.trainable()) continue;
      Tensor value = p.value();
      if (value.dtype() != DType.F32) {
        throw new IllegalArgumentException("AdamW: parameter " + e.getKey() + " is " + value.dtype() + "; master weights must be F32");
      }
      if (device == null) device = value.device();
      else if (!device.equals(value.device())) {
        throw new IllegalArgumentException("AdamW: parameters on " + device + " and " + value.device() + " (" + e.getKey() + ")");
      }
      params.put(e.getKey(), p);
      m.put(e.getKey(), Tensor.zeros(DType.F32, device, value.dims()).detachFromScope());
      v.put(e.getKey(), Tensor.zeros(DType.F32, device, value.dims()).detachFromScope());
    }
    this.backend = Backend.of(device == null ? Device.CPU : device);
  }

  public double beta1() {
    return beta1;
  }

  public double beta2() {
    return beta2;
  }

  public double eps() {
    return eps;
  }

  public double weightDecay() {
    return weightDecay;
  }

  /** Updates completed so far (the bias-correction step of the next update is this + 1). */
  public long steps() {
    return steps;
  }

  /** Sets the update count, when restoring a checkpoint. */
  public void setSteps(long steps) {
    if (steps < 0) throw new IllegalArgumentException("AdamW: steps must be >= 0, got " + steps);
    this.steps = steps;
  }

  /** The parameters this optimizer updates, by name. */
  public Map<String, Parameter> parameters() {
    return Collections.unmodifiableMap(params);
  }

  /** The first moment of a parameter (owned by this optimizer). */
  public Tensor firstMoment(String name) {
    return state(m, name);
  }

  /** The second moment of a parameter (owned by this optimizer). */
  public Tensor secondMoment(String name) {
    return state(v, name);
  }

  private Tensor state(Map<String, Tensor> map, String name) {
    checkOpen();
    Tensor t = map.get(name);
    if (t == null) throw new IllegalArgumentException("AdamW: no state for " + name + " (frozen or unknown)");
    return t;
  }

  /** The gradients that exist now, in parameter order (for the gradient norm). */
  public List<Tensor> gradients() {
    List<Tensor> out = new ArrayList<>();
    for (Parameter p : params.values()) if (p.grad() != null) out.add(p.grad());
    return out;
  }

  /**
   * One update of every parameter that has a gradient: g = grad * gradScale, then AdamW with rate lr.
   * Parameters without a gradient (unused in this step's graph) are left alone, as in PyTorch.
   */
  public void step(double lr, double gradScale) {
    checkOpen();
    AdamWStep hyper = new AdamWStep(lr, beta1, beta2, eps, weightDecay, steps + 1, gradScale);
    List<Tensor> ps = new ArrayList<>(), gs = new ArrayList<>(), ms = new ArrayList<>(), vs = new ArrayList<>();
    List<Boolean> decay = new ArrayList<>();
    for (Map.Entry<String, Parameter> e : params.entrySet()) {
      Parameter p = e.getValue();
      if (p.grad() == null) continue;
      ps.add(p.value());
      gs.add(p.grad());
      ms.add(m.get(e.getKey()));
      vs.add(v.get(e.getKey()));
      decay.add(p.decay());
    }
    boolean[] flags = new boolean[decay.size()];
    for (int i = 0; i < flags.length; i++) flags[i] = decay.get(i);
    backend.adamw(ps, gs, ms, vs, flags, hyper);
    steps++;
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("AdamW: optimizer is closed");
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    for (Tensor t : m.values()) t.close();
    for (Tensor t : v.values()) t.close();
  }
}
