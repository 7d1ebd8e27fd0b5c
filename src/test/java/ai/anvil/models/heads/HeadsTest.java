package ai.anvil.models.heads;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import ai.anvil.models.bert.Bert;
import ai.anvil.models.bert.BertCheckpoint;
import ai.anvil.models.bert.BertConfig;
import ai.anvil.models.bert.BertForMaskedLM;
import ai.anvil.models.gpt.Gpt;
import ai.anvil.models.gpt.GptConfig;
import ai.anvil.models.t5.T5;
import ai.anvil.models.t5.T5Config;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.testkit.OneCpuThread;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Task heads on BERT and GPT bodies: HF names, padding that changes nothing, save/load round trips in HF
 * task layout, gradients against central differences.
 */
@ExtendWith(OneCpuThread.class)
class HeadsTest {
  static final Device CPU = Device.CPU;
  static final BertConfig BERT = BertConfig.of(50, 16, 2, 2, 24).withMaxPositions(16).withDropout(0, 0);
  static final GptConfig GPT = GptConfig.of(2, 2, 16, 16, 50);
  static final List<String> LABELS = List.of("neg", "pos", "mixed");
  @Test
  void namesAreHuggingFacesTaskNames() {
    try (SequenceClassifier bert = new SequenceClassifier(new Bert(BERT, true, 1, CPU), LABELS, Pool.POOLER, 0.1, 2);
         SequenceClassifier gpt = new SequenceClassifier(new Gpt(GPT, 1, CPU), LABELS, Pool.LAST, 0.1, 2);
         TokenClassifier tok = new TokenClassifier(new Bert(BERT, false, 1, CPU), LABELS, 0.1, 2);
         LmHead lm = LmHead.on(new Bert(BERT, false, 1, CPU), 3);
         BertForMaskedLM hf = new BertForMaskedLM(BERT, 1, CPU)) {
      List<String> names = new ArrayList<>(bert.namedParameters().keySet());
      assertEquals("bert.embeddings.word_embeddings.weight", names.get(0));
      assertTrue(names.contains("bert.pooler.dense.weight"));
      assertEquals(List.of("classifier.weight", "classifier.bias"), new ArrayList<>(bert.headParameters().keySet()));
      assertEquals(List.of("score.weight"), new ArrayList<>(gpt.headParameters().keySet()));
      assertTrue(gpt.namedParameters().containsKey("transformer.h.0.attn.c_attn.weight"));
      assertEquals(List.of(3L, 16L), List.of(tok.classifier().weight().dims()[0], tok.classifier().weight().dims()[1]));
      // The BERT LM head has exactly BertForMaskedLM's parameters (plus nothing).
      assertEquals(new ArrayList<>(hf.namedParameters().keySet()), new ArrayList<>(lm.namedParameters().keySet()));
      assertEquals("BertForSequenceClassification", bert.architecture());
      assertEquals("GPT2ForSequenceClassification", gpt.architecture());
      assertEquals("BertForMaskedLM", lm.architecture());
    }
  }

  @Test
  void badInputsAreRefusedByName() {
    try (SequenceClassifier gpt = new SequenceClassifier(new Gpt(GPT, 1, CPU), LABELS, Pool.LAST, 0, 2);
         Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      IllegalArgumentException pooler = assertThrows(IllegalArgumentException.class,
          () -> new SequenceClassifier(gpt.body(), LABELS, Pool.POOLER, 0, 1));
      assertTrue(pooler.getMessage().contains("pooler"), pooler.getMessage());
      assertThrows(IllegalArgumentException.class, () -> new SequenceClassifier(gpt.body(), LABELS, Pool.CLS, 0, 1));
      assertThrows(IllegalArgumentException.class, () -> new SequenceClassifier(gpt.body(), List.of("one"), Pool.LAST, 0, 1));
      Tensor ids = Tensor.ofInts(new int[] {1, 2, 3, 4}, 2, 2);
      IllegalArgumentException label = assertThrows(IllegalArgumentException.class,
          () -> gpt.loss(ids, null, Tensor.ofInts(new int[] {0, 3}, 2), 2));
      assertTrue(label.getMessage().contains("label 3"), label.getMessage());
      IllegalArgumentException left = assertThrows(IllegalArgumentException.class,
          () -> gpt.logits(ids, Tensor.ofInts(new int[] {0, 1, 1, 1}, 2, 2)));
      assertTrue(left.getMessage().contains("right-padded"), left.getMessage());
      assertThrows(IllegalArgumentException.class, () -> Pool.parse("max"));
    }
  }

  /** A right-padded batch gives each row what the row alone (unpadded) gives, for every head and body. */
  @Test
  void paddingChangesNothing() {
    SplittableRandom r = new SplittableRandom(5);
    int[] lengths = {7, 3, 5};
    int t = 7;
    try (SequenceClassifier mean = new SequenceClassifier(new Bert(BERT, false, 1, CPU), LABELS, Pool.MEAN, 0, 2);
         SequenceClassifier last = new SequenceClassifier(new Gpt(GPT, 1, CPU), LABELS, Pool.LAST, 0, 2);
         TokenClassifier tok = new TokenClassifier(new Bert(BERT, true, 3, CPU), LABELS, 0, 2);
         Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      int[] ids = new int[lengths.length * t], mask = new int[ids.length];
      for (int b = 0; b < lengths.length; b++) {
        for (int i = 0; i < t; i++) {
          boolean real = i < lengths[b];
          ids[b * t + i] = real ? 1 + r.nextInt(49) : r.nextInt(50);   // padding holds junk ids
          mask[b * t + i] = real ? 1 : 0;
        }
      }
      Tensor batchIds = Tensor.ofInts(ids, lengths.length, t), batchMask = Tensor.ofInts(mask, lengths.length, t);
      float[] meanBatch = mean.logits(batchIds, batchMask).toFloatArray();
      float[] lastBatch = last.logits(batchIds, batchMask).toFloatArray();
      float[] tokBatch = tok.logits(batchIds, batchMask).toFloatArray();
      for (int b = 0; b < lengths.length; b++) {
        int n = lengths[b];
        Tensor row = Tensor.ofInts(java.util.Arrays.copyOfRange(ids, b * t, b * t + n), 1, n);
        assertClose(mean.logits(row, null).toFloatArray(), java.util.Arrays.copyOfRange(meanBatch, b * 3, b * 3 + 3), "mean row " + b);
        assertClose(last.logits(row, null).toFloatArray(), java.util.Arrays.copyOfRange(lastBatch, b * 3, b * 3 + 3), "last row " + b);
        assertClose(tok.logits(row, null).toFloatArray(), java.util.Arrays.copyOfRange(tokBatch, b * t * 3, b * t * 3 + n * 3),
            "token row " + b);
      }
    }
  }

  @Test
  void sequenceClassifierRoundTripsInTaskLayout(@TempDir Path dir) throws IOException {
    try (SequenceClassifier head = new SequenceClassifier(new Bert(BERT, true, 1, CPU), LABELS, Pool.MEAN, 0.1, 2);
         Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      head.train(false);
      perturb(head.classifier().bias(), 7);
      Tensor ids = Tensor.ofInts(new int[] {2, 7, 9, 11, 4, 0}, 2, 3);
      Tensor mask = Tensor.ofInts(new int[] {1, 1, 1, 1, 1, 0}, 2, 3);
      float[] expected = head.logits(ids, mask).toFloatArray();
      HeadCheckpoint.save(head, dir);
      Map<String, Object> config = Json.parseObject(Files.readString(dir.resolve("config.json")));
      assertEquals(List.of("BertForSequenceClassification"), config.get("architectures"));
      assertEquals(Map.of("0", "neg", "1", "pos", "2", "mixed"), config.get("id2label"));
      assertEquals("mean", config.get(HeadCheckpoint.POOLING_KEY));
      try (Safetensors.Reader r = Safetensors.Reader.open(dir.resolve("model.safetensors"))) {
        assertEquals(head.namedParameters().keySet(), r.entries().keySet());
      }
      try (SequenceClassifier back = HeadCheckpoint.loadSequenceClassifier(dir, CPU)) {
        back.train(false);
        assertEquals(LABELS, back.labels());
        assertEquals(Pool.MEAN, back.pool());
        assertArrayEquals(expected, back.logits(ids, mask).toFloatArray());
      }
      // The body alone loads from the task file, as BertModel.from_pretrained does.
      try (Bert body = BertCheckpoint.loadModel(dir, CPU)) {
        assertArrayEquals(head.body().encode(ids, mask).toFloatArray(), body.encode(ids, mask).toFloatArray());
      }
      IOException wrong = assertThrows(IOException.class, () -> HeadCheckpoint.loadTokenClassifier(dir, CPU));
      assertTrue(wrong.getMessage().contains("sequence_classification"), wrong.getMessage());
    }
  }

  @Test
  void gptHeadsAndBertLmHeadRoundTrip(@TempDir Path dir) throws IOException {
    try (TokenClassifier tok = new TokenClassifier(new Gpt(GPT, 1, CPU), LABELS, 0, 2);
         SequenceClassifier seq = new SequenceClassifier(new Gpt(GPT, 4, CPU), LABELS, Pool.LAST, 0, 5);
         LmHead lm = LmHead.on(new Bert(BERT, false, 1, CPU), 3);
         Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      perturb(lm.headParameters().get("cls.predictions.bias").value(), 3);
      Tensor ids = Tensor.ofInts(new int[] {2, 7, 9, 11, 4, 3}, 2, 3);
      float[] tokExpected = tok.logits(ids, null).toFloatArray();
      float[] seqExpected = seq.logits(ids, null).toFloatArray();
      float[] lmExpected = lm.logits(ids, null).toFloatArray();
      HeadCheckpoint.save(tok, dir.resolve("tok"));
      HeadCheckpoint.save(seq, dir.resolve("seq"));
      HeadCheckpoint.save(lm, dir.resolve("lm"));
      try (TokenClassifier back = HeadCheckpoint.loadTokenClassifier(dir.resolve("tok"), CPU)) {
        assertArrayEquals(tokExpected, back.logits(ids, null).toFloatArray());
      }
      try (SequenceClassifier back = HeadCheckpoint.loadSequenceClassifier(dir.resolve("seq"), CPU)) {
        assertEquals(Pool.LAST, back.pool());
        assertArrayEquals(seqExpected, back.logits(ids, null).toFloatArray());
      }
      try (LmHead back = HeadCheckpoint.loadLmHead(dir.resolve("lm"), CPU)) {
        assertArrayEquals(lmExpected, back.logits(ids, null).toFloatArray());
      }
      // The LM head on BERT is BertForMaskedLM, file for file.
      try (BertForMaskedLM hf = BertCheckpoint.loadMaskedLM(dir.resolve("lm"), CPU)) {
        hf.train(false);
        assertArrayEquals(lmExpected, hf.logits(ids, null, null).toFloatArray());
      }
    }
  }

  /** A head on the T5 encoder saves with the whole T5 (decoder kept) and loads back through T5's own loader. */
  @Test
  void headOnTheT5EncoderRoundTrips(@TempDir Path dir) throws IOException {
    try (SequenceClassifier head = new SequenceClassifier(new T5(T5Config.of(50, 16, 2, 1, 16, 0, 1), 1, CPU), LABELS,
        Pool.MEAN, 0, 2); Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      assertEquals("T5ForSequenceClassification", head.architecture());
      Tensor ids = Tensor.ofInts(new int[] {2, 7, 9, 11, 4, 0}, 2, 3);
      Tensor mask = Tensor.ofInts(new int[] {1, 1, 1, 1, 1, 0}, 2, 3);
      float[] expected = head.logits(ids, mask).toFloatArray();
      HeadCheckpoint.save(head, dir);
      try (Safetensors.Reader r = Safetensors.Reader.open(dir.resolve("model.safetensors"))) {
        assertTrue(r.entries().keySet().stream().anyMatch(n -> n.startsWith("decoder.")), "the decoder stays in the file");
        assertTrue(r.entries().containsKey("classifier.weight"));
      }
      try (SequenceClassifier back = HeadCheckpoint.loadSequenceClassifier(dir, CPU)) {
        assertArrayEquals(expected, back.logits(ids, mask).toFloatArray());
      }
    }
  }

  /** Backward of head + body (pooling, dropout off, classifier, body) against central differences of the loss. */
  @Test
  void gradientsMatchCentralDifferences() {
    try (SequenceClassifier mean = new SequenceClassifier(new Bert(BERT, false, 1, CPU), LABELS, Pool.MEAN, 0, 2);
         SequenceClassifier last = new SequenceClassifier(new Gpt(GPT, 1, CPU), LABELS, Pool.LAST, 0, 2);
         TokenClassifier tok = new TokenClassifier(new Bert(BERT, true, 2, CPU), LABELS, 0, 3)) {
      int[] ids = {3, 9, 4, 17, 2, 0, 5, 8, 12, 44, 0, 0};
      int[] mask = {1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0};
      checkGradients(mean, p -> ((SequenceClassifier) p).loss(Tensor.ofInts(ids, 2, 6), Tensor.ofInts(mask, 2, 6),
          Tensor.ofInts(new int[] {2, 0}, 2), 2), List.of("classifier.weight", "bert.encoder.layer.1.output.dense.weight",
          "bert.embeddings.word_embeddings.weight"));
      checkGradients(last, p -> ((SequenceClassifier) p).loss(Tensor.ofInts(ids, 2, 6), Tensor.ofInts(mask, 2, 6),
          Tensor.ofInts(new int[] {1, 2}, 2), 2), List.of("score.weight", "transformer.h.1.mlp.c_fc.weight"));
      int[] labels = {0, 1, 2, 1, 0, -100, 2, 2, 1, 0, -100, -100};
      checkGradients(tok, p -> ((TokenClassifier) p).loss(Tensor.ofInts(ids, 2, 6), Tensor.ofInts(mask, 2, 6),
          Tensor.ofInts(labels, 2, 6), 9), List.of("classifier.bias", "bert.encoder.layer.0.attention.self.value.weight"));
    }
  }

  private static void checkGradients(TaskHead head, java.util.function.Function<TaskHead, Tensor> loss, List<String> names) {
    head.zeroGrad();
    try (Scope s = Scope.open(); Tape tape = Tape.record()) {
      tape.backward(loss.apply(head));
    }
    SplittableRandom r = new SplittableRandom(11);
    double h = 3e-3;
    for (String name : names) {
      Parameter p = head.namedParameters().get(name);
      float[] grad = p.grad().toFloatArray();
      float[] value = p.value().toFloatArray();
      double maxGrad = 0;
      for (float g : grad) maxGrad = Math.max(maxGrad, Math.abs(g));
      // Probe the largest entries and a few random ones (embedding rows of unused ids have zero gradient).
      List<Integer> probes = new ArrayList<>();
      for (int i = 0; i < grad.length; i++) if (Math.abs(grad[i]) == maxGrad) probes.add(i);
      for (int k = 0; k < 6; k++) probes.add(r.nextInt(grad.length));
      for (int i : probes) {
        double plus = lossAt(head, loss, p, value, i, value[i] + h);
        double minus = lossAt(head, loss, p, value, i, value[i] - h);
        p.value().copyFrom(value);
        double numeric = (plus - minus) / (2 * h);
        assertEquals(numeric, grad[i], 2e-3 + 2e-2 * Math.abs(numeric), name + "[" + i + "]");
      }
      assertTrue(maxGrad > 1e-4, name + " got no gradient");
    }
  }

  private static double lossAt(TaskHead head, java.util.function.Function<TaskHead, Tensor> loss, Parameter p, float[] value,
                               int i, double v) {
    float[] probe = value.clone();
    probe[i] = (float) v;
    p.value().copyFrom(probe);
    try (Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      return loss.apply(head).item();
    }
  }

  static void perturb(Tensor t, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = t.toFloatArray();
    for (int i = 0; i < v.length; i++) v[i] += (float) (r.nextDouble() - 0.5);
    t.copyFrom(v);
  }

  static void assertClose(float[] expected, float[] actual, String what) {
    assertEquals(expected.length, actual.length, what);
    for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], 2e-5, what + " [" + i + "]");
  }
}
