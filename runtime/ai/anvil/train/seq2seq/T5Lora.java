package ai.anvil.train.seq2seq;

import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import ai.anvil.models.t5.T5;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import ai.anvil.peft.Layers;
import ai.anvil.peft.lora.LoraConfig;
import ai.anvil.peft.lora.LoraLayer;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A T5 with LoRA terms on the Linear layers config names (T5's q, k, v, o, wi, wo by suffix), the base
 * frozen: the module the trainer optimizes (only the A and B matrices are trainable). The base is this
 * module's child {@code base} and is closed with it. Both of the T5's forward paths (teacher-forced and
 * cached decoding) go through Linear.forward, so the terms apply in generation too.
 */
final class T5Lora extends Module {
  private final T5 base;
  private final LoraConfig config;
  private final Map<String, LoraLayer> layers = new LinkedHashMap<>();

  T5Lora(T5 base, LoraConfig config, long seed) {
    this.base = child("base", base);
    this.config = config;
    base.setTrainable(false);
    Init init = new Init(seed);
    Holder holder = child("lora", new Holder());
    for (Map.Entry<String, Linear> e : Layers.linears(base).entrySet()) {
      if (!config.targets(e.getKey())) continue;
      LoraLayer l = holder.add(e.getKey().replace('.', '_'),
          new LoraLayer(e.getValue(), config.r(), config.scaling(), config.dropout(), init, init.nextSeed()));
      e.getValue().setDelta(l);
      layers.put(e.getKey(), l);
    }
    if (layers.isEmpty()) {
      throw new IllegalArgumentException("LoRA target_modules " + config.targetModules() + " match no Linear layer of the T5; "
          + "it has " + Layers.linears(base).keySet());
    }
  }

  int adaptedLayers() {
    return layers.size();
  }

  /**
   * adapter_config.json and adapter_model.safetensors in PEFT's naming
   * ({@code base_model.model.NAME.lora_A.weight} (r, in), {@code ...lora_B.weight} (out, r)).
   */
  void save(Path dir) throws IOException {
    Files.createDirectories(dir);
    Safetensors.Writer w = new Safetensors.Writer().metadata("format", "pt");
    for (Map.Entry<String, LoraLayer> e : layers.entrySet()) {
      Tensor a = e.getValue().loraA(), b = e.getValue().loraB();
      w.add("base_model.model." + e.getKey() + ".lora_A.weight", a.toFloatArray(), a.dims());
      w.add("base_model.model." + e.getKey() + ".lora_B.weight", b.toFloatArray(), b.dims());
    }
    w.write(dir.resolve("adapter_model.safetensors"));
    Map<String, Object> json = config.toPeftJson("anvil-t5");
    json.put("task_type", "SEQ_2_SEQ_LM");
    json.put("fan_in_fan_out", false);
    AtomicFiles.writeString(dir.resolve("adapter_config.json"), Json.writePretty(json));
  }

  /** A base with the adapter save() wrote: its config (adapter_config.json) and A, B tensors; the base frozen. */
  static T5Lora load(T5 base, Path dir) throws IOException {
    LoraConfig config = LoraConfig.fromPeftJson(Json.parseObject(Files.readString(dir.resolve("adapter_config.json"))));
    T5Lora lora = new T5Lora(base, config, 0);
    Path file = dir.resolve("adapter_model.safetensors");
    try (Safetensors.Reader r = Safetensors.Reader.open(file)) {
      if (r.entries().size() != 2 * lora.layers.size()) {
        throw new IOException(file + ": " + r.entries().size() + " tensors, the config's targets give " + 2 * lora.layers.size());
      }
      for (Map.Entry<String, LoraLayer> e : lora.layers.entrySet()) {
        for (Tensor t : new Tensor[] {e.getValue().loraA(), e.getValue().loraB()}) {
          String name = "base_model.model." + e.getKey() + (t == e.getValue().loraA() ? ".lora_A.weight" : ".lora_B.weight");
          Safetensors.Entry entry = r.entries().get(name);
          if (entry == null || !java.util.Arrays.equals(entry.shape(), t.dims())) {
            lora.close();
            throw new IOException(file + ": " + name + (entry == null ? " is missing" : " has shape "
                + java.util.Arrays.toString(entry.shape()) + ", expected " + java.util.Arrays.toString(t.dims())));
          }
          t.copyFrom(r.floats(name));
        }
      }
    }
    return lora;
  }

  private static final class Holder extends Module {
    <M extends Module> M add(String name, M m) {
      return child(name, m);
    }
  }
}
