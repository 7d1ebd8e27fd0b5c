package ai.anvil.peft.prompt;

import static ai.anvil.peft.TinyModels.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.anvil.autograd.Tape;
import ai.anvil.models.bert.Bert;
import ai.anvil.models.bert.BertConfig;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.nn.Parameter;
import ai.anvil.peft.TinyModels;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.FiniteDifferences;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Prompt tuning of a task head's body: on BERT the prompt rows go before the word embeddings and take
 * positions 0..P-1 (PEFT's layout), padding does not reach real tokens, the states returned are the
 * sentence's; on GPT the soft prompt (and the key/value prefix) is the model's extension, taken out on
 * close. Gradients reach the prompt (central differences).
 */
class PromptedEncoderTest {
  private static Bert bert(long seed) {
    Bert b = new Bert(BertConfig.of(50, 16, 2, 2, 32).withMaxPositions(16).withDropout(0, 0), false, seed, Device.CPU);
    b.train(false);
    return b;
  }

  @Test
  void thePromptGoesBeforeTheWordsAndOnlyTheSentencesStatesComeOut() {
    int[] ids = {3, 9, 4, 7, 1};
    try (Bert bert = bert(2); SoftPrompt prompt = new SoftPrompt(bert.wordEmbeddings(), bert.vocabSize(), 3, 5)) {
      PromptedEncoder enc = new PromptedEncoder(bert, prompt);
      assertEquals(13, enc.maxLength());
      assertSame(bert, enc.taskModules().get("bert"));
      try (Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
        float[] got = enc.encode(Tensor.ofInts(ids, 1, 5), null).toFloatArray();
        // The same by hand: the prompt's rows, then the words' embeddings, through forwardEmbeds.
        float[] table = bert.wordEmbeddings().toFloatArray(), rows = new float[8 * 16];
        System.arraycopy(prompt.softPrompt().toFloatArray(), 0, rows, 0, 3 * 16);
        for (int i = 0; i < 5; i++) System.arraycopy(table, ids[i] * 16, rows, (3 + i) * 16, 16);
        float[] all = bert.forwardEmbeds(Tensor.of(rows, 1, 8, 16), null, null).toFloatArray();
        assertArrayEquals(Arrays.copyOfRange(all, 3 * 16, 8 * 16), got);
        // The prompt rows are embeddings of vocabulary tokens (PEFT's SAMPLE_VOCAB).
        float[] p0 = Arrays.copyOfRange(rows, 0, 16);
        boolean found = false;
        for (int v = 0; v < 50 && !found; v++) found = Arrays.equals(p0, Arrays.copyOfRange(table, v * 16, v * 16 + 16));
        assertEquals(true, found, "prompt row 0 is a vocabulary row");
        // A padded row gives the same states for its real tokens as the row alone.
        int[] padded = {3, 9, 4, 7, 1, 0, 0, 3, 9, 4, 7, 1, 2, 6};
        int[] mask = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1};
        float[] both = enc.encode(Tensor.ofInts(padded, 2, 7), Tensor.ofInts(mask, 2, 7)).toFloatArray();
        assertClose("padded row", got, Arrays.copyOfRange(both, 0, 5 * 16), 1e-5);
      }
      assertThrows(IllegalArgumentException.class, () -> enc.encode(Tensor.ofInts(new int[14], 1, 14), null), "past maxLength");
      assertThrows(IllegalArgumentException.class, () -> new PromptedEncoder(bert, new SoftPrompt(bert.wordEmbeddings(), 50, 16, 1)));
    }
  }

  @Test
  void gradientsReachThePrompt() {
    int[] ids = {3, 9, 4, 7, 1, 5};
    float[] r = ai.anvil.testkit.Random.toFloats(new ai.anvil.testkit.Random(3).normal(2 * 3 * 16, 1.0));
    try (Bert bert = bert(4); SoftPrompt prompt = new SoftPrompt(bert.wordEmbeddings(), bert.vocabSize(), 2, 6)) {
      bert.setTrainable(false);
      PromptedEncoder enc = new PromptedEncoder(bert, prompt);
      try (Scope s = Scope.open(); Tape tape = Tape.record()) {
        tape.backward(enc.encode(Tensor.ofInts(ids, 2, 3), null), Tensor.of(r, 2, 3, 16));
      }
      Parameter p = prompt.parameters().get(0);
      for (Parameter q : bert.parameters()) assertNull(q.grad(), q.name());
      FiniteDifferences.assertParameterGradient(p, () -> dot(enc, ids, r), 3, 1e-2, "prompt");
    }
  }

  @Test
  void aBertPrefixIsSeenByEveryQueryNeverMaskedAndGetsGradients() {
    int[] ids = {3, 9, 4, 7, 1, 5};
    float[] r = ai.anvil.testkit.Random.toFloats(new ai.anvil.testkit.Random(8).normal(2 * 3 * 16, 1.0));
    try (Bert bert = bert(6); BertPrefix prefix = new BertPrefix(bert, 3, 2)) {
      bert.setTrainable(false);
      PromptedEncoder enc = new PromptedEncoder(bert, prefix);
      assertEquals(16, enc.maxLength(), "a prefix takes no positions");
      assertEquals(2 * 2, prefix.parameters().size());
      try (Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
        float[] plain = bert.forward(Tensor.ofInts(ids, 2, 3), null, null).toFloatArray();
        float[] alone = enc.encode(Tensor.ofInts(new int[] {3, 9, 4}, 1, 3), null).toFloatArray();
        assertEquals(false, Arrays.equals(Arrays.copyOfRange(plain, 0, 3 * 16), alone), "the prefix changes the states");
        float[] padded = enc.encode(Tensor.ofInts(new int[] {3, 9, 4, 0, 7, 1, 5, 2}, 2, 4),
            Tensor.ofInts(new int[] {1, 1, 1, 0, 1, 1, 1, 1}, 2, 4)).toFloatArray();
        assertClose("padded row", alone, Arrays.copyOfRange(padded, 0, 3 * 16), 1e-5);
      }
      try (Scope s = Scope.open(); Tape tape = Tape.record()) {
        tape.backward(enc.encode(Tensor.ofInts(ids, 2, 3), null), Tensor.of(r, 2, 3, 16));
      }
      for (Parameter q : bert.parameters()) assertNull(q.grad(), q.name());
      for (Parameter p : prefix.parameters()) {
        FiniteDifferences.assertParameterGradient(p, () -> dot(enc, ids, r), 7, 1e-2, p.name());
      }
    }
  }

  @Test
  void onAGptThePromptAndThePrefixAreItsExtensionUntilClosed() {
    int[] ids = TinyModels.ids(2 * 6, 3);
    try (Gpt gpt = TinyModels.gpt(8)) {
      float[] base = TinyModels.logits(gpt, ids, 2);
      try (SoftPrompt p = SoftPrompt.attach(gpt, 4, 1)) {
        assertSame(p, gpt.extension());
        assertThrows(IllegalStateException.class, () -> KeyValuePrefix.attach(gpt, 2, 1), "one extension at a time");
        assertEquals(2 * 6 * gpt.paddedVocab(), TinyModels.logits(gpt, ids, 2).length);
      }
      assertNull(gpt.extension());
      try (KeyValuePrefix p = KeyValuePrefix.attach(gpt, 3, 1)) {
        assertEquals(3, p.prefixLength());
        assertEquals(2 * 2, p.parameters().size(), "keys and values per layer");
        assertEquals(false, Arrays.equals(base, TinyModels.logits(gpt, ids, 2)));
      }
      assertNull(gpt.extension());
      assertArrayEquals(base, TinyModels.logits(gpt, ids, 2));
    }
  }

  private static double dot(PromptedEncoder enc, int[] ids, float[] r) {
    // ids as (2, 3)
    try (Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
      float[] y = enc.encode(Tensor.ofInts(ids, 2, 3), null).toFloatArray();
      double sum = 0;
      for (int i = 0; i < y.length; i++) sum += (double) y[i] * r[i];
      return sum;
    }
  }
}
