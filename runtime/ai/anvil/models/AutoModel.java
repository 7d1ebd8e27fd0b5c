package ai.anvil.models;

import ai.anvil.io.Json;
import ai.anvil.models.gpt.GptCheckpoint;
import ai.anvil.models.llama.LlamaCheckpoint;
import ai.anvil.nn.Module;
import ai.anvil.tensor.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Loads a model from a Hugging Face model folder ({@code config.json} + {@code model.safetensors}, as
 * {@code save_pretrained} writes it, or as Anvil's own checkpoints are), choosing the architecture from
 * config.json's {@code model_type}, or from {@code architectures} when model_type is absent.
 *
 * <pre>{@code
 * try (CausalLm lm = AutoModel.loadCausalLm(Path.of("tiny-llama"), Device.CPU)) { ... }
 * }</pre>
 *
 * Supported: {@code gpt2} (GPT2LMHeadModel) and {@code llama} (LlamaForCausalLM). Anything else is an
 * IOException naming the type found and the supported ones.
 */
public final class AutoModel {
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";

  private AutoModel() {}

  /** The model type of dir's config.json: its model_type, else the one its architectures imply. */
  public static String modelType(Path dir) throws IOException {
    Path file = dir.resolve(CONFIG);
    if (!Files.isRegularFile(file)) throw new IOException(dir + ": no " + CONFIG + " (not a model folder)");
    Map<String, Object> config;
    try {
      config = Json.parseObject(Files.readString(file));
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
    Object type = config.get("model_type");
    if (type instanceof String s && !s.isEmpty()) return s;
    if (config.get("architectures") instanceof List<?> archs && !archs.isEmpty()) {
      String arch = String.valueOf(archs.get(0));
      if (arch.startsWith("GPT2")) return "gpt2";
      if (arch.startsWith("Llama")) return "llama";
      return arch;
    }
    throw new IOException(file + ": neither model_type nor architectures says what model this is");
  }

  /** Any supported model of dir on device. The caller owns (closes) it. */
  public static Module load(Path dir, Device device) throws IOException {
    String type = modelType(dir);
    checkWeights(dir);
    return switch (type) {
      case "gpt2" -> GptCheckpoint.load(dir, device);
      case "llama" -> LlamaCheckpoint.load(dir, device);
      default -> throw new IOException(dir + ": model_type " + type + " is not supported (supported: gpt2, llama)");
    };
  }

  /** A decoder-only language model of dir (for generate, eval, scoring); other kinds are refused. */
  public static CausalLm loadCausalLm(Path dir, Device device) throws IOException {
    String type = modelType(dir);
    if (!type.equals("gpt2") && !type.equals("llama")) {
      throw new IOException(dir + ": model_type " + type + " is not a supported causal language model (supported: gpt2, llama)");
    }
    return (CausalLm) load(dir, device);
  }

  private static void checkWeights(Path dir) throws IOException {
    if (Files.isRegularFile(dir.resolve(WEIGHTS))) return;
    if (Files.isRegularFile(dir.resolve(WEIGHTS + ".index.json"))) {
      throw new IOException(dir + ": sharded weights (" + WEIGHTS + ".index.json) are not supported; merge them into one "
          + WEIGHTS);
    }
    if (Files.isRegularFile(dir.resolve("pytorch_model.bin"))) {
      throw new IOException(dir + ": only safetensors weights are read, found pytorch_model.bin; convert it to " + WEIGHTS);
    }
    throw new IOException(dir + ": no " + WEIGHTS);
  }
}
