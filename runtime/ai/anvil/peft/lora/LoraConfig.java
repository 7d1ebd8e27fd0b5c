package ai.anvil.peft.lora;

import ai.anvil.io.Json;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The settings of one LoRA adapter, as PEFT's LoraConfig names them.
 *
 * @param r rank of the update B A
 * @param alpha lora_alpha: the update is scaled by alpha / r, or alpha / sqrt(r) with rsLora
 * @param dropout lora_dropout on the layer's input, training only
 * @param targetModules which Linear layers get an adapter: layer names matched by suffix
 *     ({@code c_attn} matches {@code transformer.h.0.attn.c_attn}); a single entry that is not a plain
 *     name is a regular expression the whole dotted name must match; {@code all-linear} means every
 *     Linear layer but the output head
 * @param rsLora rank-stabilized scaling (Kalajdzievski 2023)
 */
public record LoraConfig(int r, double alpha, double dropout, List<String> targetModules, boolean rsLora) {
  public static final String ALL_LINEAR = "all-linear";

  public LoraConfig {
    if (r < 1) throw new IllegalArgumentException("LoRA rank r must be >= 1, got " + r);
    if (!(alpha > 0) || !Double.isFinite(alpha)) throw new IllegalArgumentException("lora_alpha must be > 0, got " + alpha);
    if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + dropout);
    if (targetModules == null || targetModules.isEmpty()) throw new IllegalArgumentException("LoRA needs target modules");
    targetModules = List.copyOf(targetModules);
  }

  /** Rank r, alpha, no dropout, on GPT-2's fused attention projection c_attn (PEFT's default for GPT-2). */
  public static LoraConfig of(int r, double alpha) {
    return new LoraConfig(r, alpha, 0.0, List.of("c_attn"), false);
  }

  public LoraConfig withTargets(String... targets) {
    return new LoraConfig(r, alpha, dropout, List.of(targets), rsLora);
  }

  public LoraConfig withDropout(double p) {
    return new LoraConfig(r, alpha, p, targetModules, rsLora);
  }

  public LoraConfig withRsLora(boolean on) {
    return new LoraConfig(r, alpha, dropout, targetModules, on);
  }

  /** The factor on B A x. */
  public double scaling() {
    return rsLora ? alpha / Math.sqrt(r) : alpha / r;
  }

  /** Whether the Linear layer of this dotted name gets an adapter. */
  public boolean targets(String layerName) {
    if (targetModules.size() == 1) {
      String only = targetModules.get(0);
      if (only.equals(ALL_LINEAR)) return !layerName.equals("lm_head");
      if (!only.matches("[A-Za-z0-9_.]+")) return Pattern.matches(only, layerName);
    }
    for (String t : targetModules) {
      if (layerName.equals(t) || layerName.endsWith("." + t)) return true;
    }
    return false;
  }

  /**
   * adapter_config.json for PEFT. GPT-2's layers are Conv1D there, so fan_in_fan_out is true. PEFT
   * matches target_modules as {@link #targets} does (a list by suffix, one string as a regular
   * expression, all-linear), so they are written as given.
   */
  public Map<String, Object> toPeftJson(String baseModel) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("peft_type", "LORA");
    m.put("task_type", "CAUSAL_LM");
    m.put("base_model_name_or_path", baseModel);
    m.put("r", r);
    m.put("lora_alpha", alpha);
    m.put("lora_dropout", dropout);
    boolean pattern = targetModules.size() == 1 && !targetModules.get(0).matches("[A-Za-z0-9_.]+");
    m.put("target_modules", pattern || targetModules.equals(List.of(ALL_LINEAR)) ? targetModules.get(0) : targetModules);
    m.put("fan_in_fan_out", true);
    m.put("bias", "none");
    m.put("use_rslora", rsLora);
    m.put("init_lora_weights", true);
    m.put("inference_mode", true);
    m.put("modules_to_save", null);
    return m;
  }

  /** The config of a PEFT adapter_config.json (LORA only). */
  public static LoraConfig fromPeftJson(Map<String, Object> m) {
    String type = Json.getString(m, "peft_type", "");
    if (!type.equals("LORA")) throw new IllegalArgumentException("not a LoRA adapter: peft_type " + type);
    if (!Json.getString(m, "bias", "none").equals("none")) {
      throw new IllegalArgumentException("LoRA adapters that train biases (bias=" + m.get("bias") + ") are not supported");
    }
    for (String key : new String[] {"rank_pattern", "alpha_pattern"}) {
      if (m.get(key) instanceof Map<?, ?> pattern && !pattern.isEmpty()) {
        throw new IllegalArgumentException("per-layer ranks or alphas (" + key + ") are not supported");
      }
    }
    Object dora = m.get("use_dora");
    if (Boolean.TRUE.equals(dora)) throw new IllegalArgumentException("DoRA adapters are not supported");
    int r = Json.getInt(m, "r", 8);
    Object targets = m.get("target_modules");
    List<String> list = new ArrayList<>();
    if (targets instanceof String s) list.add(s);
    else if (targets instanceof List<?> l) for (Object o : l) list.add(String.valueOf(o));
    else throw new IllegalArgumentException("adapter_config.json: target_modules missing");
    return new LoraConfig(r, Json.getDouble(m, "lora_alpha", 8), Json.getDouble(m, "lora_dropout", 0), list,
        Json.getBoolean(m, "use_rslora", false));
  }
}
