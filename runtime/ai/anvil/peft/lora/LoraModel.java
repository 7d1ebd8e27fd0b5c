package ai.anvil.peft.lora;

import ai.anvil.models.gpt.Gpt;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.peft.AdapterFiles;
import ai.anvil.peft.Layers;
import ai.anvil.peft.PeftModel;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One LoRA adapter on a GPT: a {@link LoraLayer} on every Linear layer the config targets, the base
 * frozen. Saves and loads PEFT's adapter folders ({@code adapter_config.json},
 * {@code adapter_model.safetensors} with {@code base_model.model.<layer>.lora_A.weight} (r, in) and
 * {@code lora_B.weight} (out, r)); GPT-2's layers are Conv1D in PEFT, whose LoRA matrices have these same
 * shapes (fan_in_fan_out only transposes the merged update), so nothing is transposed.
 */
public final class LoraModel extends PeftModel {
  private final LoraConfig config;
  private final Map<String, LoraLayer> layers = new LinkedHashMap<>();

  private LoraModel(Gpt base, LoraConfig config, long seed) {
    super(base);
    this.config = config;
    Init init = new Init(seed);
    for (Map.Entry<String, Linear> e : Layers.linears(base).entrySet()) {
      if (!config.targets(e.getKey())) continue;
      LoraLayer layer = adapter(e.getKey(), new LoraLayer(e.getValue(), config.r(), config.scaling(), config.dropout(), init,
          init.nextSeed()));
      layers.put(e.getKey(), layer);
    }
    if (layers.isEmpty()) {
      close();
      throw new IllegalArgumentException("LoRA target_modules " + config.targetModules() + " match no Linear layer of the model; "
          + "it has " + Layers.linears(base).keySet());
    }
    for (LoraLayer l : layers.values()) l.target().setDelta(l);
  }

  /** A new adapter (B = 0: the model's outputs are unchanged until it trains); freezes the base. */
  public static LoraModel attach(Gpt base, LoraConfig config, long seed) {
    return new LoraModel(base, config, seed);
  }

  /** Attaches the adapter saved in a PEFT folder (by Anvil or by PEFT's save_pretrained). */
  public static LoraModel load(Gpt base, Path dir) throws IOException {
    LoraWeights w = LoraWeights.read(dir, Layers.linears(base));
    LoraModel model = new LoraModel(base, w.config(), 0);
    for (Map.Entry<String, LoraLayer> e : model.layers.entrySet()) {
      e.getValue().loraA().copyFrom(w.a().get(e.getKey()));
      e.getValue().loraB().copyFrom(w.b().get(e.getKey()));
    }
    return model;
  }

  /** This adapter's current values on the host. */
  public LoraWeights weights() {
    Map<String, float[]> as = new LinkedHashMap<>(), bs = new LinkedHashMap<>();
    for (Map.Entry<String, LoraLayer> e : layers.entrySet()) {
      as.put(e.getKey(), e.getValue().loraA().toFloatArray());
      bs.put(e.getKey(), e.getValue().loraB().toFloatArray());
    }
    return new LoraWeights(config, as, bs);
  }

  public LoraConfig config() {
    return config;
  }

  /** The adapted layers by name. */
  public Map<String, LoraLayer> layers() {
    return Collections.unmodifiableMap(layers);
  }

  @Override
  public String peftType() {
    return "LORA";
  }

  /** Folds every update into the base weights: the base alone now computes the adapted model. */
  public void merge() {
    for (LoraLayer l : layers.values()) l.merge();
  }

  /** Takes the updates out of the base weights again. */
  public void unmerge() {
    for (LoraLayer l : layers.values()) l.unmerge();
  }

  @Override
  public void save(Path dir) throws IOException {
    Map<String, float[]> tensors = new LinkedHashMap<>();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    for (Map.Entry<String, LoraLayer> e : layers.entrySet()) {
      for (Map.Entry<String, Tensor> t : List.of(Map.entry("lora_A", e.getValue().loraA()), Map.entry("lora_B", e.getValue().loraB()))) {
        String name = BASE_PREFIX + e.getKey() + "." + t.getKey() + ".weight";
        tensors.put(name, t.getValue().toFloatArray());
        shapes.put(name, t.getValue().dims());
      }
    }
    AdapterFiles.write(dir, config.toPeftJson(null), tensors, shapes);
  }

  /** Unmerges if merged, and takes the LoRA terms off the base's layers. */
  @Override
  protected void detach() {
    for (LoraLayer l : layers.values()) {
      l.unmerge();
      if (l.target().delta() == l) l.target().setDelta(null);
    }
  }
}
