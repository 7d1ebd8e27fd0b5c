package ai.anvil.models.t5;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.infer.Sampler;
import ai.anvil.infer.SamplingConfig;
import ai.anvil.infer.Seq2seqGenerator;
import ai.anvil.models.heads.Pool;
import ai.anvil.models.heads.SequenceClassifier;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.Assertions;
import ai.anvil.testkit.OneCpuThread;
import ai.anvil.testkit.Tolerance;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The encoder-decoder: names and count, gradients of every parameter against central differences,
 * cached decoding against the full teacher-forced forward, key-padding masks, save and load.
 */
@ExtendWith(OneCpuThread.class)
class T5Test {
  private static final Device CPU = Device.CPU;
  /** vocabulary 70 (padded to 128), 32 wide, 2 heads, 2 + 2 layers, 16 positions; pad 0, eos 1. */
  static final T5Config SMALL = T5Config.of(70, 32, 2, 2, 16, 0, 1);
  @Test
  void namesAndCount() {
    try (T5 model = new T5(SMALL, 1, CPU)) {
      Map<String, Parameter> p = model.namedParameters();
      for (String name : List.of("shared.weight", "encoder.embed_positions.weight",
          "encoder.block.1.layer.0.SelfAttention.q.weight", "encoder.block.1.layer.1.DenseReluDense.wo.weight",
          "encoder.block.0.layer.1.layer_norm.weight", "encoder.final_layer_norm.weight",
          "decoder.block.1.layer.1.EncDecAttention.k.weight", "decoder.block.0.layer.2.DenseReluDense.wi.weight",
          "decoder.block.0.layer.2.layer_norm.weight", "decoder.final_layer_norm.weight")) {
        assertTrue(p.containsKey(name), name);
      }
      assertTrue(!p.containsKey("lm_head.weight") && model.lmHeadWeight() == model.sharedEmbedding(), "tied head");
      assertArrayEquals(new long[] {128, 32}, model.sharedEmbedding().dims());
      assertArrayEquals(new long[] {128, 32}, p.get("decoder.block.0.layer.2.DenseReluDense.wi.weight").value().dims());
      assertEquals(SMALL.parameterCount() + (128 - 70) * 32, model.parameterCount(false));
    }
    try (T5 untied = new T5(SMALL.withTiedEmbeddings(false), 1, CPU)) {
      assertEquals(SMALL.withTiedEmbeddings(false).parameterCount() + 2 * (128 - 70) * 32, untied.parameterCount(false));
    }
  }

  /** A batch of 2: sources of 9 and 6 real tokens (the second padded, masked), targets of 7. */
  private record Example(Tensor inputs, Tensor mask, Tensor decoderInputs, Tensor targets) {}

  private static Example example(int seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] in = new int[18], mask = new int[18], dec = new int[14], tgt = new int[14];
    for (int i = 0; i < 18; i++) {
      boolean real = i < 9 || i - 9 < 6;
      in[i] = real ? 2 + r.nextInt(68) : 0;
      mask[i] = real ? 1 : 0;
    }
    for (int i = 0; i < 14; i++) tgt[i] = 2 + r.nextInt(68);
    tgt[13] = -1;                                                     // an ignored target
    for (int row = 0; row < 2; row++) {
      dec[row * 7] = 0;
      for (int j = 1; j < 7; j++) dec[row * 7 + j] = tgt[row * 7 + j - 1] < 0 ? 0 : tgt[row * 7 + j - 1];
    }
    return new Example(Tensor.ofInts(in, CPU, 2, 9), Tensor.ofInts(mask, CPU, 2, 9), Tensor.ofInts(dec, CPU, 2, 7),
        Tensor.ofInts(tgt, CPU, 2, 7));
  }

  private static double loss(T5 model, Example ex) {
    try (Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      return model.loss(ex.inputs, ex.mask, ex.decoderInputs, ex.targets, 13).item();
    }
  }

  @Test
  void everyParameterGradientMatchesCentralDifferences() {
    try (Scope outer = Scope.open(); T5 model = new T5(SMALL.withTiedEmbeddings(false), 3, CPU)) {
      // Larger weights than the init make every path (cross-attention included) matter to the loss.
      SplittableRandom r = new SplittableRandom(5);
      for (Parameter p : model.parameters()) {
        float[] v = p.value().toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] += (float) (0.15 * r.nextGaussian());
        p.value().copyFrom(v);
      }
      Example ex = example(9);
      model.zeroGrad();
      try (Scope s = Scope.open(); Tape tape = Tape.record()) {
        tape.backward(model.loss(ex.inputs, ex.mask, ex.decoderInputs, ex.targets, 13));
      }
      double h = 1e-2;
      for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
        Tensor w = e.getValue().value();
        float[] base = w.toFloatArray(), grad = e.getValue().grad().toFloatArray();
        double[] u = new double[base.length];
        double norm = 0, analytic = 0;
        for (int i = 0; i < u.length; i++) {
          u[i] = r.nextGaussian();
          norm += u[i] * u[i];
        }
        for (int i = 0; i < u.length; i++) {
          u[i] /= Math.sqrt(norm);                                    // a unit direction: h is the step length
          analytic += u[i] * grad[i];
        }
        double[] at = new double[2];
        for (int side = 0; side < 2; side++) {
          float[] moved = base.clone();
          for (int i = 0; i < u.length; i++) moved[i] += (float) ((side == 0 ? h : -h) * u[i]);
          w.copyFrom(moved);
          at[side] = loss(model, ex);
        }
        w.copyFrom(base);
        double numeric = (at[0] - at[1]) / (2 * h);
        assertEquals(numeric, analytic, 1e-4 + 1e-2 * Math.abs(numeric), e.getKey() + ": directional derivative");
      }
    }
  }

  @Test
  void cachedDecodingEqualsTheFullForwardAtEveryStep() {
    try (Scope s = Scope.open(); T5 model = new T5(SMALL, 4, CPU)) {
      model.train(false);
      Example ex = example(2);
      Tensor full = model.logits(ex.inputs, ex.mask, ex.decoderInputs);                    // (2, 7, 128)
      int vp = SMALL.paddedVocab();
      float[] expected = full.toFloatArray();
      try (T5DecodeCache cache = model.newCache(ex.inputs, ex.mask, 7)) {
        int[] dec = ex.decoderInputs.toIntArray();
        // A prefill of 3 positions, then one token at a time.
        float[] got = new float[expected.length];
        int[] spans = {3, 1, 1, 1, 1};
        int at = 0;
        for (int len : spans) {
          int[] ids = new int[2 * len];
          for (int row = 0; row < 2; row++) System.arraycopy(dec, row * 7 + at, ids, row * len, len);
          float[] step = model.decode(Tensor.ofInts(ids, CPU, 2, len), cache).toFloatArray();
          for (int row = 0; row < 2; row++) System.arraycopy(step, row * len * vp, got, (row * 7 + at) * vp, len * vp);
          at += len;
        }
        assertEquals(7, cache.length());
        double[] exp = new double[expected.length];
        for (int i = 0; i < exp.length; i++) exp[i] = expected[i];
        Assertions.assertClose("cached vs full logits", exp, got, Tolerance.F32_REDUCTION);
        assertThrows(IllegalArgumentException.class, () -> model.decode(Tensor.ofInts(new int[] {2, 2}, CPU, 2, 1), cache),
            "the cache is full");
      }
    }
  }

  @Test
  void greedyGenerationIsTheArgmaxOfTheFullForward() {
    try (Scope s = Scope.open(); T5 model = new T5(SMALL, 6, CPU)) {
      model.train(false);
      int[] a = {5, 9, 14, 2, 33, 1}, b = {7, 7, 40, 1};
      List<int[]> outs = new Seq2seqGenerator(model).generate(List.of(a, b),
          new SamplingConfig(10, 0.0, 0, 1.0, 0, List.of(), List.of(), false));
      int vp = SMALL.paddedVocab();
      for (int row = 0; row < 2; row++) {
        int[] src = row == 0 ? a : b, out = outs.get(row);
        assertEquals(10, out.length, "without eos stopping every step is kept");
        int[] dec = new int[out.length];
        dec[0] = SMALL.decoderStartId();
        System.arraycopy(out, 0, dec, 1, out.length - 1);
        float[] logits = model.logits(Tensor.ofInts(src, CPU, 1, src.length), null, Tensor.ofInts(dec, CPU, 1, dec.length))
            .toFloatArray();
        for (int t = 0; t < out.length; t++) {
          assertEquals(Sampler.argmax(logits, t * vp, SMALL.vocabSize()), out[t], "row " + row + " step " + t);
        }
      }
      // The same source alone (no padding) gives the same tokens: the key mask hides the padding.
      assertArrayEquals(outs.get(1), new Seq2seqGenerator(model).generate(b,
          new SamplingConfig(10, 0.0, 0, 1.0, 0, List.of(), List.of(), false)));
      // Sampling is seeded.
      SamplingConfig hot = SamplingConfig.sample(8, 1.0, 42);
      assertArrayEquals(new Seq2seqGenerator(model).generate(a, hot), new Seq2seqGenerator(model).generate(a, hot));
    }
  }

  @Test
  void paddingTheSourceChangesNothing() {
    try (Scope s = Scope.open(); T5 model = new T5(SMALL, 8, CPU)) {
      model.train(false);
      int[] src = {4, 8, 15, 16, 23, 42, 1};
      int[] dec = {0, 3, 5, 7};
      float[] alone = model.logits(Tensor.ofInts(src, CPU, 1, 7), null, Tensor.ofInts(dec, CPU, 1, 4)).toFloatArray();
      int[] padded = Arrays.copyOf(src, 11);
      int[] mask = new int[11];
      Arrays.fill(mask, 0, 7, 1);
      for (int i = 7; i < 11; i++) padded[i] = 50 + i;                                 // garbage behind the mask
      float[] masked = model.logits(Tensor.ofInts(padded, CPU, 1, 11), Tensor.ofInts(mask, CPU, 1, 11),
          Tensor.ofInts(dec, CPU, 1, 4)).toFloatArray();
      double[] exp = new double[alone.length];
      for (int i = 0; i < exp.length; i++) exp[i] = alone[i];
      Assertions.assertClose("padded source", exp, masked, Tolerance.F32_REDUCTION);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> model.encode(Tensor.ofInts(src, CPU, 1, 7), Tensor.ofInts(new int[7], CPU, 1, 7)));
      assertTrue(e.getMessage().contains("no real token"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> model.encode(Tensor.ofInts(new int[] {3, 70}, CPU, 1, 2), null));
      assertTrue(e.getMessage().contains("token id 70"), e.getMessage());
    }
  }

  @Test
  void saveThenLoadGivesTheSameLogits(@TempDir Path dir) throws IOException {
    T5Config untied = SMALL.withTiedEmbeddings(false).withDropout(0.1);
    try (Scope s = Scope.open(); T5 model = new T5(untied, 10, CPU)) {
      model.train(false);
      Example ex = example(3);
      float[] before = model.logits(ex.inputs, ex.mask, ex.decoderInputs).toFloatArray();
      model.save(dir);
      assertTrue(Files.readString(dir.resolve("config.json")).contains("\"num_decoder_layers\""));
      try (T5 loaded = T5Checkpoint.load(dir, CPU)) {
        loaded.train(false);
        assertEquals(untied, loaded.config());
        assertArrayEquals(before, loaded.logits(ex.inputs, ex.mask, ex.decoderInputs).toFloatArray());
      }
      Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json")).replace("\"d_model\": 32", "\"d_model\": 64"));
      IOException bad = assertThrows(IOException.class, () -> T5Checkpoint.load(dir, CPU));
      assertTrue(bad.getMessage().contains("shape"), bad.getMessage());
    }
  }

  @Test
  void theEncoderCarriesATaskHead() {
    try (Scope s = Scope.open(); T5 model = new T5(SMALL, 12, CPU)) {
      SequenceClassifier head = new SequenceClassifier(model, SequenceClassifier.defaultLabels(3), Pool.MEAN, 0.0, 1);
      head.train(false);
      assertTrue(head.namedParameters().containsKey("encoder.block.1.layer.0.SelfAttention.q.weight"));
      assertTrue(head.namedParameters().keySet().stream().noneMatch(n -> n.startsWith("decoder.")), "the body is the encoder");
      int[] src = {4, 8, 15, 16, 23};
      float[] alone = head.logits(Tensor.ofInts(src, CPU, 1, 5), null).toFloatArray();
      int[] padded = {4, 8, 15, 16, 23, 9, 9, 9}, mask = {1, 1, 1, 1, 1, 0, 0, 0};
      float[] masked = head.logits(Tensor.ofInts(padded, CPU, 1, 8), Tensor.ofInts(mask, CPU, 1, 8)).toFloatArray();
      double[] exp = new double[alone.length];
      for (int i = 0; i < exp.length; i++) exp[i] = alone[i];
      Assertions.assertClose("classifier on a padded source", exp, masked, Tolerance.F32_REDUCTION);
    }
  }
}
