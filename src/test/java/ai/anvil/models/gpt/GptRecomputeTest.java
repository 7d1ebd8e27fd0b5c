package ai.anvil.models.gpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.backend.Backend;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.lora.LoraConfig;
import ai.anvil.peft.lora.LoraModel;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.MemoryStats;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Per-block activation recompute (Gpt.setRecompute, autograd.Checkpoint) on the CPU backend: the loss and
 * every parameter gradient are bit-identical to the run without recompute (with dropout on, so the masks
 * must be replayed), over two accumulated micro-batches; gradients still reach the blocks when the
 * embeddings are frozen (the block input needs no gradient), and LoRA adapters on a frozen base (leaves
 * outside the model's parameters) get theirs; and the activations held between forward and backward
 * shrink.
 */
class GptRecomputeTest {
  /** 3 layers, 2 heads, 48 wide, context 16, vocabulary 61 (padded inside); dropout 0.1. */
  private static final GptConfig CONFIG = GptConfig.of(3, 2, 48, 16, 61).withDropout(0.1);

  @Test
  void gradientsAreIdenticalWithAndWithoutRecompute() {
    try (Gpt model = new Gpt(CONFIG, 21, Device.CPU)) {
      model.train(true);
      long[] random = model.randomState();
      float[] plainLoss = accumulate(model, false);
      Map<String, float[]> plain = gradients(model);
      model.zeroGrad();
      model.restoreRandomState(random);
      float[] recomputedLoss = accumulate(model, true);
      Map<String, float[]> recomputed = gradients(model);
      assertArrayEquals(plainLoss, recomputedLoss, "losses");
      assertEquals(plain.keySet(), recomputed.keySet(), "parameters with a gradient");
      assertTrue(plain.containsKey("transformer.h.1.attn.c_attn.weight"));
      for (String name : plain.keySet()) {
        assertArrayEquals(plain.get(name), recomputed.get(name), "gradient of " + name);
      }
      assertEquals(model.randomState()[1], random[1] + 2L * (1 + 2 * CONFIG.nLayer()),
          "recompute replays dropout masks without drawing new ones");
    }
  }

  @Test
  void blocksGetGradientsWhenTheirInputNeedsNone() {
    try (Gpt model = new Gpt(CONFIG.withDropout(0), 4, Device.CPU)) {
      model.namedParameters().forEach((name, p) -> p.setTrainable(name.startsWith("transformer.h.")));
      float[] plainLoss = accumulate(model, false);
      Map<String, float[]> plain = gradients(model);
      model.zeroGrad();
      float[] recomputedLoss = accumulate(model, true);
      Map<String, float[]> recomputed = gradients(model);
      assertArrayEquals(plainLoss, recomputedLoss);
      assertEquals(plain.keySet(), recomputed.keySet());
      assertNull(model.namedParameters().get("transformer.wte.weight").grad());
      for (String name : plain.keySet()) assertArrayEquals(plain.get(name), recomputed.get(name), name);
    }
  }

  /** LoRA deltas live outside the model's parameters and the base is frozen: only the recompute finds them. */
  @Test
  void loraAdaptersGetTheSameGradientsWithRecompute() {
    try (Gpt model = new Gpt(CONFIG.withDropout(0), 6, Device.CPU);
         LoraModel lora = LoraModel.attach(model, LoraConfig.of(4, 8), 2)) {
      // B starts at zero (A gets no gradient then); give it values so both factors are exercised.
      for (Parameter p : lora.adapterParameters().values()) {
        float[] v = p.value().toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] = 0.01f * ((i * 37) % 11 - 5);
        p.value().copyFrom(v);
      }
      float[] plainLoss = accumulate(model, false);
      Map<String, float[]> plain = adapterGradients(lora);
      lora.adapterParameters().values().forEach(p -> Backend.of(Device.CPU).fill(p.grad(), 0.0));
      float[] recomputedLoss = accumulate(model, true);
      Map<String, float[]> recomputed = adapterGradients(lora);
      assertArrayEquals(plainLoss, recomputedLoss);
      assertEquals(lora.adapterParameters().size(), plain.size(), "every adapter tensor has a gradient");
      assertEquals(plain.keySet(), recomputed.keySet());
      for (String name : plain.keySet()) assertArrayEquals(plain.get(name), recomputed.get(name), name);
      assertNull(model.namedParameters().get("transformer.h.0.attn.c_attn.weight").grad(), "the base stays frozen");
    }
  }

  private static Map<String, float[]> adapterGradients(LoraModel lora) {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (Map.Entry<String, Parameter> e : lora.adapterParameters().entrySet()) {
      if (e.getValue().grad() != null) out.put(e.getKey(), e.getValue().grad().toFloatArray());
    }
    return out;
  }

  @Test
  void recomputeHoldsFewerActivationsUntilBackward() {
    GptConfig wide = GptConfig.of(4, 2, 64, 64, 61);
    try (Gpt model = new Gpt(wide, 8, Device.CPU)) {
      long plain = heldAfterForward(model, false);
      long recomputed = heldAfterForward(model, true);
      // Without recompute every block keeps ~20 (B, T, C)-sized tensors (more for the 4C MLP); with it,
      // one per block: expect well under half.
      assertTrue(recomputed < plain / 2, "held " + recomputed + " bytes with recompute vs " + plain + " without");
    }
  }

  /** Two micro-batches of loss + backward (gradients accumulate); returns the two losses. */
  private static float[] accumulate(Gpt model, boolean recompute) {
    model.setRecompute(recompute);
    SplittableRandom rnd = new SplittableRandom(99);
    float[] losses = new float[2];
    for (int micro = 0; micro < 2; micro++) {
      int[] ids = new int[2 * 16], targets = new int[2 * 16];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = rnd.nextInt(CONFIG.vocabSize());
        targets[i] = rnd.nextInt(CONFIG.vocabSize());
      }
      targets[3] = Gpt.IGNORE_INDEX;
      try (Scope s = Scope.open(); Tape tape = Tape.record()) {
        Tensor loss = model.loss(Tensor.ofInts(ids, 2, 16), Tensor.ofInts(targets, 2, 16), 2 * (2 * 16 - 1));
        tape.backward(loss);
        losses[micro] = loss.toFloatArray()[0];
      }
    }
    model.setRecompute(false);
    return losses;
  }

  private static Map<String, float[]> gradients(Gpt model) {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
      Tensor g = e.getValue().grad();
      if (g != null) out.put(e.getKey(), g.toFloatArray());
    }
    return out;
  }

  /** Bytes made by the forward pass and still alive when backward would start. */
  private static long heldAfterForward(Gpt model, boolean recompute) {
    model.setRecompute(recompute);
    int b = 2, t = 64;
    int[] ids = new int[b * t];
    for (int i = 0; i < ids.length; i++) ids[i] = (i * 7) % 61;
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      Tensor in = Tensor.ofInts(ids, b, t);
      long before = MemoryStats.liveBytes(Device.CPU);
      Tensor loss = model.loss(in, in, b * t);
      long held = MemoryStats.liveBytes(Device.CPU) - before;
      tape.backward(loss);
      assertNotNull(model.namedParameters().get("transformer.h.0.mlp.c_fc.weight").grad());
      return held;
    } finally {
      model.zeroGrad();
      model.setRecompute(false);
    }
  }
}
