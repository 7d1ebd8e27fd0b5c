package ai.anvil.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.infer.SentenceEmbedder;
import ai.anvil.io.Json;
import ai.anvil.tensor.Device;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * import-minilm and embed on the tiny ONNX export of golden/bert-onnx (vocabulary 101) with a matching
 * 101-token WordPiece tokenizer made here; the real all-MiniLM-L6-v2 runs in MiniLmOnnxRuntimeTest (slow).
 */
class ImportAndEmbedCommandTest {
  @TempDir Path dir;

  /** Runs one command object in-process; returns {exit code, stdout, stderr}. */
  static Object[] run(Object command, String... args) {
    PrintStream out = System.out, err = System.err;
    ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
      CommandLine cli = new CommandLine(command);
      cli.setExecutionExceptionHandler((ex, cmd, parsed) -> {
        cmd.getErr().println(ex.getMessage());
        return 1;
      });
      int code = cli.execute(args);
      return new Object[] {code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8)};
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
  }

  /** A WordPiece tokenizer.json of exactly 101 tokens: specials, letters, continuations, digits, punctuation. */
  static String tinyTokenizer() {
    List<String> vocab = new ArrayList<>(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"));
    for (char c = 'a'; c <= 'z'; c++) vocab.add(String.valueOf(c));
    for (char c = 'a'; c <= 'z'; c++) vocab.add("##" + c);
    for (char c = '0'; c <= '9'; c++) vocab.add(String.valueOf(c));
    for (String s : new String[] {".", ",", "!", "?", "the", "and", "of", "to", "in", "is", "it", "that", "was", "he",
        "for", "on", "are", "as", "with", "his", "they", "at", "be", "this", "from", "##er", "##ed", "##ing", "whale",
        "sea", "ship", "cat", "dog", "##ly"}) {
      vocab.add(s);
    }
    Map<String, Object> v = new LinkedHashMap<>();
    for (int i = 0; i < vocab.size(); i++) v.put(vocab.get(i), i);
    assertEquals(101, v.size());
    List<Object> added = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      added.add(Map.of("id", i, "content", vocab.get(i), "single_word", false, "lstrip", false, "rstrip", false,
          "normalized", false, "special", true));
    }
    Map<String, Object> root = new LinkedHashMap<>();
    root.put("version", "1.0");
    root.put("added_tokens", added);
    root.put("normalizer", Map.of("type", "BertNormalizer", "clean_text", true, "handle_chinese_chars", true,
        "lowercase", true));
    root.put("pre_tokenizer", Map.of("type", "BertPreTokenizer"));
    root.put("post_processor", Map.of("type", "BertProcessing", "sep", List.of("[SEP]", 3), "cls", List.of("[CLS]", 2)));
    root.put("decoder", Map.of("type", "WordPiece", "prefix", "##", "cleanup", true));
    root.put("model", Map.of("type", "WordPiece", "unk_token", "[UNK]", "continuing_subword_prefix", "##",
        "max_input_chars_per_word", 100, "vocab", v));
    return Json.writePretty(root);
  }

  @Test
  @SuppressWarnings("unchecked")
  void importsAnOnnxExportThenEmbeds() throws IOException {
    Path tok = dir.resolve("tok.json");
    Files.writeString(tok, tinyTokenizer());
    Path model = dir.resolve("model");
    Object[] r = run(new ImportMiniLmCommand(), "--onnx", "src/test/resources/golden/bert-onnx/model.onnx", "--tokenizer",
        tok.toString(), "--out", model.toString());
    assertEquals(0, r[0], (String) r[2]);
    assertTrue(((String) r[1]).contains("2 layers, hidden 32, 4 heads, vocabulary 101"), (String) r[1]);
    for (String f : new String[] {"config.json", "model.safetensors", "tokenizer.json", "modules.json",
        "sentence_bert_config.json", "1_Pooling/config.json"}) {
      assertTrue(Files.isRegularFile(model.resolve(f)), f);
    }

    List<String> texts = List.of("The whale and the sea.", "A cat, a dog!", "it was the ship that sailed on the sea");
    Path file = dir.resolve("texts.txt");
    Files.writeString(file, texts.get(0) + "\n\n" + texts.get(1) + "\n" + texts.get(2) + "\n");
    Object[] e = run(new EmbedCommand(), "--model", model.toString(), "--file", file.toString(), "--batch", "2",
        "--device", "cpu");
    assertEquals(0, e[0], (String) e[2]);
    Map<String, Object> out = Json.parseObject(((String) e[1]).strip());
    assertEquals("mean", out.get("pooling"));
    assertEquals(true, out.get("normalized"));
    assertEquals(32L, ((Number) out.get("dimension")).longValue());
    List<List<Number>> rows = (List<List<Number>>) out.get("embeddings");
    assertEquals(3, rows.size());
    try (SentenceEmbedder embedder = SentenceEmbedder.load(model, Device.CPU)) {
      assertEquals(24, embedder.maxLength());
      float[][] direct = embedder.embed(texts, 1);
      for (int i = 0; i < 3; i++) {
        double norm = 0;
        for (int j = 0; j < 32; j++) {
          double x = rows.get(i).get(j).doubleValue();
          norm += x * x;
          assertEquals(direct[i][j], x, 2e-6, "text " + i + " value " + j + ": batched (padded) vs alone");
        }
        assertEquals(1.0, norm, 1e-5);
      }
    }
    Object[] bad = run(new EmbedCommand(), "--model", dir.resolve("nowhere").toString(), "--text", "x");
    assertEquals(1, bad[0]);
  }
}
