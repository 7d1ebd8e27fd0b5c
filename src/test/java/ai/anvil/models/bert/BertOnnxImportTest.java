package ai.anvil.models.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.io.Safetensors;
import ai.anvil.io.onnx.OnnxModel;
import ai.anvil.io.onnx.OnnxNode;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ONNX reader and the BERT importer on a tiny torch.onnx export of golden/bert's encoder
 * (golden/bert-onnx, made by tools/golden/make_bert_onnx_golden.py): the weights come out named and
 * laid out as the HF checkpoint they were exported from, the config is recovered from the graph, and
 * the imported model gives ONNX Runtime's hidden states on a padded two-segment batch.
 */
class BertOnnxImportTest {
  static final Path DIR = Path.of("src/test/resources/golden/bert-onnx");

  @Test
  void readsTheGraph() throws IOException {
    OnnxModel m = OnnxModel.read(DIR.resolve("model.onnx"));
    assertEquals("pytorch", m.producer());
    assertEquals(14, m.opsetVersion());
    assertEquals(List.of("input_ids", "attention_mask", "token_type_ids"), m.inputs());
    assertEquals(List.of("last_hidden_state"), m.outputs());
    long matmulWeights = m.initializers().keySet().stream().filter(n -> n.startsWith("onnx::MatMul_")).count();
    assertEquals(12, matmulWeights, "6 Linear weights per layer, 2 layers");
    OnnxNode q = m.nodes().stream().filter(n -> n.name().equals("/m/encoder/layer.0/attention/self/query/MatMul"))
        .findFirst().orElseThrow();
    assertEquals("MatMul", q.opType());
    assertTrue(q.inputs().get(1).startsWith("onnx::MatMul_"));
    assertArrayEquals(new long[] {32, 32}, m.initializers().get(q.inputs().get(1)).dims());
    assertEquals(q, m.producer(q.outputs().get(0)));
  }

  @Test
  void importsWeightsAndConfigExactly() throws IOException {
    BertOnnxImport.Imported imp = BertOnnxImport.fromOnnx(OnnxModel.read(DIR.resolve("model.onnx")), "tiny");
    BertConfig c = imp.config();
    BertConfig hf = BertCheckpoint.readConfig(BertGoldenTest.DIR);
    assertEquals(List.of(101, 32, 2, 4, 37, 24, 2), List.of(c.vocabSize(), c.hiddenSize(), c.numHiddenLayers(),
        c.numAttentionHeads(), c.intermediateSize(), c.maxPositionEmbeddings(), c.typeVocabSize()));
    assertEquals(hf.layerNormEps(), c.layerNormEps(), 1e-20);
    assertEquals("gelu", c.hiddenAct());
    try (Safetensors.Reader r = Safetensors.Reader.open(BertGoldenTest.DIR.resolve("model.safetensors"))) {
      int expected = 0;
      for (String name : r.entries().keySet()) {
        if (!name.startsWith("bert.")) continue;
        expected++;
        String bare = name.substring("bert.".length());
        assertArrayEquals(r.entry(name).shape(), imp.shapes().get(bare), bare);
        assertArrayEquals(r.floats(name), imp.weights().get(bare), bare);
      }
      assertEquals(expected, imp.weights().size());
    }
  }

  @Test
  void importedModelGivesOnnxRuntimesHiddenStates(@TempDir Path dir) throws IOException {
    BertOnnxImport.writeCheckpoint(BertOnnxImport.fromOnnx(OnnxModel.read(DIR.resolve("model.onnx")), "tiny"), dir);
    try (Safetensors.Reader g = Safetensors.Reader.open(DIR.resolve("outputs.safetensors"));
         Bert model = BertCheckpoint.loadModel(dir, Device.CPU);
         Tape.NoGrad ng = Tape.noGrad(); Scope s = Scope.open()) {
      long[] shape = g.entry("input_ids").shape();
      Tensor hidden = model.forward(Tensor.ofInts(g.ints("input_ids"), shape), Tensor.ofInts(g.ints("token_type_ids"), shape),
          Tensor.ofInts(g.ints("attention_mask"), shape));
      float[] got = hidden.toFloatArray();
      double vsOrt = BertGoldenTest.check("vs ONNX Runtime", g.floats("ort.last_hidden_state"), got, 1e-5);
      double vsHf = BertGoldenTest.check("vs transformers fp64", g.floats("hf64.last_hidden_state"), got, 1e-5);
      System.out.printf("BertOnnxImportTest: max error / max |ref|: %.2e vs ONNX Runtime, %.2e vs transformers fp64%n", vsOrt, vsHf);
    }
  }

  @Test
  void damagedFilesAreIoErrorsSayingWhere(@TempDir Path dir) throws IOException {
    byte[] bytes = Files.readAllBytes(DIR.resolve("model.onnx"));
    Path cut = dir.resolve("cut.onnx");
    Files.write(cut, Arrays.copyOf(bytes, bytes.length / 2));
    IOException e = assertThrows(IOException.class, () -> OnnxModel.read(cut));
    assertTrue(e.getMessage().startsWith(cut.toString()) && e.getMessage().contains("protobuf"), e.getMessage());
    byte[] junk = new byte[64];
    Arrays.fill(junk, (byte) 0xff);
    e = assertThrows(IOException.class, () -> OnnxModel.read(ByteBuffer.wrap(junk), "junk"));
    assertTrue(e.getMessage().startsWith("junk: "), e.getMessage());
    e = assertThrows(IOException.class, () -> BertOnnxImport.fromOnnx(OnnxModel.read(ByteBuffer.wrap(new byte[] {8, 7, 0x3a, 0}), "empty"), "empty"));
    assertTrue(e.getMessage().contains("word_embeddings"), e.getMessage());
    Map<String, ?> none = OnnxModel.read(ByteBuffer.wrap(new byte[] {8, 7, 0x3a, 0}), "empty").initializers();
    assertTrue(none.isEmpty());
  }
}
