package ai.anvil.peft;

import ai.anvil.nn.Linear;
import ai.anvil.nn.Module;
import java.util.LinkedHashMap;
import java.util.Map;

/** Finding layers of a model by their dotted names. */
public final class Layers {
  private Layers() {}

  /** Every Linear layer of the tree by dotted name ({@code transformer.h.0.attn.c_attn}), in tree order. */
  public static Map<String, Linear> linears(Module root) {
    Map<String, Linear> out = new LinkedHashMap<>();
    collect("", root, out);
    return out;
  }

  private static void collect(String prefix, Module m, Map<String, Linear> out) {
    for (Map.Entry<String, Module> e : m.children().entrySet()) {
      String name = prefix + e.getKey();
      if (e.getValue() instanceof Linear l) out.put(name, l);
      else collect(name + ".", e.getValue(), out);
    }
  }
}
