package ai.anvil.models.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.io.Json;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Device;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged checkpoints through BertCheckpoint: each gives an IOException that names the file and the
 * tensor, and a model being loaded into is left exactly as it was.
 */
class BertBadFilesTest {
  static final Device CPU = Device.CPU;
  static final BertConfig SMALL = BertTest.SMALL;
  @TempDir Path dir;
  Path good;

  @BeforeEach
  void writeGoodCheckpoint() throws IOException {
    good = dir.resolve("good");
    try (BertForMaskedLM m = new BertForMaskedLM(SMALL, 21, CPU)) {
      BertCheckpoint.save(m, good);
    }
  }

  /** A copy of the good folder whose safetensors header is edited (the data area is kept as it is). */
  Path withHeader(String name, Consumer<Map<String, Object>> edit) throws IOException {
    Path out = dir.resolve(name);
    Files.createDirectories(out);
    Files.copy(good.resolve("config.json"), out.resolve("config.json"));
    byte[] bytes = Files.readAllBytes(good.resolve("model.safetensors"));
    long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    Map<String, Object> header = Json.parseObject(new String(bytes, 8, (int) n, StandardCharsets.UTF_8));
    edit.accept(header);
    byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + json.length + bytes.length - 8 - (int) n).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(json.length).put(json).put(bytes, 8 + (int) n, bytes.length - 8 - (int) n);
    Files.write(out.resolve("model.safetensors"), b.array());
    return out;
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> entry(Map<String, Object> header, String name) {
    return (Map<String, Object>) header.get(name);
  }

  /** Loading dir must fail naming its weights file and every one of mentions; an existing model must stay untouched. */
  void fails(Path folder, String... mentions) throws IOException {
    IOException e = assertThrows(IOException.class, () -> BertCheckpoint.loadMaskedLM(folder, CPU));
    String file = folder.resolve("model.safetensors").toString();
    assertTrue(e.getMessage().contains(file), e.getMessage());
    for (String m : mentions) assertTrue(e.getMessage().contains(m), "'" + m + "' not in: " + e.getMessage());
    try (BertForMaskedLM model = new BertForMaskedLM(SMALL, 99, CPU)) {
      List<float[]> before = new ArrayList<>();
      for (Parameter p : model.parameters()) before.add(p.value().toFloatArray());
      assertThrows(IOException.class, () -> BertCheckpoint.readWeights(model, folder.resolve("model.safetensors")));
      List<Parameter> after = model.parameters();
      for (int i = 0; i < after.size(); i++) {
        assertArrayEquals(before.get(i), after.get(i).value().toFloatArray(), "half-loaded " + after.get(i).name());
      }
    }
  }

  @Test
  void truncatedFile() throws IOException {
    Path cut = dir.resolve("cut");
    Files.createDirectories(cut);
    Files.copy(good.resolve("config.json"), cut.resolve("config.json"));
    byte[] bytes = Files.readAllBytes(good.resolve("model.safetensors"));
    Files.write(cut.resolve("model.safetensors"), Arrays.copyOf(bytes, bytes.length - 100));
    // The last tensors in the file (by offset) are the transform's LayerNorm, written last.
    fails(cut, "cls.predictions.transform.LayerNorm.", "do not fit");
    Files.write(cut.resolve("model.safetensors"), Arrays.copyOf(bytes, 20));
    fails(cut, "not a safetensors file");
  }

  @Test
  @SuppressWarnings("unchecked")
  void headerLiesAboutOffsets() throws IOException {
    String name = "bert.encoder.layer.1.intermediate.dense.weight";
    fails(withHeader("shifted", h -> {
      List<Object> o = (List<Object>) entry(h, name).get("data_offsets");
      long begin = ((Number) o.get(0)).longValue(), end = ((Number) o.get(1)).longValue();
      entry(h, name).put("data_offsets", List.of(begin - 8, end - 8));
    }), name, "overlap");
    fails(withHeader("beyond", h -> {
      List<Object> o = (List<Object>) entry(h, name).get("data_offsets");
      long begin = ((Number) o.get(0)).longValue(), end = ((Number) o.get(1)).longValue();
      entry(h, name).put("data_offsets", List.of(begin + (1L << 20), end + (1L << 20)));
    }), name, "do not fit");
    fails(withHeader("negative", h -> entry(h, name).put("data_offsets", List.of(-4, 12))), name, "data_offsets");
  }

  @Test
  void headerLiesAboutSizes() throws IOException {
    String name = "bert.embeddings.position_embeddings.weight";
    fails(withHeader("resized", h -> entry(h, name).put("shape", List.of(17, 16))), name, "[17, 16]");
    fails(withHeader("halfdtype", h -> entry(h, name).put("dtype", "F16")), name, "F16");
    fails(withHeader("badshape", h -> entry(h, name).put("shape", List.of("sixteen", 16))), name, "shape");
  }

  @Test
  void unknownOrWrongDtype() throws IOException {
    String name = "cls.predictions.transform.dense.weight";
    fails(withHeader("f99", h -> entry(h, name).put("dtype", "F99")), name, "unknown dtype F99");
    fails(withHeader("ints", h -> entry(h, name).put("dtype", "I32")), name, "has dtype I32");
  }

  @Test
  void missingAndUnexpectedTensors() throws IOException {
    String name = "bert.encoder.layer.1.output.LayerNorm.bias";
    fails(withHeader("missing", h -> h.remove(name)), "missing tensor " + name);
    // A config that says fewer layers than the file holds: the extra layer is unexpected.
    Path fewer = withHeader("fewer", h -> { });
    Files.writeString(fewer.resolve("config.json"), Files.readString(fewer.resolve("config.json"))
        .replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1"));
    IOException e = assertThrows(IOException.class, () -> BertCheckpoint.loadMaskedLM(fewer, CPU));
    assertTrue(e.getMessage().contains(fewer.resolve("model.safetensors") + ": unexpected tensor bert.encoder.layer.1."),
        e.getMessage());
  }

  @Test
  void shapesThatDisagreeWithTheConfig() throws IOException {
    Path wider = withHeader("wider", h -> { });
    Files.writeString(wider.resolve("config.json"), Files.readString(wider.resolve("config.json"))
        .replace("\"intermediate_size\": 24", "\"intermediate_size\": 32"));
    IOException e = assertThrows(IOException.class, () -> BertCheckpoint.loadMaskedLM(wider, CPU));
    assertTrue(e.getMessage().contains("bert.encoder.layer.0.intermediate.dense.weight has shape [24, 16], expected [32, 16]"),
        e.getMessage());
    Path vocab = withHeader("vocab", h -> { });
    Files.writeString(vocab.resolve("config.json"), Files.readString(vocab.resolve("config.json"))
        .replace("\"vocab_size\": 50", "\"vocab_size\": 60"));
    e = assertThrows(IOException.class, () -> BertCheckpoint.loadMaskedLM(vocab, CPU));
    assertTrue(e.getMessage().contains("bert.embeddings.word_embeddings.weight has shape [50, 16], expected [60, 16]"),
        e.getMessage());
    Files.writeString(vocab.resolve("config.json"), "{\"model_type\": \"bert\", \"hidden_size\": \"wide\"}");
    e = assertThrows(IOException.class, () -> BertCheckpoint.loadMaskedLM(vocab, CPU));
    assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("hidden_size"), e.getMessage());
  }
}
