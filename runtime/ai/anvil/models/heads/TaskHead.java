package ai.anvil.models.heads;

import ai.anvil.autograd.Dropout;
import ai.anvil.autograd.Tape;
import ai.anvil.models.SequenceEncoder;
import ai.anvil.nn.Module;
import ai.anvil.nn.Parameter;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What every task head shares: the body's modules registered as children under HF's task-model names
 * ({@code bert.}, {@code transformer.}), so this module's parameters (body + head) carry the names of
 * BertForSequenceClassification and its kin; seeded dropout before the head's layer; the labels'
 * ignore index.
 *
 * <p>The head does not own the body's lifetime alone: closing it closes the body's modules too (a body
 * is closed once however many times close is called). Close either the head or the body, not reuse the
 * body after closing the head.
 */
public abstract class TaskHead extends Module {
  /** Labels with this value are not scored (HF's -100). */
  public static final int IGNORE_INDEX = -100;

  private final SequenceEncoder body;
  private final double dropout;
  private volatile long dropoutSeed;
  private final AtomicLong dropoutDraws = new AtomicLong();

  protected TaskHead(SequenceEncoder body, double dropout, long dropoutSeed) {
    if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("head dropout must be in [0, 1), got " + dropout);
    this.body = body;
    this.dropout = dropout;
    this.dropoutSeed = dropoutSeed;
    for (Map.Entry<String, Module> e : body.taskModules().entrySet()) child(e.getKey(), e.getValue());
  }

  public SequenceEncoder body() {
    return body;
  }

  /** The head's kind as saved in config.json: sequence_classification, token_classification, lm. */
  public abstract String kind();

  /** HF's architecture name for this head on this body (BertForSequenceClassification, ...). */
  public abstract String architecture();

  /** The head's own parameters (not the body's), by their full dotted names. */
  public final Map<String, Parameter> headParameters() {
    Map<String, Parameter> out = new LinkedHashMap<>();
    for (Map.Entry<String, Parameter> e : namedParameters().entrySet()) {
      if (!inBody(e.getKey())) out.put(e.getKey(), e.getValue());
    }
    return out;
  }

  /** Whether a full parameter name belongs to the body. */
  public final boolean inBody(String name) {
    for (String prefix : body.taskModules().keySet()) if (name.startsWith(prefix + ".")) return true;
    return false;
  }

  public double dropout() {
    return dropout;
  }

  /** Dropout before the head's layer: only while training and while a tape records. */
  protected final Tensor dropout(Tensor x) {
    if (dropout == 0 || !isTraining() || Tape.active() == null) return x;
    return Dropout.apply(x, dropout, mix(dropoutSeed, dropoutDraws.getAndIncrement()));
  }

  /** The head's dropout random state {seed, masks drawn}; the body keeps its own. */
  public long[] randomState() {
    return new long[] {dropoutSeed, dropoutDraws.get()};
  }

  public void restoreRandomState(long[] state) {
    if (state.length != 2) throw new IllegalArgumentException("head random state has 2 words, got " + state.length);
    dropoutSeed = state[0];
    dropoutDraws.set(state[1]);
  }

  /** ids I32 (B, T) checked against the body's vocabulary and length; keyMask null or I32 like ids. */
  protected final void checkInputs(String op, Tensor ids, Tensor keyMask) {
    if (ids.rank() != 2 || ids.dtype() != DType.I32) {
      throw new IllegalArgumentException(op + ": ids must be I32 (B, T), got " + ids.shape() + " " + ids.dtype());
    }
    if (ids.dim(1) > body.maxLength()) {
      throw new IllegalArgumentException(op + ": " + ids.dim(1) + " tokens exceed the body's " + body.maxLength());
    }
    if (keyMask != null && (keyMask.dtype() != DType.I32 || !keyMask.shape().equals(ids.shape()))) {
      throw new IllegalArgumentException(op + ": keyMask must be I32 " + ids.shape() + ", got " + keyMask.shape() + " "
          + keyMask.dtype());
    }
  }

  /** Every label is a class id in [0, classes) or IGNORE_INDEX. */
  protected static void checkLabels(String op, Tensor labels, int classes) {
    for (int y : labels.toIntArray()) {
      if (y != IGNORE_INDEX && (y < 0 || y >= classes)) {
        throw new IllegalArgumentException(op + ": label " + y + " outside [0, " + classes + ")");
      }
    }
  }

  /** The index of the largest of each run of n logits: (rows * n) -> rows class ids. */
  protected static int[] argmax(float[] logits, int n) {
    int[] out = new int[logits.length / n];
    for (int r = 0; r < out.length; r++) {
      int best = 0;
      for (int c = 1; c < n; c++) if (logits[r * n + c] > logits[r * n + best]) best = c;
      out[r] = best;
    }
    return out;
  }

  private static long mix(long seed, long n) {
    long z = seed + (n + 1) * 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
