package ai.anvil.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Random;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The seam that lets data-parallel reduction overlap the backward: Tape.backward(loss, hook) reports every
 * parameter once, when its gradient is already final, last layers first, in the same order on every run.
 */
class LeafHookTest {
  private static List<String> backwardOrder(Gpt gpt, Map<String, float[]> atHook) {
    Map<Tensor, String> names = new IdentityHashMap<>();
    for (Map.Entry<String, Parameter> e : gpt.namedParameters().entrySet()) names.put(e.getValue().value(), e.getKey());
    List<String> order = new ArrayList<>();
    Random r = new Random(3);
    try (Scope ignored = Scope.open(); Tape tape = Tape.record()) {
      Tensor ids = Tensor.ofInts(r.ints(2 * 8, 20), 2, 8);
      Tensor targets = Tensor.ofInts(r.ints(2 * 8, 20), 2, 8);
      Tensor loss = gpt.loss(ids, targets, 16);
      tape.backward(loss, leaf -> {
        String name = names.get(leaf);
        order.add(name);
        atHook.put(name, leaf.grad().toFloatArray());
      });
    }
    return order;
  }

  @Test
  void everyParameterIsReportedOnceWithItsFinalGradientLastLayerFirst() {
    GptConfig c = GptConfig.of(2, 2, 16, 8, 20);
    try (Gpt gpt = new Gpt(c, 1, Device.CPU)) {
      Map<String, float[]> atHook = new java.util.HashMap<>();
      List<String> order = backwardOrder(gpt, atHook);
      assertEquals(gpt.namedParameters().size(), order.size(), "each parameter once: " + order);
      assertEquals(gpt.namedParameters().keySet(), new java.util.HashSet<>(order));
      for (Map.Entry<String, Parameter> e : gpt.namedParameters().entrySet()) {
        assertArrayEquals(e.getValue().grad().toFloatArray(), atHook.get(e.getKey()), e.getKey() + " was final when reported");
      }
      int lastBlock = order.indexOf("transformer.h.1.mlp.c_proj.weight");
      int firstBlock = order.indexOf("transformer.h.0.attn.c_attn.weight");
      assertTrue(lastBlock >= 0 && firstBlock > lastBlock, "the last block's gradients come first: " + order);

      gpt.zeroGrad();
      assertEquals(order, backwardOrder(gpt, new java.util.HashMap<>()), "the same order every time");
    }
  }
}
