package ai.anvil.peft.adapter;

import ai.anvil.io.Json;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.models.gpt.GptExtension;
import ai.anvil.nn.Init;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.AdapterFiles;
import ai.anvil.peft.PeftModel;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Houlsby bottleneck adapters (Houlsby et al. 2019): in every block, one {@link Bottleneck} on the
 * attention sublayer's output and one on the MLP's, each before its residual add; the base frozen.
 * Parameters {@code base_model.model.transformer.h.N.attn.adapter.{down,up}.{weight,bias}} and
 * {@code ...mlp.adapter...}. Saved in PEFT's folder layout with peft_type {@code HOULSBY_ADAPTER}, which
 * is Anvil's own: PEFT has no Houlsby adapters.
 */
public final class HoulsbyAdapters extends PeftModel implements GptExtension {
  public static final String PEFT_TYPE = "HOULSBY_ADAPTER";

  private final int size;
  private final Bottleneck[] attn;
  private final Bottleneck[] mlp;

  private HoulsbyAdapters(Gpt base, int size, long seed) {
    super(base);
    if (size < 1) throw new IllegalArgumentException("adapter size must be >= 1, got " + size);
    this.size = size;
    GptConfig c = base.config();
    Init init = new Init(seed);
    attn = new Bottleneck[c.nLayer()];
    mlp = new Bottleneck[c.nLayer()];
    for (int l = 0; l < c.nLayer(); l++) {
      attn[l] = adapter("transformer.h." + l + ".attn.adapter", new Bottleneck(c.nEmbd(), size, init, base.device()));
      mlp[l] = adapter("transformer.h." + l + ".mlp.adapter", new Bottleneck(c.nEmbd(), size, init, base.device()));
    }
    base.setExtension(this);
  }

  /** New adapters of bottleneck width size after every attention and MLP sublayer (identity at first). */
  public static HoulsbyAdapters attach(Gpt base, int size, long seed) {
    return new HoulsbyAdapters(base, size, seed);
  }

  /** Attaches adapters saved by {@link #save}. */
  public static HoulsbyAdapters load(Gpt base, Path dir) throws IOException {
    AdapterFiles.Contents c = AdapterFiles.read(dir);
    if (!c.peftType().equals(PEFT_TYPE)) throw new IOException(dir + ": peft_type " + c.peftType() + ", expected " + PEFT_TYPE);
    HoulsbyAdapters model = new HoulsbyAdapters(base, Json.getInt(c.config(), "adapter_size", 0), 0);
    try {
      for (Map.Entry<String, Parameter> e : model.adapterParameters().entrySet()) {
        Tensor t = e.getValue().value();
        long[] shape = c.shapes().get(e.getKey());
        if (!Arrays.equals(shape, t.dims())) throw new IOException(dir + ": " + e.getKey() + " missing or not " + t.shape());
        t.copyFrom(c.tensor(e.getKey()));
      }
      if (c.tensors().size() != model.adapterParameters().size()) throw new IOException(dir + ": unexpected tensors");
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
    return model;
  }

  @Override
  public String peftType() {
    return PEFT_TYPE;
  }

  @Override
  public Tensor afterAttention(int layer, Tensor h) {
    return attn[layer].forward(h);
  }

  @Override
  public Tensor afterMlp(int layer, Tensor h) {
    return mlp[layer].forward(h);
  }

  @Override
  public void save(Path dir) throws IOException {
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("peft_type", PEFT_TYPE);
    config.put("task_type", "CAUSAL_LM");
    config.put("adapter_size", size);
    config.put("non_linearity", "gelu_new");
    config.put("placement", "after attention and MLP output projections, before the residual add");
    config.put("num_layers", attn.length);
    config.put("hidden_size", base().config().nEmbd());
    Map<String, float[]> tensors = new LinkedHashMap<>();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    for (Map.Entry<String, Parameter> e : adapterParameters().entrySet()) {
      tensors.put(e.getKey(), e.getValue().value().toFloatArray());
      shapes.put(e.getKey(), e.getValue().value().dims());
    }
    AdapterFiles.write(dir, config, tensors, shapes);
  }

  @Override
  protected void detach() {
    if (base().extension() == this) base().setExtension(null);
  }
}
