package ai.anvil.peft.prompt;

import static ai.anvil.peft.TinyModels.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.KvCache;
import ai.anvil.peft.TinyModels;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Prompt and prefix tuning checked against what they stand for: a soft prompt equal to real tokens'
 * embeddings must give the logits of those tokens put before the text, and a prefix equal to real
 * tokens' cached keys and values must give the logits of decoding after those tokens (which is what
 * bottom-right causal alignment with Tk > Tq has to get right). Both forward paths, and the gradient.
 */
class PromptAndPrefixTest {
  private static final double TOL = 2e-5;
  private static final int P = 3, T = 5, B = 2;

  @Test
  void prefixOfCachedKeysAndValuesEqualsDecodingAfterThoseTokens() {
    try (Gpt gpt = TinyModels.gpt(11)) {
      int[] prefixIds = TinyModels.ids(P, 1), ids = TinyModels.ids(B * T, 2);
      int[] both = new int[B * P];
      for (int r = 0; r < B; r++) System.arraycopy(prefixIds, 0, both, r * P, P);
      float[] expected;
      float[][][] kv = new float[gpt.config().nLayer()][2][];
      try (Scope s = Scope.open(); KvCache cache = gpt.newCache(B, P + T)) {
        gpt.forward(Tensor.ofInts(both, Device.CPU, B, P), cache);
        int c = gpt.config().nEmbd();
        for (int l = 0; l < kv.length; l++) {
          // row 0's first P positions of the cache: (B, capacity, C)
          kv[l][0] = java.util.Arrays.copyOf(cache.keys(l).toFloatArray(), P * c);
          kv[l][1] = java.util.Arrays.copyOf(cache.values(l).toFloatArray(), P * c);
        }
        expected = gpt.forward(Tensor.ofInts(ids, Device.CPU, B, T), cache).toFloatArray();
      }
      try (PrefixTuning prefix = PrefixTuning.attach(gpt, P, 5)) {
        for (int l = 0; l < kv.length; l++) {
          prefix.keyValuePrefix(l)[0].copyFrom(kv[l][0]);
          prefix.keyValuePrefix(l)[1].copyFrom(kv[l][1]);
        }
        assertClose("prefix, training path", expected, TinyModels.logits(gpt, ids, B), TOL);
        assertClose("prefix, cached decoding", expected, TinyModels.decoded(gpt, ids, B), TOL);
      }
      assertNull(gpt.extension(), "closing takes the prefix off the model");
    }
  }

  @Test
  void softPromptOfTokenEmbeddingsEqualsThoseTokensBeforeTheText() {
    try (Gpt gpt = TinyModels.gpt(12)) {
      int[] promptIds = TinyModels.ids(P, 3), ids = TinyModels.ids(B * T, 4);
      int[] joined = new int[B * (P + T)];
      for (int r = 0; r < B; r++) {
        System.arraycopy(promptIds, 0, joined, r * (P + T), P);
        System.arraycopy(ids, r * T, joined, r * (P + T) + P, T);
      }
      float[] all = TinyModels.logits(gpt, joined, B);
      int v = gpt.paddedVocab();
      float[] expected = new float[B * T * v];
      for (int r = 0; r < B; r++) System.arraycopy(all, (r * (P + T) + P) * v, expected, r * T * v, T * v);
      float[] table = gpt.tokenEmbedding().toFloatArray();
      int c = gpt.config().nEmbd();
      float[] rows = new float[P * c];
      for (int i = 0; i < P; i++) System.arraycopy(table, promptIds[i] * c, rows, i * c, c);
      try (PromptTuning prompt = PromptTuning.attach(gpt, P, 5)) {
        prompt.softPrompt().copyFrom(rows);
        assertClose("soft prompt, training path", expected, TinyModels.logits(gpt, ids, B), TOL);
        assertClose("soft prompt, cached decoding", expected, TinyModels.decoded(gpt, ids, B), TOL);
      }
    }
  }

  @Test
  void prefixGradientMatchesCentralDifferences() {
    try (Gpt gpt = TinyModels.gpt(13); PrefixTuning prefix = PrefixTuning.attach(gpt, P, 6)) {
      int[] ids = TinyModels.ids(B * T, 7), targets = TinyModels.ids(B * T, 8);
      Tensor keys = prefix.keyValuePrefix(1)[0], values = prefix.keyValuePrefix(0)[1];
      float[] gk, gv;
      try (Scope s = Scope.open(); Tape tape = Tape.record()) {
        tape.backward(loss(gpt, ids, targets));
        gk = keys.grad().toFloatArray();
        gv = values.grad().toFloatArray();
      }
      assertTrue(gpt.namedParameters().values().stream().allMatch(p -> p.grad() == null), "the base gets no gradient");
      checkLargest(gpt, keys, gk, ids, targets);
      checkLargest(gpt, values, gv, ids, targets);
    }
  }

  @Test
  void bothSaveAndLoadInPeftLayoutWithTheSameOutputs(@TempDir Path dir) throws Exception {
    int[] ids = TinyModels.ids(B * T, 9);
    try (Gpt gpt = TinyModels.gpt(14)) {
      float[] withPrefix, withPrompt;
      try (PrefixTuning prefix = PrefixTuning.attach(gpt, P, 1)) {
        withPrefix = TinyModels.logits(gpt, ids, B);
        prefix.save(dir.resolve("prefix"));
      }
      try (PromptTuning prompt = PromptTuning.attach(gpt, 4, 2)) {
        withPrompt = TinyModels.logits(gpt, ids, B);
        prompt.save(dir.resolve("prompt"));
      }
      try (PrefixTuning prefix = PrefixTuning.load(gpt, dir.resolve("prefix"))) {
        assertEquals(P, prefix.virtualTokens());
        org.junit.jupiter.api.Assertions.assertArrayEquals(withPrefix, TinyModels.logits(gpt, ids, B));
      }
      try (PromptTuning prompt = PromptTuning.load(gpt, dir.resolve("prompt"))) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(withPrompt, TinyModels.logits(gpt, ids, B));
      }
    }
  }

  private static Tensor loss(Gpt gpt, int[] ids, int[] targets) {
    return gpt.loss(Tensor.ofInts(ids, Device.CPU, B, T), Tensor.ofInts(targets, Device.CPU, B, T), B * T);
  }

  /** Central differences (fp32, step 1e-2) on the 4 elements with the largest gradient. */
  private static void checkLargest(Gpt gpt, Tensor param, float[] grad, int[] ids, int[] targets) {
    Integer[] order = new Integer[grad.length];
    for (int i = 0; i < order.length; i++) order[i] = i;
    java.util.Arrays.sort(order, (a, b) -> Float.compare(Math.abs(grad[b]), Math.abs(grad[a])));
    float[] base = param.toFloatArray();
    double h = 1e-2;
    for (int k = 0; k < 4; k++) {
      int i = order[k];
      float[] probe = base.clone();
      probe[i] = (float) (base[i] + h);
      param.copyFrom(probe);
      double plus = eval(gpt, ids, targets);
      probe[i] = (float) (base[i] - h);
      param.copyFrom(probe);
      double minus = eval(gpt, ids, targets);
      param.copyFrom(base);
      double fd = (plus - minus) / (2 * h);
      assertEquals(fd, grad[i], 0.02 * Math.abs(fd) + 2e-4, "element " + i);
    }
  }

  private static double eval(Gpt gpt, int[] ids, int[] targets) {
    try (Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
      return loss(gpt, ids, targets).item();
    }
  }
}
