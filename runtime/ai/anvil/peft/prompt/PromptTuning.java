package ai.anvil.peft.prompt;

import ai.anvil.io.Json;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.models.gpt.GptExtension;
import ai.anvil.nn.Embedding;
import ai.anvil.nn.Init;
import ai.anvil.peft.AdapterFiles;
import ai.anvil.peft.PeftModel;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Prompt tuning (Lester et al. 2021): P trainable soft-prompt embeddings (P, C) put before every
 * sequence, the whole model frozen. They start as the embeddings of P random vocabulary tokens (PEFT's
 * SAMPLE_VOCAB), which trains better than random vectors of the wrong scale. As in PEFT with GPT-2, the
 * prompt takes positions [0, P) and the tokens [P, P+T), so sequences may be at most blockSize - P long.
 * Saved exactly as PEFT saves it: {@code prompt_embeddings} (P, C), peft_type PROMPT_TUNING.
 */
public final class PromptTuning extends PeftModel implements GptExtension {
  public static final String PEFT_TYPE = "PROMPT_TUNING";
  public static final String TENSOR = "prompt_embeddings";

  private final Embedding prompt;

  private PromptTuning(Gpt base, int virtualTokens, long seed) {
    super(base);
    GptConfig c = base.config();
    if (virtualTokens < 1 || virtualTokens >= c.blockSize()) {
      throw new IllegalArgumentException("num_virtual_tokens must be in [1, " + c.blockSize() + "), got " + virtualTokens);
    }
    this.prompt = adapter("prompt_encoder.default.embedding", new Embedding(virtualTokens, c.nEmbd(), 0.02, new Init(seed),
        base.device()));
    SplittableRandom random = new SplittableRandom(seed);
    float[] table = base.tokenEmbedding().toFloatArray();
    float[] rows = new float[Math.toIntExact(prompt.weight().numel())];
    int w = c.nEmbd();
    for (int p = 0; p < virtualTokens; p++) System.arraycopy(table, random.nextInt(c.vocabSize()) * w, rows, p * w, w);
    prompt.weight().copyFrom(rows);
    base.setExtension(this);
  }

  public static PromptTuning attach(Gpt base, int virtualTokens, long seed) {
    return new PromptTuning(base, virtualTokens, seed);
  }

  /** Attaches a prompt saved by {@link #save} or by PEFT. */
  public static PromptTuning load(Gpt base, Path dir) throws IOException {
    AdapterFiles.Contents c = AdapterFiles.read(dir);
    if (!c.peftType().equals(PEFT_TYPE)) throw new IOException(dir + ": peft_type " + c.peftType() + ", expected " + PEFT_TYPE);
    long[] shape = c.shapes().get(TENSOR);
    if (shape == null || shape.length != 2 || shape[1] != base.config().nEmbd()) {
      throw new IOException(dir + ": " + TENSOR + " must be (P, " + base.config().nEmbd() + "), got " + Arrays.toString(shape));
    }
    PromptTuning model = new PromptTuning(base, Math.toIntExact(shape[0]), 0);
    model.prompt.weight().copyFrom(c.tensor(TENSOR));
    return model;
  }

  @Override
  public String peftType() {
    return PEFT_TYPE;
  }

  public int virtualTokens() {
    return (int) prompt.weight().dim(0);
  }

  @Override
  public Tensor softPrompt() {
    return prompt.weight();
  }

  @Override
  public void save(Path dir) throws IOException {
    GptConfig c = base().config();
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("peft_type", PEFT_TYPE);
    config.put("task_type", "CAUSAL_LM");
    config.put("num_virtual_tokens", virtualTokens());
    config.put("token_dim", c.nEmbd());
    config.put("num_transformer_submodules", 1);
    config.put("num_attention_heads", c.nHead());
    config.put("num_layers", c.nLayer());
    config.put("prompt_tuning_init", "SAMPLE_VOCAB");
    config.put("inference_mode", true);
    AdapterFiles.write(dir, config, Map.of(TENSOR, prompt.weight().toFloatArray()), Map.of(TENSOR, prompt.weight().dims()));
  }

  @Override
  protected void detach() {
    if (base().extension() == this) base().setExtension(null);
  }
}
