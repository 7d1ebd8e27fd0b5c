package ai.anvil.peft;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.io.Safetensors;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptCheckpoint;
import ai.anvil.peft.lora.LoraConfig;
import ai.anvil.peft.lora.LoraModel;
import ai.anvil.peft.prompt.PrefixTuning;
import ai.anvil.peft.prompt.PromptTuning;
import ai.anvil.tensor.Device;
import ai.anvil.testkit.GoldenCausalLm;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Adapters made by Hugging Face PEFT (tools/golden/check_peft_roundtrip.py) load into Anvil and give
 * PEFT's logits on the tiny golden GPT-2: LoRA on Conv1D layers (fan_in_fan_out), rsLoRA on all linear
 * layers, prompt tuning and prefix tuning. Each test also saves an Anvil-made adapter of the same kind
 * with its logits under {@code <buildDir>/peft-roundtrip/}, where the script's --check-anvil mode loads
 * it with PEFT (the other direction, offline).
 */
class PeftGoldenTest {
  private static final int VOCAB = 83;

  @ParameterizedTest
  @ValueSource(strings = {"lora", "lora_rslora", "prompt", "prefix"})
  void peftMadeAdaptersGivePeftsLogitsAndAnvilMadeOnesAreWrittenForPeft(String name) throws Exception {
    Path golden = resource("/golden/peft/" + name);
    int[] ids;
    float[] expected;
    long[] shape;
    try (Safetensors.Reader r = Safetensors.Reader.open(golden.resolve("expected.safetensors"))) {
      ids = r.ints("ids");
      expected = r.floats("logits");
      shape = r.entry("ids").shape();
    }
    int rows = (int) shape[0], cols = (int) shape[1];
    try (Gpt gpt = GptCheckpoint.load(resource("/golden/gpt2"), Device.CPU)) {
      gpt.train(false);
      try (PeftModel method = load(name, gpt, golden)) {
        float[] got = unpad(TinyModels.logits(gpt, ids, rows), gpt.paddedVocab());
        double err = normwise(expected, got);
        assertTrue(err < 1e-5, name + ": Anvil's logits with PEFT's adapter differ by " + err + " of their max");
      }
      Path out = GoldenCausalLm.buildDir().resolve("peft-roundtrip").resolve(name);
      try (PeftModel method = anvilMade(name, gpt)) {
        method.save(out);
        float[] logits = unpad(TinyModels.logits(gpt, ids, rows), gpt.paddedVocab());
        new Safetensors.Writer().addInts("ids", ids, rows, cols).add("logits", logits, rows, cols, VOCAB)
            .write(out.resolve("anvil_logits.safetensors"));
      }
    }
  }

  private static PeftModel load(String name, Gpt gpt, Path dir) throws IOException {
    return switch (name) {
      case "prompt" -> PromptTuning.load(gpt, dir);
      case "prefix" -> PrefixTuning.load(gpt, dir);
      default -> LoraModel.load(gpt, dir);
    };
  }

  /** Random adapters of the same kinds, made and saved by Anvil. */
  private static PeftModel anvilMade(String name, Gpt gpt) {
    PeftModel m = switch (name) {
      case "prompt" -> PromptTuning.attach(gpt, 5, 1);
      case "prefix" -> PrefixTuning.attach(gpt, 2, 2);
      case "lora" -> LoraModel.attach(gpt, new LoraConfig(2, 5, 0.0, List.of("c_attn", "mlp.c_proj"), false), 3);
      default -> LoraModel.attach(gpt, LoraConfig.of(4, 4).withTargets(LoraConfig.ALL_LINEAR).withRsLora(true), 4);
    };
    long seed = 500;
    for (var p : m.adapterParameters().values()) TinyModels.randomize(p.value(), m instanceof LoraModel ? 0.2 : 0.5, seed++);
    return m;
  }

  private static float[] unpad(float[] logits, int padded) {
    int rows = logits.length / padded;
    float[] out = new float[rows * VOCAB];
    for (int r = 0; r < rows; r++) System.arraycopy(logits, r * padded, out, r * VOCAB, VOCAB);
    return out;
  }

  private static double normwise(float[] expected, float[] got) {
    double max = 0, diff = 0;
    for (int i = 0; i < expected.length; i++) {
      max = Math.max(max, Math.abs(expected[i]));
      diff = Math.max(diff, Math.abs(expected[i] - got[i]));
    }
    return diff / max;
  }

  private static Path resource(String name) throws URISyntaxException {
    return Path.of(PeftGoldenTest.class.getResource(name).toURI());
  }
}
