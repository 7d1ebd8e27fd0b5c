package ai.anvil.nn;

import ai.anvil.backend.Backend;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A tree of named parameters and child modules. A module owns its parameters and their gradients and
 * frees them on {@link #close()}. Names join with dots down the tree, Hugging Face style
 * ({@code transformer.h.0.attn.c_attn.weight}), so checkpoints map one to one onto HF files.
 */
public abstract class Module implements AutoCloseable {
  private final Map<String, Parameter> parameters = new LinkedHashMap<>();
  private final Map<String, Module> children = new LinkedHashMap<>();
  private boolean training = true;
  private boolean closed;

  /** Registers a tensor as a parameter; the module takes ownership (out of any scope). */
  protected final Tensor parameter(String name, Tensor value) {
    if (parameters.containsKey(name) || children.containsKey(name)) {
      throw new IllegalArgumentException("duplicate name '" + name + "' in " + getClass().getSimpleName());
    }
    value.detachFromScope();
    parameters.put(name, new Parameter(name, value));
    return value;
  }

  /** Registers a child module under name. */
  protected final <M extends Module> M child(String name, M module) {
    if (parameters.containsKey(name) || children.containsKey(name)) {
      throw new IllegalArgumentException("duplicate name '" + name + "' in " + getClass().getSimpleName());
    }
    children.put(name, module);
    return module;
  }

  /** Every parameter of this tree by dotted name, in registration order. */
  public final Map<String, Parameter> namedParameters() {
    Map<String, Parameter> out = new LinkedHashMap<>();
    collect("", out);
    return Collections.unmodifiableMap(out);
  }

  private void collect(String prefix, Map<String, Parameter> out) {
    for (Map.Entry<String, Parameter> e : parameters.entrySet()) out.put(prefix + e.getKey(), e.getValue());
    for (Map.Entry<String, Module> e : children.entrySet()) e.getValue().collect(prefix + e.getKey() + ".", out);
  }

  public final List<Parameter> parameters() {
    return new ArrayList<>(namedParameters().values());
  }

  public final List<Parameter> trainableParameters() {
    List<Parameter> out = new ArrayList<>();
    for (Parameter p : namedParameters().values()) if (p.trainable()) out.add(p);
    return out;
  }

  /** Total element count of all (or only trainable) parameters. */
  public final long parameterCount(boolean trainableOnly) {
    long n = 0;
    for (Parameter p : namedParameters().values()) if (!trainableOnly || p.trainable()) n += p.value().numel();
    return n;
  }

  public final Map<String, Module> children() {
    return Collections.unmodifiableMap(children);
  }

  /** Training mode (dropout active) or evaluation mode, for the whole tree. */
  public final void train(boolean on) {
    training = on;
    for (Module m : children.values()) m.train(on);
  }

  public final boolean isTraining() {
    return training;
  }

  /** Freezes or unfreezes every parameter of the tree. */
  public final void setTrainable(boolean trainable) {
    for (Parameter p : namedParameters().values()) p.setTrainable(trainable);
  }

  /** Zeroes every existing gradient (before a new accumulation window). */
  public final void zeroGrad() {
    for (Parameter p : namedParameters().values()) {
      if (p.grad() != null) Backend.of(p.grad().device()).fill(p.grad(), 0.0);
    }
  }

  /** Frees all parameters and gradients of the tree. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    for (Parameter p : parameters.values()) p.close();
    for (Module m : children.values()) m.close();
  }
}
