package ai.anvil.peft;

import ai.anvil.models.gpt.Gpt;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A base model with a parameter-efficient method attached: the base's parameters are frozen (no
 * gradient, no optimizer state) and the method's own modules are the trainable ones. The tree's names
 * are PEFT's: the base under {@code base_model.model.}, each adapter module under the path of the layer
 * it belongs to ({@code base_model.model.transformer.h.0.attn.c_attn.lora_A.weight}).
 *
 * <p>The base model is borrowed, not owned: {@link #close()} detaches the method from it, frees only
 * the method's tensors and unfreezes what it froze. Give this to the {@link ai.anvil.train.Trainer} as the model; the objective is the
 * base's own loss, which runs through the installed hooks.
 */
public abstract class PeftModel extends Module {
  public static final String BASE_PREFIX = "base_model.model.";

  private final Gpt base;
  private final Map<String, Module> adapters = new LinkedHashMap<>();
  private final List<Parameter> wasTrainable = new ArrayList<>();
  private boolean closed;

  protected PeftModel(Gpt base) {
    this.base = base;
    for (Parameter p : base.parameters()) if (p.trainable()) wasTrainable.add(p);
    base.setTrainable(false);
    child("base_model.model", base);
  }

  public Gpt base() {
    return base;
  }

  /** Registers an adapter module under base-relative path (a layer's dotted name). */
  protected final <M extends Module> M adapter(String path, M module) {
    adapters.put(path, module);
    return child(BASE_PREFIX + path, module);
  }

  /** PEFT's peft_type of this method (LORA, PROMPT_TUNING, ...). */
  public abstract String peftType();

  /** Saves only the method's weights and settings in PEFT's layout ({@link AdapterFiles}). */
  public abstract void save(Path dir) throws IOException;

  /** Trainable elements and their share of all elements (the base's included). */
  public static String describeTrainable(Module model) {
    long trainable = model.parameterCount(true), all = model.parameterCount(false);
    return String.format("trainable params: %,d || all params: %,d || trainable%%: %.4f", trainable, all,
        100.0 * trainable / all);
  }

  /** Parameters of the method alone, by their PEFT names, in registration order. */
  public final Map<String, Parameter> adapterParameters() {
    Map<String, Parameter> out = new LinkedHashMap<>();
    for (Map.Entry<String, Module> a : adapters.entrySet()) {
      for (Map.Entry<String, Parameter> e : a.getValue().namedParameters().entrySet()) {
        out.put(BASE_PREFIX + a.getKey() + "." + e.getKey(), e.getValue());
      }
    }
    return out;
  }

  /** Takes the method's hooks out of the base model (the base is as it was before). */
  protected abstract void detach();

  /** Detaches from the base and frees the method's tensors; the base stays open and unchanged. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    detach();
    for (Module m : adapters.values()) m.close();
    for (Parameter p : wasTrainable) p.setTrainable(true);
  }
}
