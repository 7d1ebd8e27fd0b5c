package ai.anvil.models.heads;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.io.Safetensors;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Heads against Hugging Face transformers (golden/heads, made by tools/golden/make_heads_golden.py in
 * float64): a BertForSequenceClassification and a BertForTokenClassification saved by save_pretrained
 * load through HeadCheckpoint (labels from id2label, the pooler as HF pools), give HF's logits and
 * loss on a right-padded batch within 1e-5 of the largest reference value, and save back under exactly
 * HF's tensor names.
 */
class HeadsGoldenTest {
  static final Path DIR = Path.of("src/test/resources/golden/heads");

  @Test
  void sequenceAndTokenClassifiersMatchTransformers(@TempDir Path out) throws IOException {
    try (Safetensors.Reader g = Safetensors.Reader.open(DIR.resolve("golden.safetensors"));
         SequenceClassifier seq = HeadCheckpoint.loadSequenceClassifier(DIR.resolve("seq"), Device.CPU);
         TokenClassifier tok = HeadCheckpoint.loadTokenClassifier(DIR.resolve("tok"), Device.CPU);
         Scope s = Scope.open(); Tape.NoGrad ng = Tape.noGrad()) {
      assertEquals(List.of("neg", "pos", "mixed"), seq.labels());
      assertEquals(Pool.POOLER, seq.pool());
      assertEquals(List.of("O", "B", "I", "X"), tok.labels());
      seq.train(false);
      tok.train(false);
      long[] shape = g.entry("ids").shape();
      Tensor ids = Tensor.ofInts(g.ints("ids"), shape);
      Tensor mask = Tensor.ofInts(g.ints("mask"), shape);
      close("seq.logits", g.floats("seq.logits"), seq.logits(ids, mask).toFloatArray());
      close("seq.loss", g.floats("seq.loss"), seq.loss(ids, mask, Tensor.ofInts(g.ints("seq.labels"), shape[0]), shape[0])
          .toFloatArray());
      float[] tokLogits = tok.logits(ids, mask).toFloatArray();
      float[] expected = g.floats("tok.logits");
      int[] m = g.ints("mask");
      // HF's logits at padding positions are defined but meaningless (and differ): compare real tokens.
      for (int i = 0; i < m.length; i++) {
        if (m[i] == 0) System.arraycopy(expected, i * 4, tokLogits, i * 4, 4);
      }
      close("tok.logits", expected, tokLogits);
      int[] labels = g.ints("tok.labels");
      long scored = java.util.Arrays.stream(labels).filter(y -> y != TaskHead.IGNORE_INDEX).count();
      close("tok.loss", g.floats("tok.loss"), tok.loss(ids, mask, Tensor.ofInts(labels, shape), scored).toFloatArray());

      HeadCheckpoint.save(seq, out.resolve("seq"));
      assertEquals(names(DIR.resolve("seq")), names(out.resolve("seq")), "HF's tensor names, no more, no fewer");
    }
  }

  private static Set<String> names(Path dir) throws IOException {
    try (Safetensors.Reader r = Safetensors.Reader.open(dir.resolve("model.safetensors"))) {
      Set<String> out = new TreeSet<>(r.entries().keySet());
      out.removeIf(n -> n.endsWith("position_ids"));
      return out;
    }
  }

  private static void close(String what, float[] expected, float[] actual) {
    assertEquals(expected.length, actual.length, what);
    double max = 0;
    for (float e : expected) max = Math.max(max, Math.abs(e));
    for (int i = 0; i < expected.length; i++) {
      assertTrue(Math.abs(expected[i] - actual[i]) <= 1e-5 * Math.max(max, 1e-3),
          what + "[" + i + "]: expected " + expected[i] + ", got " + actual[i]);
    }
  }
}
