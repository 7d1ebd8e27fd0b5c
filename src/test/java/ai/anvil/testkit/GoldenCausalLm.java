package ai.anvil.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.anvil.autograd.Tape;
import ai.anvil.io.Json;
import ai.anvil.io.Safetensors;
import ai.anvil.models.CausalLm;
import ai.anvil.models.DecodeCache;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import ai.anvil.train.AdamW;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.opentest4j.AssertionFailedError;

/**
 * The golden checks of a causal LM against transformers (tools/golden/make_gpt2_llama_golden.py, whose
 * docstring describes the files): logits, loss, every parameter's gradient, the losses of 10 AdamW steps
 * and greedy cached decoding, each judged by its normwise relative error max|a - e| / max|e| (elementwise
 * relative error means nothing for the near-zero entries every gradient has). Every measured error is
 * kept in {@link #errors()} so a test can report them.
 *
 * <p>It also writes what Anvil saves (the golden weights as loaded, and the weights after the AdamW steps
 * with the loss Anvil computes for them) to {@code <buildDir>/golden-roundtrip/<model>/{initial,trained}},
 * where the golden script's {@code --check-anvil} mode loads them with transformers.
 */
public final class GoldenCausalLm {
  private final String name;
  private final Path dir;
  private final Map<String, Object> meta;
  private final Safetensors.Reader tensors;
  private final Map<String, Double> errors = new LinkedHashMap<>();

  private GoldenCausalLm(String name, Path dir) throws IOException {
    this.name = name;
    this.dir = dir;
    this.meta = Json.parseObject(Files.readString(dir.resolve("golden.json")));
    this.tensors = Safetensors.Reader.open(dir.resolve("golden.safetensors"));
  }

  /** The golden folder src/test/resources/golden/name. */
  public static GoldenCausalLm open(String name) throws IOException {
    try {
      return new GoldenCausalLm(name, Path.of(GoldenCausalLm.class.getResource("/golden/" + name).toURI()));
    } catch (URISyntaxException e) {
      throw new IOException(e);
    }
  }

  /** The folder holding config.json and model.safetensors (what transformers saved). */
  public Path modelDir() {
    return dir;
  }

  public Map<String, Double> errors() {
    return errors;
  }

  public float[] floats(String tensor) throws IOException {
    return tensors.floats(tensor);
  }

  public long[] shape(String tensor) {
    return tensors.entry(tensor).shape();
  }

  public boolean has(String tensor) {
    return tensors.entries().containsKey(tensor);
  }

  /** The first `columns` columns of each row of a (rows, width) array. */
  public static float[] columns(float[] v, int width, int columns) {
    int rows = v.length / width;
    float[] out = new float[rows * columns];
    for (int r = 0; r < rows; r++) System.arraycopy(v, r * width, out, r * columns, columns);
    return out;
  }

  /** Records max|a - e| / max|e| under what and fails when it exceeds tolerance. */
  public double check(String what, float[] expected, float[] actual, double tolerance) {
    assertEquals(expected.length, actual.length, what + ": length");
    double maxErr = 0, maxRef = 0;
    int worst = 0;
    for (int i = 0; i < expected.length; i++) {
      if (!Float.isFinite(actual[i])) throw new AssertionFailedError(what + ": element " + i + " is " + actual[i]);
      double e = Math.abs((double) actual[i] - expected[i]);
      if (e > maxErr) {
        maxErr = e;
        worst = i;
      }
      maxRef = Math.max(maxRef, Math.abs(expected[i]));
    }
    double rel = maxErr / Math.max(maxRef, 1e-30);
    errors.put(what, rel);
    if (rel > tolerance) {
      throw new AssertionFailedError(String.format("%s: max |error| %.3e at %d (%.9g vs %.9g) is %.3e of max |expected| "
          + "%.3e, over %.1e", what, maxErr, worst, actual[worst], expected[worst], rel, maxRef, tolerance));
    }
    return rel;
  }

  private double check(String what, double expected, double actual, double tolerance) {
    double rel = Math.abs(actual - expected) / Math.abs(expected);
    errors.put(what, rel);
    if (!(rel <= tolerance)) {
      throw new AssertionFailedError(String.format("%s: %.9f, expected %.9f (relative error %.3e over %.1e)", what, actual,
          expected, rel, tolerance));
    }
    return rel;
  }

  /**
   * Logits of the golden batch, loss and every parameter gradient. toHf maps an Anvil parameter (name,
   * gradient values) to the gradient as transformers lays it out (a transposition for GPT-2's Conv1D,
   * the vocabulary rows cut to vocabSize).
   */
  public void checkBatch(CausalLm model, BiFunction<String, Tensor, float[]> toHf, double tolerance) throws IOException {
    int[] ids = tensors.ints("ids"), targets = tensors.ints("targets");
    long[] bt = shape("ids");
    try (Scope s = Scope.open()) {
      Tensor tIds = Tensor.ofInts(ids, bt), tTargets = Tensor.ofInts(targets, bt);
      float[] logits = model.logits(tIds).toFloatArray();
      check("logits", floats("logits"), columns(logits, model.paddedVocab(), model.vocabSize()), tolerance);
      float[] padding = new float[logits.length / model.paddedVocab() * (model.paddedVocab() - model.vocabSize())];
      int k = 0;
      for (int r = 0; r < logits.length / model.paddedVocab(); r++) {
        for (int c = model.vocabSize(); c < model.paddedVocab(); c++) padding[k++] = logits[r * model.paddedVocab() + c];
      }
      assertArrayEquals(new float[padding.length], padding, "padding logits are 0 (zero padding rows)");

      model.train(true);
      try (Tape tape = Tape.record()) {
        Tensor loss = model.loss(tIds, tTargets, count(targets));
        check("loss", Json.getDouble(meta, "loss", Double.NaN), loss.item(), tolerance);
        tape.backward(loss);
      }
    }
    for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
      String golden = "grad." + e.getKey();
      if (!has(golden)) throw new AssertionFailedError(name + ": no golden gradient for " + e.getKey());
      Tensor grad = e.getValue().grad();
      if (grad == null) throw new AssertionFailedError(e.getKey() + " got no gradient");
      check(golden, floats(golden), toHf.apply(e.getKey(), grad), tolerance);
    }
    model.namedParameters().values().forEach(p -> {
      if (p.grad() != null) {
        p.grad().close();
        p.value().setGrad(null);
      }
    });
  }

  /**
   * Ten AdamW steps on the golden batch with the script's hyper-parameters; the 11 losses (before each
   * update and after the last) against transformers'. Returns Anvil's last loss.
   */
  @SuppressWarnings("unchecked")
  public double checkAdamW(CausalLm model, double tolerance) throws IOException {
    Map<String, Object> h = (Map<String, Object>) meta.get("adamw");
    List<Object> betas = (List<Object>) h.get("betas");
    List<Object> expected = (List<Object>) meta.get("losses");
    int[] ids = tensors.ints("ids"), targets = tensors.ints("targets");
    long[] bt = shape("ids");
    double normalizer = count(targets);
    double lr = Json.getDouble(h, "lr", Double.NaN);
    List<Double> losses = new ArrayList<>();
    model.train(true);
    try (AdamW opt = new AdamW(model.namedParameters(), ((Number) betas.get(0)).doubleValue(),
        ((Number) betas.get(1)).doubleValue(), Json.getDouble(h, "eps", Double.NaN),
        Json.getDouble(h, "weight_decay", Double.NaN))) {
      int steps = Json.getInt(h, "steps", 0);
      for (int step = 0; step <= steps; step++) {
        try (Scope s = Scope.open(); Tape tape = Tape.record()) {
          Tensor loss = model.loss(Tensor.ofInts(ids, bt), Tensor.ofInts(targets, bt), normalizer);
          losses.add((double) loss.item());
          if (step == steps) break;
          tape.backward(loss);
        }
        opt.step(lr, 1.0);
        for (Parameter p : model.namedParameters().values()) {
          if (p.grad() != null) ai.anvil.backend.Backend.of(p.grad().device()).fill(p.grad(), 0.0);
        }
      }
    }
    assertEquals(expected.size(), losses.size(), "number of losses");
    for (int i = 0; i < losses.size(); i++) {
      check("adamw loss " + i, ((Number) expected.get(i)).doubleValue(), losses.get(i), tolerance);
    }
    return losses.get(losses.size() - 1);
  }

  /** Greedy decoding with the model's KV cache: the golden tokens, and each step's logits. */
  public void checkGreedy(CausalLm model, double tolerance) throws IOException {
    int[] prompt = tensors.ints("greedy_prompt"), expected = tensors.ints("greedy_tokens");
    float[] expectedLogits = floats("greedy_logits");
    int vocab = model.vocabSize();
    float[] logits = new float[expected.length * vocab];
    int[] tokens = new int[expected.length];
    try (Tape.NoGrad ignored = Tape.noGrad(); DecodeCache cache = model.newCache(1, prompt.length + expected.length)) {
      int[] next = prompt;
      for (int i = 0; i < expected.length; i++) {
        float[] row;
        try (Scope s = Scope.open()) {
          row = model.forwardLast(Tensor.ofInts(next, 1, next.length), cache).toFloatArray();
        }
        System.arraycopy(row, 0, logits, i * vocab, vocab);
        int best = 0;
        for (int j = 1; j < vocab; j++) if (row[j] > row[best]) best = j;
        tokens[i] = best;
        next = new int[] {best};
      }
    }
    assertArrayEquals(expected, tokens, "greedy tokens with the KV cache");
    check("greedy logits (cached decoding)", expectedLogits, logits, tolerance);
  }

  /** Writes model (as CausalLm.save does) to <buildDir>/golden-roundtrip/<name>/<what>, with extra JSON. */
  public Path saveForTransformers(CausalLm model, String what, Map<String, Object> extra) throws IOException {
    Path out = buildDir().resolve("golden-roundtrip").resolve(name).resolve(what);
    model.save(out);
    if (extra != null) Files.writeString(out.resolve("anvil.json"), Json.writePretty(extra));
    return out;
  }

  /** The Maven build folder (target/, or -Danvil.buildDir): the parent of test-classes. */
  public static Path buildDir() {
    try {
      Path classes = Path.of(GoldenCausalLm.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      return classes.getParent();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A one-line summary of the measured errors: the worst of each kind measured. */
  public String summary() {
    Map<String, Double> worst = new LinkedHashMap<>();
    for (Map.Entry<String, Double> e : errors.entrySet()) {
      String k = e.getKey();
      String kind = k.startsWith("grad.") ? "gradients" : k.startsWith("adamw") ? "AdamW losses"
          : k.startsWith("greedy") ? "cached greedy logits" : k;
      worst.merge(kind, e.getValue(), Math::max);
    }
    StringBuilder b = new StringBuilder(name + " vs transformers (fp64 golden), max relative error:");
    worst.forEach((k, v) -> b.append(String.format(" %s %.2e;", k, v)));
    return b.toString();
  }

  public void close() throws IOException {
    tensors.close();
  }

  private static double count(int[] targets) {
    int n = 0;
    for (int t : targets) if (t != CausalLm.IGNORE_INDEX) n++;
    assertTrue(n > 0);
    return n;
  }
}
