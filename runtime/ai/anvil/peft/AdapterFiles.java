package ai.anvil.peft;

import ai.anvil.io.AtomicFiles;
import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An adapter folder in PEFT's layout, as {@code PeftModel.from_pretrained} reads and
 * {@code save_pretrained} writes it:
 *
 * <pre>
 *   adapter_config.json          peft_type, task_type and the method's settings
 *   adapter_model.safetensors    the adapter's tensors only, under PEFT names
 *                                (base_model.model.transformer.h.0.attn.c_attn.lora_A.weight, prompt_embeddings)
 * </pre>
 */
public final class AdapterFiles {
  public static final String CONFIG = "adapter_config.json";
  public static final String WEIGHTS = "adapter_model.safetensors";

  /** What a folder holds: its config and its tensors as fp32 arrays with their shapes. */
  public record Contents(Map<String, Object> config, Map<String, float[]> tensors, Map<String, long[]> shapes) {
    public String peftType() {
      return Json.getString(config, "peft_type", "");
    }

    public float[] tensor(String name) throws IOException {
      float[] v = tensors.get(name);
      if (v == null) throw new IOException("adapter has no tensor " + name + "; it has " + tensors.keySet());
      return v;
    }
  }

  private AdapterFiles() {}

  /** Writes config and tensors (name -> (values, shape)) into dir, each file atomically. */
  public static void write(Path dir, Map<String, Object> config, Map<String, float[]> tensors,
                           Map<String, long[]> shapes) throws IOException {
    Files.createDirectories(dir);
    Safetensors.Writer w = new Safetensors.Writer().metadata("format", "pt");
    for (Map.Entry<String, float[]> e : tensors.entrySet()) w.add(e.getKey(), e.getValue(), shapes.get(e.getKey()));
    w.write(dir.resolve(WEIGHTS));
    AtomicFiles.writeString(dir.resolve(CONFIG), Json.writePretty(config));
  }

  /** Reads an adapter folder (F32, F16 or BF16 tensors, widened to fp32). */
  public static Contents read(Path dir) throws IOException {
    Path configFile = dir.resolve(CONFIG);
    if (!Files.isRegularFile(configFile)) throw new IOException(dir + ": no " + CONFIG + " (not a PEFT adapter folder)");
    Map<String, Object> config;
    try {
      config = Json.parseObject(Files.readString(configFile));
    } catch (IllegalArgumentException e) {
      throw new IOException(configFile + ": " + e.getMessage(), e);
    }
    Map<String, float[]> tensors = new LinkedHashMap<>();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    try (Safetensors.Reader r = Safetensors.Reader.open(dir.resolve(WEIGHTS))) {
      for (Safetensors.Entry e : r.entries().values()) {
        tensors.put(e.name(), r.floats(e.name()));
        shapes.put(e.name(), e.shape());
      }
    }
    return new Contents(config, tensors, shapes);
  }
}
