package ai.anvil.peft.adapter;

import static ai.anvil.peft.TinyModels.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Tape;
import ai.anvil.models.bert.Bert;
import ai.anvil.models.bert.BertConfig;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.nn.Init;
import ai.anvil.nn.Linear;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.Layers;
import ai.anvil.peft.TinyModels;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.FiniteDifferences;
import ai.anvil.testkit.Random;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Houlsby adapters on any body through LinearDelta: they sit on exactly the sublayer output projections,
 * start as the identity, and the fused term (down applied to the frozen layer's weight instead of to its
 * output) equals h + up(gelu(down(h))) computed the plain way, forward and in every gradient; the
 * gradients are also checked against central differences.
 */
class OutputAdaptersTest {
  static Bert tinyBert(long seed) {
    Bert b = new Bert(BertConfig.of(50, 16, 2, 2, 32).withMaxPositions(16).withDropout(0, 0), false, seed, Device.CPU);
    b.train(false);
    return b;
  }

  static float[] hidden(Bert bert, int[] ids, int rows) {
    try (Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
      return bert.forward(Tensor.ofInts(ids, rows, ids.length / rows), null, null).toFloatArray();
    }
  }

  @Test
  void sitOnTheSublayerOutputsOfBertAndGptAndStartAsTheIdentity() {
    int[] ids = {1, 5, 9, 2, 7, 3, 4, 8};
    try (Bert bert = tinyBert(3)) {
      float[] base = hidden(bert, ids, 2);
      try (OutputAdapters a = OutputAdapters.attach(bert, n -> true, 4, 1)) {
        assertEquals(List.of("encoder.layer.0.attention.output.dense", "encoder.layer.0.output.dense",
            "encoder.layer.1.attention.output.dense", "encoder.layer.1.output.dense"), a.layerNames());
        assertEquals(4 * (16 * 4 + 4 + 4 * 16 + 16), a.parameterCount(true));
        assertArrayEquals(base, hidden(bert, ids, 2), "up starts at zero");
        for (Parameter p : a.parameters()) TinyModels.randomize(p.value(), 0.3, p.name().hashCode());
        assertFalse(java.util.Arrays.equals(base, hidden(bert, ids, 2)));
        assertThrows(IllegalStateException.class, () -> OutputAdapters.attach(bert, n -> true, 4, 1), "a second set on the same layers");
      }
      for (Linear l : Layers.linears(bert).values()) assertNull(l.delta());
      assertArrayEquals(base, hidden(bert, ids, 2), "closing detaches");
    }
    try (Gpt gpt = TinyModels.gpt(5); OutputAdapters a = OutputAdapters.attach(gpt, n -> true, 4, 1)) {
      assertEquals(List.of("transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj", "transformer.h.1.attn.c_proj",
          "transformer.h.1.mlp.c_proj"), a.layerNames());
    }
    try (Bert bert = tinyBert(3)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OutputAdapters.attach(bert, n -> false, 4, 1));
      assertTrue(e.getMessage().contains("no sublayer output projection"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> OutputAdapters.attach(bert, n -> true, 0, 1));
    }
  }

  @Test
  void theFusedTermEqualsThePlainAdapterWithItsGradients() {
    Init init = new Init(9);
    try (Linear layer = new Linear(12, 8, true, 0.3, init, Device.CPU);
         Bottleneck fused = new Bottleneck(8, 3, init, Device.CPU);
         Bottleneck plain = new Bottleneck(8, 3, init, Device.CPU)) {
      TinyModels.randomize(layer.bias(), 0.5, 2);
      long seed = 20;
      for (Parameter p : fused.parameters()) TinyModels.randomize(p.value(), 0.4, seed++);
      for (int i = 0; i < fused.parameters().size(); i++) plain.parameters().get(i).value().copyFrom(fused.parameters().get(i).value().toFloatArray());
      layer.setTrainable(false);
      float[] x = Random.toFloats(new Random(4).normal(2 * 5 * 12, 1.0));
      float[] r = Random.toFloats(new Random(5).normal(2 * 5 * 8, 1.0));
      float[] yFused, yPlain;
      float[] dxFused, dxPlain;
      try (Input in = new Input(x); Scope s = Scope.open(); Tape tape = Tape.record()) {
        Tensor y = Ops.add(Ops.linear(in.x, layer.weight(), layer.bias()), fused.termAfter(layer, in.x));
        yFused = y.toFloatArray();
        tape.backward(y, Tensor.of(r, 2, 5, 8));
        dxFused = in.parameters().get(0).grad().toFloatArray();
      }
      try (Input in = new Input(x); Scope s = Scope.open(); Tape tape = Tape.record()) {
        Tensor y = plain.forward(Ops.linear(in.x, layer.weight(), layer.bias()));
        yPlain = y.toFloatArray();
        tape.backward(y, Tensor.of(r, 2, 5, 8));
        dxPlain = in.parameters().get(0).grad().toFloatArray();
      }
      assertClose("output", yPlain, yFused, 1e-5);
      assertClose("input gradient", dxPlain, dxFused, 1e-5);
      for (int i = 0; i < fused.parameters().size(); i++) {
        Parameter a = fused.parameters().get(i), b = plain.parameters().get(i);
        assertClose(a.name() + " gradient", b.grad().toFloatArray(), a.grad().toFloatArray(), 1e-5);
      }
      for (Parameter p : layer.parameters()) assertNull(p.grad(), "the frozen layer gets no gradient");
      // Central differences on the fused path for down.weight (the product with the layer's weight).
      Parameter down = fused.parameters().get(0);
      FiniteDifferences.assertParameterGradient(down, () -> objective(layer, fused, x, r), 5, 1e-2, "down.weight");
    }
  }

  private static double objective(Linear layer, Bottleneck b, float[] x, float[] r) {
    try (Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
      Tensor xt = Tensor.of(x, 2, 5, 12);
      float[] y = Ops.add(Ops.linear(xt, layer.weight(), layer.bias()), b.termAfter(layer, xt)).toFloatArray();
      double sum = 0;
      for (int i = 0; i < y.length; i++) sum += (double) y[i] * r[i];
      return sum;
    }
  }

  /** The input x (2, 5, 12) as a trainable parameter, so its gradient is kept. */
  private static final class Input extends ai.anvil.nn.Module {
    final Tensor x;

    Input(float[] values) {
      x = parameter("x", Tensor.of(values, 2, 5, 12));
    }
  }
}
