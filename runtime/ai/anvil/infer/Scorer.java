package ai.anvil.infer;

import ai.anvil.autograd.Tape;
import ai.anvil.backend.Backend;
import ai.anvil.models.CausalLm;
import ai.anvil.tensor.DType;
import ai.anvil.tensor.Scope;
import ai.anvil.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Log-probabilities of given tokens under a model: each token after the first is scored once, given
 * the tokens before it within a window of at most blockSize. Windows advance by the stride: a stride
 * of blockSize (the default) cuts the text into back-to-back windows, the cheapest exact cover (what
 * a training run's val loss measures); a smaller stride gives each token more context at more cost
 * (Hugging Face's sliding-window perplexity).
 *
 * <p>Full windows run several at a time as one batch, and the language-model head runs on a bounded
 * number of rows at a time, so memory stays small even with a 50K vocabulary. Stateless: safe to use
 * from several threads at once.
 */
public final class Scorer {
  /** Logits held at once, in floats (32 MB). */
  private static final long LOGITS_BUDGET = 8L << 20;

  private final CausalLm model;
  private final int stride;
  private final int batchRows;

  /** Back-to-back windows of blockSize, up to 8 at a time. */
  public Scorer(CausalLm model) {
    this(model, model.contextLength(), 8);
  }

  public Scorer(CausalLm model, int stride, int batchRows) {
    int block = model.contextLength();
    if (stride < 1 || stride > block) throw new IllegalArgumentException("stride must be in [1, " + block + "], got " + stride);
    if (batchRows < 1) throw new IllegalArgumentException("batchRows must be >= 1, got " + batchRows);
    this.model = model;
    this.stride = stride;
    this.batchRows = batchRows;
  }

  /** The score of tokens[1..n) (n - 1 tokens; nothing for fewer than two). */
  public Score score(int[] tokens) {
    double sum = 0;
    float[] lp = tokenLogProbs(tokens);
    for (float x : lp) sum += x;
    return new Score(sum, lp.length);
  }

  /** Token-weighted score of several texts. */
  public Score score(List<int[]> texts) {
    Score total = Score.EMPTY;
    for (int[] t : texts) total = total.plus(score(t));
    return total;
  }

  /** log p(tokens[i] | tokens before it) for i = 1..n-1, as an array of n - 1. */
  public float[] tokenLogProbs(int[] tokens) {
    int n = tokens.length;
    float[] out = new float[Math.max(0, n - 1)];
    if (n < 2) return out;
    int block = model.contextLength();
    // Windows: inputs [s, s+len), targets [s+1, s+len], of which those >= first are scored.
    List<int[]> windows = new ArrayList<>();
    int next = 1;
    for (int s = 0; next < n; s += stride) {
      int len = Math.min(block, n - 1 - s);
      windows.add(new int[] {s, len, next});
      next = s + len + 1;
    }
    try (Tape.NoGrad ignored = Tape.noGrad()) {
      for (int i = 0; i < windows.size(); ) {
        int len = windows.get(i)[1];
        int j = i + 1;
        while (j < windows.size() && j - i < batchRows && windows.get(j)[1] == len) j++;
        scoreBatch(tokens, windows.subList(i, j), len, out);
        i = j;
      }
    }
    return out;
  }

  private void scoreBatch(int[] tokens, List<int[]> windows, int len, float[] out) {
    int b = windows.size();
    int[] ids = new int[b * len];
    int[] targets = new int[b * len];
    for (int r = 0; r < b; r++) {
      int s = windows.get(r)[0], first = windows.get(r)[2];
      for (int t = 0; t < len; t++) {
        ids[r * len + t] = tokens[s + t];
        targets[r * len + t] = s + t + 1 >= first ? tokens[s + t + 1] : CausalLm.IGNORE_INDEX;
      }
    }
    int vocab = model.vocabSize();
    long rows = (long) b * len;
    long chunk = Math.max(1, LOGITS_BUDGET / model.paddedVocab());
    float[] losses = new float[(int) rows];
    try (Scope scope = Scope.open()) {
      Tensor hidden = model.hidden(Tensor.ofInts(ids, model.device(), b, len));
      Tensor hiddenRows = hidden.reshape(rows, hidden.dim(2));
      Tensor targetRows = Tensor.ofInts(targets, model.device(), rows);
      Backend backend = Backend.of(model.device());
      Tensor loss = Tensor.empty(DType.F32, model.device(), 1);
      for (long r0 = 0; r0 < rows; r0 += chunk) {
        long r1 = Math.min(rows, r0 + chunk);
        try (Scope part = Scope.open()) {
          Tensor logits = ai.anvil.autograd.Ops.linear(hiddenRows.slice(r0, r1), model.lmHeadWeight(), null);
          Tensor rowLosses = Tensor.empty(DType.F32, model.device(), r1 - r0);
          backend.crossEntropy(logits, targetRows.slice(r0, r1), vocab, CausalLm.IGNORE_INDEX, 1.0, rowLosses, loss);
          System.arraycopy(rowLosses.toFloatArray(), 0, losses, (int) r0, (int) (r1 - r0));
        }
      }
    }
    for (int r = 0; r < b; r++) {
      int s = windows.get(r)[0], first = windows.get(r)[2];
      for (int t = 0; t < len; t++) {
        int pos = s + t + 1;
        if (pos >= first) out[pos - 1] = -losses[r * len + t];
      }
    }
  }

  public CausalLm model() {
    return model;
  }
}
