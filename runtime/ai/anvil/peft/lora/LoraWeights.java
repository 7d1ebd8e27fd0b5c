package ai.anvil.peft.lora;

import ai.anvil.nn.Linear;
import ai.anvil.peft.AdapterFiles;
import ai.anvil.peft.PeftModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A LoRA adapter's values on the host: its config and, per adapted layer, A (r, in) and B (out, r)
 * row-major. What a PEFT folder holds, checked against the layers of the model it is for.
 */
public record LoraWeights(LoraConfig config, Map<String, float[]> a, Map<String, float[]> b) {
  public LoraWeights {
    a = Collections.unmodifiableMap(new LinkedHashMap<>(a));
    b = Collections.unmodifiableMap(new LinkedHashMap<>(b));
  }

  /**
   * Reads a PEFT adapter folder for a model whose Linear layers are linears (by dotted name): every
   * targeted layer must have both matrices with the right shapes, and every tensor must belong to one.
   */
  public static LoraWeights read(Path dir, Map<String, Linear> linears) throws IOException {
    AdapterFiles.Contents c = AdapterFiles.read(dir);
    LoraConfig config;
    try {
      config = LoraConfig.fromPeftJson(c.config());
    } catch (IllegalArgumentException e) {
      throw new IOException(dir + ": " + e.getMessage(), e);
    }
    Map<String, float[]> as = new LinkedHashMap<>(), bs = new LinkedHashMap<>();
    int used = 0;
    for (Map.Entry<String, Linear> e : linears.entrySet()) {
      if (!config.targets(e.getKey())) continue;
      long in = e.getValue().in(), out = e.getValue().out();
      as.put(e.getKey(), tensor(c, dir, e.getKey() + ".lora_A.weight", config.r(), in));
      bs.put(e.getKey(), tensor(c, dir, e.getKey() + ".lora_B.weight", out, config.r()));
      used += 2;
    }
    if (as.isEmpty()) throw new IOException(dir + ": target_modules " + config.targetModules() + " match no layer of the model");
    if (used != c.tensors().size()) {
      throw new IOException(dir + ": " + (c.tensors().size() - used) + " of its tensors belong to no targeted layer ("
          + c.tensors().keySet() + ")");
    }
    return new LoraWeights(config, as, bs);
  }

  private static float[] tensor(AdapterFiles.Contents c, Path dir, String layerName, long rows, long cols) throws IOException {
    String plain = PeftModel.BASE_PREFIX + layerName;
    // PEFT saves without the adapter name; in-memory state dicts carry ".default".
    String name = c.tensors().containsKey(plain) ? plain : plain.replace(".weight", ".default.weight");
    if (!c.tensors().containsKey(name)) throw new IOException(dir + ": no tensor " + plain);
    long[] shape = c.shapes().get(name);
    if (!Arrays.equals(shape, new long[] {rows, cols})) {
      throw new IOException(dir + ": " + name + " has shape " + Arrays.toString(shape) + ", the model needs [" + rows + ", "
          + cols + "]");
    }
    return c.tensor(name);
  }
}
