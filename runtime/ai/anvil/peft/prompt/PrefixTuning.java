package ai.anvil.peft.prompt;

import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Tape;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.models.gpt.GptExtension;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.AdapterFiles;
import ai.anvil.peft.PeftModel;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Prefix tuning (Li and Liang 2021) without the reparametrization MLP: in every layer, P trainable keys
 * and values (P, C) that every query attends to before the sequence's own keys (the causal mask aligned
 * bottom-right, so query i sees the whole prefix and keys up to i), the model frozen. As Hugging Face
 * GPT-2 does with P past keys, the tokens take positions [P, P+T).
 *
 * <p>The prefixes start as the keys and values layer l's c_attn gives for P random vocabulary tokens
 * (embedding + position, then ln_1): of the right scale and distribution, where random vectors train
 * poorly. Saved as PEFT saves prefix tuning: {@code prompt_embeddings} (P, L*2*C), row p holding for each
 * layer l its key then its value, peft_type PREFIX_TUNING.
 */
public final class PrefixTuning extends PeftModel implements GptExtension {
  public static final String PEFT_TYPE = "PREFIX_TUNING";
  public static final String TENSOR = "prompt_embeddings";

  private final int length;
  private final Prefix[] prefixes;

  /** One layer's keys (P, C) and values (P, C). */
  static final class Prefix extends Module {
    final Tensor keys;
    final Tensor values;

    Prefix(Tensor keys, Tensor values) {
      this.keys = parameter("keys", keys);
      this.values = parameter("values", values);
    }
  }

  private PrefixTuning(Gpt base, int length, long seed) {
    super(base);
    GptConfig c = base.config();
    if (length < 1 || length >= c.blockSize()) {
      throw new IllegalArgumentException("num_virtual_tokens must be in [1, " + c.blockSize() + "), got " + length);
    }
    this.length = length;
    this.prefixes = new Prefix[c.nLayer()];
    float[][][] init = initialValues(base, length, seed);
    for (int l = 0; l < prefixes.length; l++) {
      Tensor k = Tensor.of(init[l][0], base.device(), length, c.nEmbd());
      Tensor v = Tensor.of(init[l][1], base.device(), length, c.nEmbd());
      prefixes[l] = adapter("transformer.h." + l + ".attn.prefix", new Prefix(k, v));
    }
    base.setExtension(this);
  }

  public static PrefixTuning attach(Gpt base, int virtualTokens, long seed) {
    return new PrefixTuning(base, virtualTokens, seed);
  }

  /** Attaches a prefix saved by {@link #save} or by PEFT (without prefix projection). */
  public static PrefixTuning load(Gpt base, Path dir) throws IOException {
    AdapterFiles.Contents c = AdapterFiles.read(dir);
    if (!c.peftType().equals(PEFT_TYPE)) throw new IOException(dir + ": peft_type " + c.peftType() + ", expected " + PEFT_TYPE);
    if (Boolean.TRUE.equals(c.config().get("prefix_projection"))) {
      throw new IOException(dir + ": prefix_projection (the reparametrization MLP) is not supported");
    }
    GptConfig g = base.config();
    long[] shape = c.shapes().get(TENSOR);
    if (shape == null || shape.length != 2 || shape[1] != 2L * g.nLayer() * g.nEmbd()) {
      throw new IOException(dir + ": " + TENSOR + " must be (P, " + 2L * g.nLayer() * g.nEmbd() + "), got " + Arrays.toString(shape));
    }
    int p = Math.toIntExact(shape[0]), w = g.nEmbd(), layers = g.nLayer();
    PrefixTuning model = new PrefixTuning(base, p, 0);
    float[] all = c.tensor(TENSOR);
    for (int l = 0; l < layers; l++) {
      float[] k = new float[p * w], v = new float[p * w];
      for (int r = 0; r < p; r++) {
        System.arraycopy(all, (r * layers * 2 + 2 * l) * w, k, r * w, w);
        System.arraycopy(all, (r * layers * 2 + 2 * l + 1) * w, v, r * w, w);
      }
      model.prefixes[l].keys.copyFrom(k);
      model.prefixes[l].values.copyFrom(v);
    }
    return model;
  }

  /** Per layer {keys, values} (P*C each): c_attn's k and v of ln_1(wte[token] + wpe[position]) for random tokens. */
  static float[][][] initialValues(Gpt base, int length, long seed) {
    GptConfig c = base.config();
    int w = c.nEmbd();
    SplittableRandom random = new SplittableRandom(seed);
    int[] tokens = new int[length], positions = new int[length];
    for (int i = 0; i < length; i++) {
      tokens[i] = random.nextInt(c.vocabSize());
      positions[i] = i;
    }
    Map<String, Parameter> named = base.namedParameters();
    float[][][] out = new float[c.nLayer()][2][];
    try (Tape.NoGrad ng = Tape.noGrad(); Scope scope = Scope.open()) {
      Tensor x = Ops.add(Ops.embedding(Tensor.ofInts(tokens, base.device(), length), base.tokenEmbedding()),
          Ops.embedding(Tensor.ofInts(positions, base.device(), length), named.get("transformer.wpe.weight").value()));
      for (int l = 0; l < c.nLayer(); l++) {
        String p = "transformer.h." + l + ".";
        Tensor h = Ops.layerNorm(x, named.get(p + "ln_1.weight").value(), bias(named, p + "ln_1.bias"), c.layerNormEps());
        float[] qkv = Ops.linear(h, named.get(p + "attn.c_attn.weight").value(), bias(named, p + "attn.c_attn.bias")).toFloatArray();
        out[l][0] = new float[length * w];
        out[l][1] = new float[length * w];
        for (int r = 0; r < length; r++) {
          System.arraycopy(qkv, r * 3 * w + w, out[l][0], r * w, w);
          System.arraycopy(qkv, r * 3 * w + 2 * w, out[l][1], r * w, w);
        }
      }
    }
    return out;
  }

  private static Tensor bias(Map<String, Parameter> named, String name) {
    Parameter p = named.get(name);
    return p == null ? null : p.value();
  }

  @Override
  public String peftType() {
    return PEFT_TYPE;
  }

  public int virtualTokens() {
    return length;
  }

  @Override
  public Tensor[] keyValuePrefix(int layer) {
    return new Tensor[] {prefixes[layer].keys, prefixes[layer].values};
  }

  @Override
  public int prefixLength() {
    return length;
  }

  @Override
  public void save(Path dir) throws IOException {
    GptConfig g = base().config();
    int w = g.nEmbd(), layers = g.nLayer();
    float[] all = new float[length * layers * 2 * w];
    for (int l = 0; l < layers; l++) {
      float[] k = prefixes[l].keys.toFloatArray(), v = prefixes[l].values.toFloatArray();
      for (int r = 0; r < length; r++) {
        System.arraycopy(k, r * w, all, (r * layers * 2 + 2 * l) * w, w);
        System.arraycopy(v, r * w, all, (r * layers * 2 + 2 * l + 1) * w, w);
      }
    }
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("peft_type", PEFT_TYPE);
    config.put("task_type", "CAUSAL_LM");
    config.put("num_virtual_tokens", length);
    config.put("token_dim", w);
    config.put("num_transformer_submodules", 1);
    config.put("num_attention_heads", g.nHead());
    config.put("num_layers", layers);
    config.put("encoder_hidden_size", w);
    config.put("prefix_projection", false);
    config.put("inference_mode", true);
    AdapterFiles.write(dir, config, Map.of(TENSOR, all), Map.of(TENSOR, new long[] {length, (long) layers * 2 * w}));
  }

  @Override
  protected void detach() {
    if (base().extension() == this) base().setExtension(null);
  }
}
