package ai.anvil.train.mlm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.data.masking.MaskedLm;
import ai.anvil.data.masking.MlmVocabulary;
import ai.anvil.data.tokenizer.CharTokenizer;
import ai.anvil.models.bert.Bert;
import ai.anvil.models.bert.BertConfig;
import ai.anvil.models.heads.LmHead;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.testkit.OneCpuThread;
import ai.anvil.train.Batch;
import ai.anvil.train.HeadObjectives;
import ai.anvil.train.Objective;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Masked-LM batches: rows padded to the batch's longest with a key mask, reproducible from the cursor;
 * and the loss over an accumulation window of unequal, padded micro-batches equals the loss of the
 * rows together (same chosen tokens, one normalizer), gradients included.
 */
@ExtendWith(OneCpuThread.class)
class MaskedBatchesTest {
  static final String TEXT = "In the beginning God created the heaven and the earth.\nAnd the earth was without form, and void.\n"
      + "And God said, Let there be light: and there was light.\nAnd God saw the light, that it was good.\n";
  @Test
  void rowsArePaddedToTheLongestAndResumeExactly() {
    CharTokenizer chars = CharTokenizer.fromText(TEXT);
    MlmVocabulary vocab = MlmVocabulary.of(chars);
    MlmRows rows = MlmRows.of(TEXT, chars, vocab, 40);
    // 4 lines, the long ones cut into pieces of 38 characters: every row within the block, text kept whole.
    int total = 0;
    for (int[] r : rows.train()) {
      assertTrue(r.length <= 40);
      assertEquals(vocab.clsId(), r[0]);
      assertEquals(vocab.sepId(), r[r.length - 1]);
      total += r.length - 2;
    }
    for (int[] r : rows.val()) total += r.length - 2;
    assertEquals(TEXT.replace("\n", "").length(), total);

    MaskedBatches batches = new MaskedBatches(rows.train(), 5, new MaskedLm(vocab, 0.15), 9);
    Batch b = batches.next();
    long[] cursor = batches.cursor();
    Batch next = batches.next();
    int longest = 0;
    for (int r = 0; r < b.rows(); r++) {
      int len = 0;
      while (len < b.cols() && b.keyMask()[r * b.cols() + len] == 1) len++;
      for (int c = len; c < b.cols(); c++) {
        assertEquals(0, b.keyMask()[r * b.cols() + c]);
        assertEquals(vocab.padId(), b.inputs()[r * b.cols() + c]);
        assertEquals(MaskedLm.IGNORE_INDEX, b.targets()[r * b.cols() + c]);
      }
      longest = Math.max(longest, len);
    }
    assertEquals(b.cols(), longest);
    batches.restore(cursor);
    Batch again = batches.next();
    assertArrayEquals(next.inputs(), again.inputs());
    assertArrayEquals(next.targets(), again.targets());
    assertThrows(IllegalArgumentException.class, () -> batches.restore(new long[] {8, 0}));
  }

  @Test
  void accumulatedPaddedMicroBatchesEqualOneBatch() {
    MlmVocabulary vocab = MlmVocabulary.forCharacters(30);
    BertConfig c = BertConfig.of(vocab.vocabSize(), 16, 2, 2, 32).withMaxPositions(16).withDropout(0, 0);
    // Two micro-batches of unequal lengths (5 and 9 columns), masked by hand so both hold chosen tokens.
    int[] a = {32, 3, 31, 7, 33, 32, 4, 5, 33, vocab.padId()};                  // 2 x 5, row 2 padded once
    int[] aMask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    int[] aTargets = {-100, -100, 11, -100, -100, -100, 4, -100, -100, -100};
    int[] b = {32, 1, 2, 31, 4, 5, 31, 7, 33};                                  // 1 x 9
    int[] bTargets = {-100, 1, -100, 20, -100, -100, 9, -100, -100};
    long normalizer = 5;                                                        // 2 + 3 chosen tokens
    Batch micro1 = new Batch(2, 5, a, aTargets, aMask, null);
    Batch micro2 = new Batch(1, 9, b, bTargets, null, null);
    // The same three rows as one batch padded to 9 columns.
    int[] all = new int[27], allMask = new int[27], allTargets = new int[27];
    java.util.Arrays.fill(all, vocab.padId());
    java.util.Arrays.fill(allTargets, -100);
    for (int r = 0; r < 2; r++) {
      for (int j = 0; j < 5; j++) {
        all[r * 9 + j] = a[r * 5 + j];
        allMask[r * 9 + j] = aMask[r * 5 + j];
        allTargets[r * 9 + j] = aTargets[r * 5 + j];
      }
    }
    System.arraycopy(b, 0, all, 18, 9);
    System.arraycopy(bTargets, 0, allTargets, 18, 9);
    java.util.Arrays.fill(allMask, 18, 27, 1);
    Batch whole = new Batch(3, 9, all, allTargets, allMask, null);
    assertEquals(normalizer, micro1.countTargets(-100) + micro2.countTargets(-100));
    assertEquals(normalizer, whole.countTargets(-100));

    try (LmHead head = LmHead.on(new Bert(c, false, 3, Device.CPU), 4)) {
      Objective objective = HeadObjectives.of(head);
      head.train(false);
      double split = lossAndGrads(head, objective, normalizer, micro1, micro2);
      Map<String, float[]> splitGrads = grads(head);
      double joint = lossAndGrads(head, objective, normalizer, whole);
      Map<String, float[]> jointGrads = grads(head);
      assertEquals(joint, split, 1e-5);
      assertTrue(joint > 1, "a fresh model's loss is near ln(34), got " + joint);
      for (String name : jointGrads.keySet()) {
        float[] x = jointGrads.get(name), y = splitGrads.get(name);
        double max = 0;
        for (float v : x) max = Math.max(max, Math.abs(v));
        for (int i = 0; i < x.length; i++) assertEquals(x[i], y[i], 1e-5 + 1e-4 * max, name + "[" + i + "]");
      }
    }
  }

  private static double lossAndGrads(LmHead head, Objective objective, long normalizer, Batch... micro) {
    head.zeroGrad();
    double loss = 0;
    for (Batch m : micro) {
      try (Scope s = Scope.open(); Tape tape = Tape.record()) {
        var l = objective.loss(m, Device.CPU, normalizer);
        loss += l.item();
        tape.backward(l);
      }
    }
    return loss;
  }

  private static Map<String, float[]> grads(LmHead head) {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (Map.Entry<String, Parameter> e : head.namedParameters().entrySet()) {
      if (e.getValue().grad() != null) out.put(e.getKey(), e.getValue().grad().toFloatArray());
    }
    List<String> missing = new ArrayList<>();
    for (String n : head.namedParameters().keySet()) if (!out.containsKey(n)) missing.add(n);
    assertTrue(missing.isEmpty() || missing.stream().allMatch(n -> n.contains("token_type")), "no gradient: " + missing);
    return out;
  }
}
