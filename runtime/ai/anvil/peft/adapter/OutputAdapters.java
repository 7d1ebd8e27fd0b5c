package ai.anvil.peft.adapter;

import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.nn.LinearDelta;
import ai.anvil.nn.Module;
import ai.anvil.peft.Layers;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Houlsby bottleneck adapters on any model built from {@link Linear} layers: one {@link Bottleneck} on
 * the output of each sublayer's output projection (attention and feed-forward), before the residual
 * add, installed as the layer's {@link LinearDelta} so the model's code does not change. This is how a
 * task head's body (BERT or GPT, {@code models.heads}) gets adapters; {@link HoulsbyAdapters} is the
 * GPT-only PeftModel that saves in PEFT's folder layout.
 *
 * <pre>
 *   &lt;layer&gt;.down.{weight,bias}   (m, C), (m)     &lt;layer&gt; the projection's dotted name, '.' -> '_'
 *   &lt;layer&gt;.up.{weight,bias}     (C, m), (C)     zero at first: a new adapter changes nothing
 * </pre>
 */
public final class OutputAdapters extends Module {
  /** BERT's attention.output.dense and output.dense; GPT-2's attn.c_proj and mlp.c_proj. */
  public static final Pattern SUBLAYER_OUTPUTS =
      Pattern.compile("(.*\\.)?(layer\\.\\d+\\.(attention\\.)?output\\.dense|h\\.\\d+\\.(attn|mlp)\\.c_proj)");

  private final int size;
  private final Map<String, Bottleneck> adapters = new LinkedHashMap<>();
  private final List<Linear> layers = new ArrayList<>();
  private boolean closed;

  private OutputAdapters(int size) {
    this.size = size;
  }

  /**
   * Adapters of bottleneck width size on every Linear of root whose dotted name matches
   * {@link #SUBLAYER_OUTPUTS}, among the names {@code inModel} accepts (a head's body, not its classifier).
   * Throws when none matches or a layer already has a delta.
   */
  public static OutputAdapters attach(Module root, java.util.function.Predicate<String> inModel, int size, long seed) {
    if (size < 1) throw new IllegalArgumentException("adapter size must be >= 1, got " + size);
    OutputAdapters out = new OutputAdapters(size);
    Init init = new Init(seed);
    Map<String, Linear> all = Layers.linears(root);
    for (Map.Entry<String, Linear> e : all.entrySet()) {
      String name = e.getKey();
      if (!inModel.test(name) || !SUBLAYER_OUTPUTS.matcher(name).matches()) continue;
      Linear layer = e.getValue();
      if (layer.delta() != null) {
        out.close();
        throw new IllegalStateException("adapters: " + name + " already has a delta installed (LoRA?)");
      }
      Bottleneck b = out.child(name.replace('.', '_'), new Bottleneck(layer.out(), size, init, layer.weight().device()));
      out.adapters.put(name, b);
      out.layers.add(layer);
      layer.setDelta(new Delta(layer, b));
    }
    if (out.adapters.isEmpty()) {
      throw new IllegalArgumentException("adapters: no sublayer output projection (" + SUBLAYER_OUTPUTS.pattern() + ") among "
          + all.keySet().stream().filter(inModel).toList());
    }
    return out;
  }

  public int size() {
    return size;
  }

  /** The adapted layers' dotted names, in tree order. */
  public List<String> layerNames() {
    return List.copyOf(adapters.keySet());
  }

  /** Takes the adapters out of their layers and frees them; the layers are as before. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    for (Linear l : layers) if (l.delta() instanceof Delta) l.setDelta(null);
    super.close();
  }

  /** y + up(gelu(down(y))) for y the layer's own output, which the layer adds itself. */
  private record Delta(Linear layer, Bottleneck bottleneck) implements LinearDelta {
    @Override
    public Tensor term(Tensor x, long from, long to) {
      if (from != 0 || to != layer.out()) {
        throw new IllegalStateException("an adapter's term is over the whole output, asked for [" + from + ", " + to + ")");
      }
      return bottleneck.termAfter(layer, x);
    }
  }
}
