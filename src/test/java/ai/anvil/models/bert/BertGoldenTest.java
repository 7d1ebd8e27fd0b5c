package ai.anvil.models.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Ops;
import ai.anvil.autograd.Tape;
import ai.anvil.io.Safetensors;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.OneCpuThread;
import ai.anvil.train.AdamW;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.AssertionFailedError;

/**
 * A tiny BertForMaskedLM against Hugging Face transformers (golden/bert, made by
 * tools/golden/make_bert_golden.py in float64 from the fp32 weights it saved): the HF-written checkpoint
 * loads; logits, loss and every parameter's gradient of one padded, two-segment batch; the losses of 10
 * AdamW steps and the logits after them; the BertModel view (hidden states, tanh pooler, mean pooling).
 *
 * <p>Every tensor must match within 1e-5 relative to its largest reference value (max |a - e| <= 1e-5 *
 * max |e|; elementwise relative error is meaningless for gradient entries that are nearly zero), scalars
 * (loss, the 10 losses) within 1e-5 relative. The key biases' gradients are analytically zero (softmax
 * ignores a constant added to a row of scores), so what both sides hold there is rounding noise (HF's
 * own fp32 run has 1.3e-8): they must stay below 1e-5 of the same layer's key-weight gradient instead. With {@code -Danvil.golden.export=DIR} the trained model
 * and the BertModel view are saved into DIR/mlm and DIR/base for the script's {@code --check}.
 */
@ExtendWith(OneCpuThread.class)
class BertGoldenTest {
  static final Path DIR = Path.of("src/test/resources/golden/bert");
  static final double REL = 1e-5;
  /** max |a - e| / max |e| over a tensor, throwing past REL; returns the measured error. */
  static double check(String what, float[] expected, float[] actual, double rel) {
    assertEquals(expected.length, actual.length, what + " length");
    double maxE = 0, maxErr = 0;
    int at = 0;
    for (int i = 0; i < expected.length; i++) {
      maxE = Math.max(maxE, Math.abs(expected[i]));
      double err = Math.abs((double) actual[i] - expected[i]);
      if (err > maxErr) {
        maxErr = err;
        at = i;
      }
    }
    double measured = maxErr / Math.max(maxE, 1e-30);
    if (measured > rel) {
      throw new AssertionFailedError(String.format("%s: max |error| %.3e at %d (%.9g vs %.9g) is %.3e of max |ref| %.3e, over %.0e",
          what, maxErr, at, (double) actual[at], (double) expected[at], measured, maxE, rel));
    }
    return measured;
  }

  record Batch(Tensor ids, Tensor types, Tensor mask, Tensor labels, long scored) {}

  static Batch batch(Safetensors.Reader g) throws IOException {
    long[] shape = g.entry("input_ids").shape();
    Tensor labels = Tensor.ofInts(g.ints("labels"), shape);
    return new Batch(Tensor.ofInts(g.ints("input_ids"), shape), Tensor.ofInts(g.ints("token_type_ids"), shape),
        Tensor.ofInts(g.ints("attention_mask"), shape), labels, Ops.countTargets(labels, BertForMaskedLM.IGNORE_INDEX));
  }

  @Test
  void matchesTransformers(@TempDir Path tmp) throws IOException {
    StringBuilder report = new StringBuilder();
    try (Safetensors.Reader g = Safetensors.Reader.open(DIR.resolve("golden.safetensors"));
         BertForMaskedLM model = BertCheckpoint.loadMaskedLM(DIR, Device.CPU);
         Scope scope = Scope.open()) {
      Batch b = batch(g);
      assertEquals(42, model.namedParameters().size());

      // Logits, loss and every gradient of one batch.
      try (Scope step = Scope.open(); Tape tape = Tape.record()) {
        Tensor logits = model.logits(b.ids(), b.types(), b.mask());
        Tensor loss = Ops.crossEntropy(logits, b.labels(), model.config().vocabSize(), BertForMaskedLM.IGNORE_INDEX, b.scored());
        tape.backward(loss);
        report.append(String.format("logits %.2e, ", check("logits", g.floats("logits"), logits.toFloatArray(), REL)));
        report.append(String.format("loss %.2e, ", check("loss", g.floats("loss"), new float[] {loss.item()}, REL)));
      }
      double worstGrad = 0;
      String worstName = "";
      for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
        float[] expected = g.floats("grad." + e.getKey());
        float[] actual = e.getValue().grad().toFloatArray();
        if (e.getKey().endsWith("attention.self.key.bias")) {
          // Analytically zero: both sides hold rounding noise, bounded against the key weight's scale.
          float[] keyWeight = g.floats("grad." + e.getKey().replace("key.bias", "key.weight"));
          double scale = 0, noise = 0;
          for (float v : keyWeight) scale = Math.max(scale, Math.abs(v));
          for (float v : actual) noise = Math.max(noise, Math.abs(v));
          assertTrue(noise <= REL * scale, e.getKey() + ": |grad| " + noise + " is not noise next to " + scale);
          continue;
        }
        double err = check("grad " + e.getKey(), expected, actual, REL);
        if (err > worstGrad) {
          worstGrad = err;
          worstName = e.getKey();
        }
      }
      report.append(String.format("worst gradient %.2e (%s), ", worstGrad, worstName));

      // A save/load round trip gives bit-identical logits.
      BertCheckpoint.save(model, tmp.resolve("mlm"));
      try (BertForMaskedLM back = BertCheckpoint.loadMaskedLM(tmp.resolve("mlm"), Device.CPU);
           Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
        assertArrayEquals(model.logits(b.ids(), b.types(), b.mask()).toFloatArray(),
            back.logits(b.ids(), b.types(), b.mask()).toFloatArray());
      }

      // Ten AdamW steps (decay on weights of rank >= 2, as the script's parameter groups).
      model.zeroGrad();
      Map<String, String> meta = g.metadata();
      float[] losses = new float[10];
      try (AdamW opt = new AdamW(model.namedParameters(), Double.parseDouble(meta.get("beta1")),
          Double.parseDouble(meta.get("beta2")), Double.parseDouble(meta.get("eps")), Double.parseDouble(meta.get("weight_decay")))) {
        for (int i = 0; i < losses.length; i++) {
          try (Scope step = Scope.open(); Tape tape = Tape.record()) {
            Tensor loss = model.loss(b.ids(), b.types(), b.mask(), b.labels(), b.scored());
            tape.backward(loss);
            losses[i] = loss.item();
          }
          opt.step(Double.parseDouble(meta.get("lr")), 1.0);
          model.zeroGrad();
        }
      }
      float[] expectedLosses = g.floats("adamw_losses");
      double worstLoss = 0;
      for (int i = 0; i < losses.length; i++) {
        worstLoss = Math.max(worstLoss, check("AdamW loss " + i, new float[] {expectedLosses[i]}, new float[] {losses[i]}, REL));
      }
      assertTrue(losses[9] < 0.5 * losses[0], "the model learns: " + java.util.Arrays.toString(losses));
      report.append(String.format("AdamW losses %.2e, ", worstLoss));
      try (Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
        report.append(String.format("trained logits %.2e, ", check("logits after 10 steps", g.floats("trained.logits"),
            model.logits(b.ids(), b.types(), b.mask()).toFloatArray(), REL)));
      }

      // The BertModel view: the initial encoder weights plus the golden pooler.
      try (BertForMaskedLM initial = BertCheckpoint.loadMaskedLM(DIR, Device.CPU);
           Bert base = new Bert(initial.config(), true, 5, Device.CPU)) {
        Map<String, Parameter> from = initial.namedParameters();
        for (Map.Entry<String, Parameter> e : base.namedParameters().entrySet()) {
          float[] v = e.getKey().startsWith("pooler.") ? g.floats(e.getKey()) : from.get("bert." + e.getKey()).value().toFloatArray();
          e.getValue().value().copyFrom(v);
        }
        base.train(false);
        try (Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
          Tensor hidden = base.forward(b.ids(), b.types(), b.mask());
          report.append(String.format("hidden %.2e, ", check("base hidden", g.floats("base.hidden"), hidden.toFloatArray(), REL)));
          report.append(String.format("pooled %.2e, ", check("base pooled", g.floats("base.pooled"),
              base.pooledOutput(hidden).toFloatArray(), REL)));
          report.append(String.format("mean %.2e", check("base mean pooling", g.floats("base.mean"),
              Pooling.mean(hidden, b.mask()).toFloatArray(), REL)));
        }
        String export = System.getProperty("anvil.golden.export");
        if (export != null) {
          BertCheckpoint.save(model, Path.of(export, "mlm"));
          BertCheckpoint.save(base, Path.of(export, "base"));
        }
      }
      System.out.println("BertGoldenTest, max error / max |reference|: " + report);
    }
  }
}
